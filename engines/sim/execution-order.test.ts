import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Command } from '../core/command.ts'
import { ExecutionOrderLog } from './execution-order.ts'

const put = (client: string, seq: number, key = 'k'): Command => ({
  id: { client, seq },
  op: 'put',
  key,
  value: `${client}:${seq}`,
})
const get = (client: string, seq: number, key = 'k'): Command => ({ id: { client, seq }, op: 'get', key })

test('the same writes in the same order pass, and the replicas converge', () => {
  const log = new ExecutionOrderLog()
  log.beginIncarnation('r0', 1)
  log.beginIncarnation('r1', 1)
  for (const node of ['r0', 'r1']) {
    assert.equal(log.record(node, put('a', 1)), null)
    assert.equal(log.record(node, put('b', 1, 'other')), null)
    assert.equal(log.record(node, put('a', 2)), null)
  }
  assert.ok(log.converged(['r0', 'r1']))
  assert.deepEqual(log.snapshot()[1]!.keys, { k: ['a#1', 'a#2'], other: ['b#1'] })
})

test('writes in a different order are a divergence', () => {
  const log = new ExecutionOrderLog()
  log.beginIncarnation('r0', 1)
  log.beginIncarnation('r1', 1)
  assert.equal(log.record('r0', put('a', 1)), null)
  assert.match(log.record('r1', put('b', 1)) ?? '', /diverged on key k: r1#1 executed write b#1 as write #1/)
})

test('reads commute with each other but not with writes', () => {
  const log = new ExecutionOrderLog()
  log.beginIncarnation('r0', 1)
  log.beginIncarnation('r1', 1)
  log.record('r0', put('a', 1))
  log.record('r1', put('a', 1))
  assert.equal(log.record('r0', get('x', 1)), null)
  assert.equal(log.record('r0', get('y', 1)), null)
  assert.equal(log.record('r1', get('y', 1)), null) // adjacent reads swapped: fine
  assert.equal(log.record('r1', get('x', 1)), null)
  log.record('r0', put('a', 2))
  assert.match(log.record('r0', get('z', 1)) ?? 'none', /none/)
  assert.match(log.record('r1', get('z', 1)) ?? '', /r1#1 executed read z#1 after 1 writes, r0#1 after 2/)
})

test('a restarted incarnation re-executes from scratch and must follow the same order', () => {
  const log = new ExecutionOrderLog()
  log.beginIncarnation('r0', 1)
  log.record('r0', put('a', 1))
  log.record('r0', put('a', 2))
  log.beginIncarnation('r0', 2)
  assert.ok(!log.converged(['r0']))
  assert.deepEqual(log.lagging(['r0']), ['r0 executed 0 of the 2 commands executed anywhere'])
  assert.deepEqual(log.heldByNone(['r0']), ['a#1', 'a#2'])
  assert.equal(log.record('r0', put('a', 1)), null)
  assert.match(
    log.record('r0', put('b', 1)) ?? '',
    /r0#2 executed write b#1 as write #2, but r0#1 executed a#2/,
  )
})

test('executing one id twice in an incarnation is reported', () => {
  const log = new ExecutionOrderLog()
  log.beginIncarnation('r0', 1)
  log.record('r0', put('a', 1))
  assert.match(log.record('r0', put('a', 1)) ?? '', /twice/)
})

/** A stand-in for the KV snapshot of what `node` executed: the checker only needs it canonical. */
const kvSnap = (applied: number, tag: string) => ({
  data: [['tag', tag] as [string, string]],
  sessions: [],
  applied,
})

function twoReplicas(): ExecutionOrderLog {
  const log = new ExecutionOrderLog()
  for (const node of ['r0', 'r1']) log.beginIncarnation(node, 1)
  return log
}

test('an installed snapshot continues from the prefix of the incarnation that took it', () => {
  const log = twoReplicas()
  log.record('r0', put('a', 1))
  log.record('r0', put('b', 1))
  const snap = kvSnap(2, 'after b#1')
  assert.equal(log.snapshotTaken('r0', snap), null)
  assert.equal(log.installed('r1', structuredClone(snap)), null)
  assert.equal(log.executedBy('r1'), 2)
  assert.equal(log.record('r1', put('a', 1)), 'r1#1 executed a#1 twice', 'the install covers a#1')
  log.record('r0', put('d', 1))
  log.beginIncarnation('r1', 2)
  log.installed('r1', snap)
  assert.match(
    log.record('r1', put('c', 1)) ?? '',
    /r1#2 executed write c#1 as write #3, but r0#1 executed d#1 there/,
  )
  assert.equal(log.record('r1', put('e', 1, 'other')), null)
})

test('installing a snapshot no replica took, or one that loses executed commands, is a problem', () => {
  const log = twoReplicas()
  assert.match(log.installed('r1', kvSnap(0, 'made up')) ?? '', /installed a snapshot no replica took/)
  assert.match(
    log.snapshotTaken('r0', kvSnap(1, 'miscounted')) ?? '',
    /snapshot of 1 executed commands, but executed 0/,
  )
  const empty = kvSnap(0, 'empty')
  log.snapshotTaken('r0', empty)
  log.record('r1', put('a', 1))
  assert.match(
    log.installed('r1', empty) ?? '',
    /without 1 command\(s\) it had executed: a#1 \(its state went back\)/,
  )
})
