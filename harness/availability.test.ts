import assert from 'node:assert/strict'
import { test } from 'node:test'
import { availabilityAfter, lostWrites, type SiteOp } from './availability.ts'
import type { HistoryOp } from './check/history.ts'

const op = (p: Partial<SiteOp> & Pick<SiteOp, 'invokeUs'>): SiteOp => ({
  client: 'c0',
  seq: 1,
  key: 'k',
  op: 'put',
  value: 'v',
  completeUs: p.invokeUs + 1000,
  outcome: 'ok',
  site: 'A',
  ...p,
})

test('availability: per site, the first commit of a command invoked after the fault; failures until the last site recovered', () => {
  const ops = [
    op({ invokeUs: 0, completeUs: 12_000, site: 'A' }), // in flight at the fault: not counted
    op({ invokeUs: 10_500, completeUs: 30_000, site: 'A' }),
    op({ invokeUs: 11_000, completeUs: 15_000, site: 'B', outcome: 'fail' }),
    op({ invokeUs: 16_000, completeUs: 50_000, site: 'B' }),
    op({ invokeUs: 20_000, completeUs: null, site: 'B', outcome: 'unknown' }),
    op({ invokeUs: 60_000, completeUs: null, site: 'B', outcome: 'unknown' }), // after both recovered
  ]
  const bySite = new Map([
    ['A', ops.filter((o) => o.site === 'A')],
    ['B', ops.filter((o) => o.site === 'B')],
    ['C', []],
  ])
  const a = availabilityAfter(10_000, ops, bySite, 100_000)
  assert.deepEqual(a.recoveryMsBySite, { A: 20, B: 40, C: null })
  assert.equal(a.firstCommitAfterMs, 20)
  // C never recovered: every failure to the end of the load counts
  assert.equal(a.opsFailed, 1)
  assert.equal(a.opsUnknown, 2)
  const ab = availabilityAfter(10_000, ops, new Map([...bySite].filter(([s]) => s !== 'C')), 100_000)
  assert.equal(ab.opsUnknown, 1, 'the unknown after the last site recovered is not the fault’s')
})

const h = (p: Partial<HistoryOp> & Pick<HistoryOp, 'invokeUs'>): HistoryOp => ({
  client: 'c0',
  seq: 1,
  key: 'k',
  op: 'put',
  value: 'v',
  completeUs: p.invokeUs + 10,
  outcome: 'ok',
  ...p,
})
const read = (value: string | null) =>
  h({ client: 'readback', op: 'get', value, invokeUs: 1000, completeUs: 1010 })

test('lost writes: the read-back must see the latest acknowledged put or a later/concurrent one', () => {
  const puts = [
    h({ value: 'a', invokeUs: 0, completeUs: 10 }),
    h({ value: 'b', invokeUs: 20, completeUs: 30 }),
    h({ value: 'c', invokeUs: 25, completeUs: null, outcome: 'unknown' }), // concurrent with b, maybe applied
    h({ value: 'd', invokeUs: 40, completeUs: 50, outcome: 'fail' }), // refused: never visible
  ]
  assert.deepEqual(lostWrites([...puts, read('b')]), { keysChecked: 1, lost: 0, examples: [] })
  assert.equal(lostWrites([...puts, read('c')]).lost, 0)
  const older = lostWrites([...puts, read('a')])
  assert.equal(older.lost, 1)
  assert.deepEqual(older.examples, [{ key: 'k', acknowledged: 'b', read: 'a' }])
  assert.equal(lostWrites([...puts, read(null)]).lost, 1)
  assert.equal(lostWrites([...puts, read('d')]).lost, 1)
  // a key with no acknowledged write before the read is not checked
  assert.deepEqual(lostWrites([puts[2]!, read(null)]), { keysChecked: 0, lost: 0, examples: [] })
})
