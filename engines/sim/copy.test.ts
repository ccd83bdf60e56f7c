import assert from 'node:assert/strict'
import { test } from 'node:test'
import { copyPlain } from './copy.ts'

test('copies nested plain data deeply', () => {
  const value = {
    type: 'accept',
    ballot: { round: 3, node: 'r1' },
    cmds: [{ id: { client: 'c0', seq: 1 } }],
    n: null,
  }
  const copy = copyPlain(value)
  assert.deepEqual(copy, value)
  copy.ballot.round = 9
  copy.cmds[0]!.id.seq = 7
  assert.equal(value.ballot.round, 3)
  assert.equal(value.cmds[0]!.id.seq, 1)
})

test('other objects go through structuredClone; functions are not data', () => {
  const map = new Map([['a', { x: 1 }]])
  const copy = copyPlain({ map })
  assert.ok(copy.map instanceof Map && copy.map !== map)
  assert.deepEqual(copy.map.get('a'), { x: 1 })
  assert.throws(() => copyPlain({ f: () => 1 }), TypeError)
})
