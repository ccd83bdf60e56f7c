import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Command } from './command.ts'
import { conflicts } from './command.ts'
import { KvStateMachine } from './kv.ts'

const put = (client: string, seq: number, key: string, value: string): Command => ({
  id: { client, seq },
  op: 'put',
  key,
  value,
})
const get = (client: string, seq: number, key: string): Command => ({ id: { client, seq }, op: 'get', key })

test('puts and gets behave as a map; absent keys read null', () => {
  const kv = new KvStateMachine()
  assert.deepEqual(kv.apply(get('a', 1, 'x')).result, { value: null })
  assert.deepEqual(kv.apply(put('a', 2, 'x', 'v1')).result, { value: null })
  assert.deepEqual(kv.apply(get('b', 1, 'x')).result, { value: 'v1' })
  assert.equal(kv.applied, 3)
})

test('a command id executes at most once, and a retry of the latest gets its cached result', () => {
  const kv = new KvStateMachine()
  kv.apply(put('a', 1, 'x', 'first'))
  kv.apply(put('b', 1, 'x', 'second'))
  const again = kv.apply(put('a', 1, 'x', 'first'))
  assert.equal(again.duplicate, true)
  assert.equal(kv.read('x'), 'second', 'a duplicate must not overwrite a later write')
  kv.apply(get('a', 2, 'x'))
  kv.apply(put('b', 2, 'x', 'third'))
  const retriedRead = kv.apply(get('a', 2, 'x'))
  assert.deepEqual(retriedRead, { result: { value: 'second' }, duplicate: true })
  assert.equal(kv.applied, 4)
})

test('dedupe is by exact id, so out-of-order seqs of one client (other keys) both execute', () => {
  // EPaxos-style orders may execute a client's seq 6 (key y) before its seq 5 (key x).
  const kv = new KvStateMachine()
  kv.apply(put('a', 1, 'x', 'v1'))
  kv.apply(put('a', 3, 'y', 'v3'))
  assert.equal(kv.apply(put('a', 2, 'x', 'v2')).duplicate, false)
  assert.equal(kv.read('x'), 'v2')
  assert.equal(kv.hasExecuted('a', 2), true)
  assert.equal(kv.hasExecuted('a', 4), false)
  assert.equal(kv.apply(put('a', 3, 'y', 'v3')).duplicate, true)
})

test('two replicas applying the same commands in different non-conflicting orders agree', () => {
  const cmds = [put('a', 1, 'x', '1'), put('a', 2, 'y', '2'), put('b', 1, 'x', '3'), put('a', 2, 'y', '2')]
  const r1 = new KvStateMachine()
  const r2 = new KvStateMachine()
  for (const c of cmds) r1.apply(c)
  for (const c of [cmds[1]!, cmds[3]!, cmds[0]!, cmds[2]!]) r2.apply(c)
  assert.equal(r1.read('x'), r2.read('x'))
  assert.equal(r1.read('y'), r2.read('y'))
  assert.equal(r1.applied, r2.applied)
})

test('conflict relation: same key and at least one write', () => {
  assert.equal(conflicts(put('a', 1, 'x', '1'), get('b', 1, 'x')), true)
  assert.equal(conflicts(get('a', 1, 'x'), get('b', 1, 'x')), false)
  assert.equal(conflicts(put('a', 1, 'x', '1'), put('b', 1, 'y', '1')), false)
})

test('invalid seqs are rejected loudly', () => {
  assert.throws(() => new KvStateMachine().apply(put('a', 0, 'x', 'v')), /positive integer/)
})

test('a snapshot carries data and sessions: after install, covered commands are duplicates', () => {
  const source = new KvStateMachine()
  source.apply(put('a', 1, 'x', 'v1'))
  source.apply(put('a', 3, 'y', 'v3')) // a hole at seq 2: kept one by one above the watermark
  source.apply(get('b', 1, 'x'))
  const snap = source.snapshot()
  const target = new KvStateMachine()
  target.apply(put('c', 1, 'z', 'gone')) // replaced by the install
  target.install(structuredClone(snap))
  assert.equal(target.read('x'), 'v1')
  assert.equal(target.read('z'), null)
  assert.equal(target.applied, source.applied)
  for (const [client, seq] of [
    ['a', 1],
    ['a', 3],
    ['b', 1],
  ] as const)
    assert.equal(target.hasExecuted(client, seq), true, `${client}#${seq}`)
  assert.equal(target.hasExecuted('a', 2), false)
  const retry = target.apply(put('a', 3, 'y', 'again'))
  assert.equal(retry.duplicate, true)
  assert.equal(target.read('y'), 'v3', 'a retried command must not execute again after an install')
  assert.equal(target.apply(put('a', 2, 'y', 'late')).duplicate, false, 'the hole is still open')
})

test('snapshots are canonical: the same state reached in another order gives an equal snapshot', () => {
  const r1 = new KvStateMachine()
  const r2 = new KvStateMachine()
  const cmds = [put('a', 1, 'x', '1'), put('b', 1, 'y', '2'), get('c', 1, 'z')]
  for (const c of cmds) r1.apply(c)
  for (const c of [...cmds].reverse()) r2.apply(c)
  assert.deepEqual(JSON.stringify(r1.snapshot()), JSON.stringify(r2.snapshot()))
  r2.apply(put('a', 2, 'x', '3'))
  assert.notDeepEqual(JSON.stringify(r1.snapshot()), JSON.stringify(r2.snapshot()))
})
