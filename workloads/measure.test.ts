import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { HistoryOp } from '../harness/check/history.ts'
import { arrivalTimes } from './arrivals.ts'
import type { DriverOp } from './driver-spec.ts'
import { achievedConflict, throughputTimeline } from './measure.ts'
import { seededRandom } from './random.ts'

/** The definition, pair by pair. */
function naiveConflict(history: readonly HistoryOp[]): number {
  const live = history.filter((o) => o.outcome !== 'fail')
  const end = (o: HistoryOp) => o.completeUs ?? Number.POSITIVE_INFINITY
  let hit = 0
  for (const a of live) {
    if (
      live.some(
        (b) =>
          b !== a &&
          b.key === a.key &&
          (a.op === 'put' || b.op === 'put') &&
          a.invokeUs < end(b) &&
          b.invokeUs < end(a),
      )
    )
      hit++
  }
  return live.length === 0 ? 0 : hit / live.length
}

function randomHistory(seed: number, n: number, keys: number): HistoryOp[] {
  const r = seededRandom(seed)
  return Array.from({ length: n }, (_, i) => {
    const invokeUs = Math.floor(r() * 1000)
    const outcome = r() < 0.8 ? 'ok' : r() < 0.5 ? 'unknown' : 'fail'
    return {
      client: `c${i}`,
      seq: 1,
      key: `k${Math.floor(r() * keys)}`,
      op: r() < 0.5 ? 'get' : 'put',
      value: null,
      invokeUs,
      completeUs: outcome === 'unknown' ? null : invokeUs + 1 + Math.floor(r() * 60),
      outcome,
    } as HistoryOp
  })
}

test('achieved conflict matches the pairwise definition on random histories', () => {
  for (let seed = 1; seed <= 200; seed++) {
    const h = randomHistory(seed, 1 + (seed % 40), 1 + (seed % 5))
    assert.equal(achievedConflict(h), naiveConflict(h), `seed ${seed}`)
  }
})

test('achieved conflict: gets never conflict with gets, touching intervals do not overlap', () => {
  const op = (key: string, kind: 'get' | 'put', inv: number, comp: number): HistoryOp => ({
    client: `${key}${inv}`,
    seq: 1,
    key,
    op: kind,
    value: null,
    invokeUs: inv,
    completeUs: comp,
    outcome: 'ok',
  })
  assert.equal(achievedConflict([op('a', 'get', 0, 10), op('a', 'get', 5, 15)]), 0)
  assert.equal(achievedConflict([op('a', 'put', 0, 10), op('a', 'get', 10, 15)]), 0)
  assert.equal(achievedConflict([op('a', 'put', 0, 10), op('b', 'put', 5, 15)]), 0)
  assert.equal(achievedConflict([op('a', 'put', 0, 10), op('a', 'get', 9, 15), op('b', 'get', 0, 1)]), 2 / 3)
  // the counted subset: only the first op is in the denominator
  assert.equal(
    achievedConflict([op('a', 'put', 0, 10), op('a', 'get', 20, 30)], (o) => o.invokeUs === 0),
    0,
  )
})

test('timeline: one row per second, counted by intended, sent and completion times', () => {
  const rec = (
    intendedUs: number,
    invokeUs: number,
    completeUs: number | null,
    outcome: HistoryOp['outcome'],
  ) =>
    ({
      client: 'c',
      seq: 1,
      key: 'k',
      op: 'get',
      value: null,
      invokeUs,
      completeUs,
      outcome,
      site: 's',
      intendedUs,
    }) as DriverOp
  const rows = throughputTimeline(
    [
      rec(100, 200, 1_500_000, 'ok'),
      rec(900_000, 1_100_000, null, 'unknown'),
      rec(2_000_000, 2_000_001, 2_000_002, 'fail'),
    ],
    0,
    3_000_000,
  )
  assert.deepEqual(rows, [
    { second: 0, intended: 2, sent: 1, completed: 0, failed: 0, unknown: 0 },
    { second: 1, intended: 0, sent: 1, completed: 1, failed: 0, unknown: 1 },
    { second: 2, intended: 1, sent: 1, completed: 0, failed: 1, unknown: 0 },
  ])
})

test('arrivals: constant streams interleave evenly at the total rate; poisson has the right mean gap', () => {
  const streams = [0, 1, 2, 3].map((j) => arrivalTimes('constant', 1000, j, 4, seededRandom(1)))
  const times = streams.flatMap((next) => Array.from({ length: 250 }, () => next())).sort((a, b) => a - b)
  for (const [i, t] of times.entries()) assert.ok(Math.abs(t - i * 1000) < 1e-6, `arrival ${i} at ${t}`)

  const next = arrivalTimes('poisson', 500, 0, 2, seededRandom(2))
  const n = 20_000
  let last = 0
  let sumGap = 0
  let sumSq = 0
  for (let i = 0; i < n; i++) {
    const t = next()
    const gap = t - last
    sumGap += gap
    sumSq += gap * gap
    last = t
  }
  const mean = sumGap / n
  const sd = Math.sqrt(sumSq / n - mean * mean)
  // 250/s per stream: mean gap 4000 us, and exponential gaps have sd = mean
  assert.ok(Math.abs(mean - 4000) < 4000 * 0.05, `mean gap ${mean}`)
  assert.ok(Math.abs(sd - 4000) < 4000 * 0.1, `gap sd ${sd}`)
  // seeded: the same stream again
  const again = arrivalTimes('poisson', 500, 0, 2, seededRandom(2))
  const first = arrivalTimes('poisson', 500, 0, 2, seededRandom(2))
  assert.deepEqual(
    Array.from({ length: 5 }, () => again()),
    Array.from({ length: 5 }, () => first()),
  )
})
