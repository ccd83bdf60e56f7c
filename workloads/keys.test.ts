import assert from 'node:assert/strict'
import { test } from 'node:test'
import { type KeyDistribution, keyChooser, sharedKeyName, spaceKeyName, zipfProbability } from './keys.ts'
import { opGenerator, putValue } from './ops.ts'
import { seededRandom } from './random.ts'

const conflict = (c: number, sharedKeys = 1): KeyDistribution => ({
  kind: 'conflict',
  conflict: c,
  sharedKeys,
  privateKeysPerClient: 4,
})

/** |observed - p| within 5 standard deviations of a binomial proportion over n draws */
function assertProportion(observed: number, p: number, n: number, what: string): void {
  const sd = Math.sqrt((p * (1 - p)) / n)
  assert.ok(Math.abs(observed - p) <= 5 * sd + 1e-9, `${what}: expected ${p}, got ${observed}`)
}

function counts(next: () => string, n: number): Map<string, number> {
  const out = new Map<string, number>()
  for (let i = 0; i < n; i++) {
    const k = next()
    out.set(k, (out.get(k) ?? 0) + 1)
  }
  return out
}

test('conflict 0: no key is ever shared between clients, and private keys carry the client id', () => {
  const seen = new Map<string, string>()
  // names chosen so that a naive "client + index" scheme would collide (r1-c0 + 0 vs r1-c00)
  for (const client of ['r0-c0', 'r0-c1', 'r1-c0', 'r10-c0', 'r1-c00', 'r0-d1o3']) {
    const next = keyChooser(client, conflict(0, 4), seededRandom(7, client))
    for (let i = 0; i < 2000; i++) {
      const key = next()
      assert.ok(key.startsWith(`${client}-`), key)
      const owner = seen.get(key)
      assert.ok(owner === undefined || owner === client, `${key} used by ${owner} and ${client}`)
      seen.set(key, client)
    }
  }
})

test('conflict c: the shared pool is chosen with probability c, uniformly over its keys', () => {
  const n = 20_000
  for (const c of [0.02, 0.25, 1]) {
    const seen = counts(keyChooser('r0-c0', conflict(c, 3), seededRandom(3)), n)
    const shared = [0, 1, 2].map((i) => seen.get(sharedKeyName(i)) ?? 0)
    const total = shared.reduce((a, b) => a + b, 0)
    assertProportion(total / n, c, n, `c=${c}`)
    for (const s of shared) assertProportion(s / n, c / 3, n, `c=${c} one shared key`)
  }
})

test('uniform: every key about equally often', () => {
  const n = 50_000
  const seen = counts(keyChooser('x', { kind: 'uniform', keys: 10 }, seededRandom(4)), n)
  assert.equal(seen.size, 10)
  for (let i = 0; i < 10; i++) assertProportion((seen.get(spaceKeyName(i)) ?? 0) / n, 0.1, n, `key ${i}`)
})

test('zipf: rank frequencies follow 1/(i+1)^theta', () => {
  const n = 100_000
  for (const theta of [0.5, 0.99, 1.5]) {
    const d: KeyDistribution = { kind: 'zipf', keys: 1000, theta }
    const seen = counts(keyChooser('x', d, seededRandom(5)), n)
    for (const rank of [0, 1, 2, 10, 100]) {
      const p = zipfProbability(1000, theta, rank)
      assertProportion((seen.get(spaceKeyName(rank)) ?? 0) / n, p, n, `theta ${theta} rank ${rank}`)
    }
    // the head is hotter than the tail, and more so as theta grows
    assert.ok((seen.get(spaceKeyName(0)) ?? 0) > (seen.get(spaceKeyName(999)) ?? 0))
  }
  assert.ok(zipfProbability(1000, 1.5, 0) > zipfProbability(1000, 0.99, 0))
  assert.ok(Math.abs(zipfProbability(1000, 0, 0) - 0.001) < 1e-12, 'theta 0 is uniform')
})

test('hotspot: the hot fraction of the keys gets the hot fraction of the commands', () => {
  const n = 50_000
  const d: KeyDistribution = { kind: 'hotspot', keys: 100, hotKeyFraction: 0.2, hotOpFraction: 0.8 }
  const seen = counts(keyChooser('x', d, seededRandom(6)), n)
  let hot = 0
  for (let i = 0; i < 20; i++) hot += seen.get(spaceKeyName(i)) ?? 0
  assertProportion(hot / n, 0.8, n, 'hot share')
  assertProportion((seen.get(spaceKeyName(5)) ?? 0) / n, 0.8 / 20, n, 'one hot key')
  assertProportion((seen.get(spaceKeyName(50)) ?? 0) / n, 0.2 / 80, n, 'one cold key')
})

test('every distribution repeats exactly for the same seed and client', () => {
  const ds: KeyDistribution[] = [
    conflict(0.3),
    { kind: 'uniform', keys: 50 },
    { kind: 'zipf', keys: 50, theta: 0.99 },
    { kind: 'hotspot', keys: 50, hotKeyFraction: 0.1, hotOpFraction: 0.9 },
  ]
  for (const d of ds) {
    const a = keyChooser('r0-c0', d, seededRandom(9, 'r0-c0'))
    const b = keyChooser('r0-c0', d, seededRandom(9, 'r0-c0'))
    const c = keyChooser('r0-c0', d, seededRandom(10, 'r0-c0'))
    const xs = Array.from({ length: 200 }, () => a())
    assert.deepEqual(
      xs,
      Array.from({ length: 200 }, () => b()),
      d.kind,
    )
    assert.notDeepEqual(
      xs,
      Array.from({ length: 200 }, () => c()),
      d.kind,
    )
  }
})

test('invalid parameters are rejected, naming the field', () => {
  assert.throws(() => keyChooser('x', conflict(1.5), seededRandom(1)), /conflict must be in \[0, 1\]/)
  assert.throws(() => keyChooser('x', { kind: 'zipf', keys: 10, theta: -1 }, seededRandom(1)), /theta/)
  assert.throws(
    () =>
      keyChooser('x', { kind: 'hotspot', keys: 10, hotKeyFraction: 0, hotOpFraction: 0.5 }, seededRandom(1)),
    /hotKeyFraction/,
  )
  assert.throws(() => keyChooser('x', { kind: 'uniform', keys: 0 }, seededRandom(1)), /keys must be/)
})

test('read ratio is independent of the conflict rate; put values are unique and sized', () => {
  const n = 20_000
  for (const c of [0, 1]) {
    const next = opGenerator(
      'r0-c0',
      { keys: conflict(c), readRatio: 0.3, valueSizeBytes: 64 },
      seededRandom(2),
    )
    let gets = 0
    const values = new Set<string>()
    for (let seq = 1; seq <= n; seq++) {
      const r = next(seq)
      if (r.op === 'get') gets++
      else {
        assert.equal(r.value?.length, 64)
        assert.ok(r.value?.startsWith(`r0-c0:${seq}`))
        values.add(r.value!)
      }
    }
    assertProportion(gets / n, 0.3, n, `read ratio at c=${c}`)
    assert.equal(values.size, n - gets, 'every put value is unique')
  }
  assert.equal(putValue('a', 12, 0), 'a:12')
  assert.equal(putValue('a', 12, 2), 'a:12', 'never shorter than the unique tag')
  assert.equal(putValue('a', 1, 6), 'a:1...')
})
