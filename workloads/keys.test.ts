import assert from 'node:assert/strict'
import { test } from 'node:test'
import { keyChooser, sharedKeyName } from './keys.ts'
import { seededRandom } from './random.ts'

const options = { sharedKeys: 1, privateKeysPerClient: 4 }

test('conflict 0: no key is ever shared between clients, and private keys carry the client id', () => {
  const seen = new Map<string, string>()
  for (const client of ['r0-c0', 'r0-c1', 'r1-c0', 'r10-c0', 'r1-c00']) {
    const next = keyChooser(client, { ...options, conflict: 0 }, seededRandom(7, client))
    for (let i = 0; i < 2000; i++) {
      const key = next()
      assert.ok(key.startsWith(`${client}-`), key)
      const owner = seen.get(key)
      assert.ok(owner === undefined || owner === client, `${key} used by ${owner} and ${client}`)
      seen.set(key, client)
    }
  }
})

test('conflict c: the shared pool is chosen with probability c', () => {
  for (const conflict of [0.02, 0.25, 1]) {
    const next = keyChooser('r0-c0', { ...options, conflict }, seededRandom(3))
    const n = 20_000
    let shared = 0
    for (let i = 0; i < n; i++) if (next() === sharedKeyName(0)) shared++
    const sd = Math.sqrt((n * conflict * (1 - conflict)) / 1) / n
    assert.ok(Math.abs(shared / n - conflict) <= 4 * sd + 1e-9, `c=${conflict}: got ${shared / n}`)
  }
})

test('seeded streams repeat for the same seed and client, and differ across clients', () => {
  const a = seededRandom(5, 'r0-c0')
  const b = seededRandom(5, 'r0-c0')
  const c = seededRandom(5, 'r0-c1')
  const xs = Array.from({ length: 10 }, () => a())
  assert.deepEqual(
    xs,
    Array.from({ length: 10 }, () => b()),
  )
  assert.notDeepEqual(
    xs,
    Array.from({ length: 10 }, () => c()),
  )
  for (const x of xs) assert.ok(x >= 0 && x < 1)
})
