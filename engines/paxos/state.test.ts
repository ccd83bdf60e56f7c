import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Command } from '../core/command.ts'
import { SimStorage } from '../sim/storage.ts'
import { NOOP, type SlotValue } from './messages.ts'
import { PaxosState } from './state.ts'

const cmd = (seq: number): SlotValue => {
  const c: Command = { id: { client: 'c', seq }, op: 'put', key: 'k', value: String(seq) }
  return { kind: 'cmd', cmd: c }
}
const b = (round: number, node: string) => ({ round, node })

describe('PaxosState (acceptor and learner, durable)', () => {
  it('promises only ballots >= the promise, and reports its vote', () => {
    const state = PaxosState.load(new SimStorage())
    assert.deepEqual(state.promise('k', 3, b(2, 'r1')), { promised: b(2, 'r1'), accepted: null })
    assert.equal(state.promise('k', 3, b(1, 'r9')), null, 'a lower ballot is refused')
    assert.equal(state.promise('k', 3, b(2, 'r0')), null, 'same round, lower node: lower ballot')
    assert.ok(state.accept('k', 3, b(2, 'r1'), cmd(1)))
    assert.equal(state.accept('k', 3, b(2, 'r0'), cmd(2)), false)
    assert.deepEqual(state.promise('k', 3, b(3, 'r0'))?.accepted, { ballot: b(2, 'r1'), value: cmd(1) })
    assert.equal(state.accept('k', 3, b(2, 'r1'), cmd(1)), false, 'the promise moved above it')
  })

  it('refuses two different values at one ballot (a proposer bug)', () => {
    const state = PaxosState.load(new SimStorage())
    state.accept('k', 0, b(1, 'r0'), cmd(1))
    assert.throws(() => state.accept('k', 0, b(1, 'r0'), cmd(2)), /two values proposed at one ballot/)
  })

  it('survives a restart: promises, votes and decisions reload from storage', () => {
    const storage = new SimStorage()
    const state = PaxosState.load(storage)
    state.promise('k', 5, b(4, 'r2'))
    state.accept('a/b', 6, b(1, 'r0'), cmd(6))
    state.decide('k', 0, cmd(1))
    state.decide('k', 1, NOOP)
    state.decide('k', 3, cmd(3))
    state.decide('a/b', 0, cmd(7))
    const again = PaxosState.load(storage)
    assert.deepEqual(again.slot('k', 5), { promised: b(4, 'r2'), accepted: null })
    assert.deepEqual(again.slot('a/b', 6).accepted, { ballot: b(1, 'r0'), value: cmd(6) })
    assert.deepEqual(again.slot('a/b', 5), { promised: b(0, ''), accepted: null }, 'instances are per key')
    assert.equal(again.prefixOf('k'), 2)
    assert.equal(again.maxDecidedOf('k'), 3)
    assert.equal(again.prefixOf('a/b'), 1, "a key with '/' in it parses back")
    assert.equal(again.prefixOf('other'), 0)
    assert.equal(again.maxDecidedOf('other'), -1)
    assert.deepEqual(
      again.openInstances().sort((x, y) => x.idx - y.idx),
      [
        { key: 'k', idx: 5 },
        { key: 'a/b', idx: 6 },
      ],
    )
    assert.deepEqual(again.keys().sort(), ['a/b', 'k'])
    assert.deepEqual(
      again.decidedIn('k', 0, 10, 2).map((e) => e.idx),
      [0, 1],
    )
    assert.deepEqual(
      again.decidedIn('k', 1, 10, 10).map((e) => e.idx),
      [1, 3],
    )
    assert.deepEqual(again.decidedIn('none', 0, 10, 10), [])
    again.assertInvariants()
  })

  it('a decision replaces the acceptor state; a different second decision throws', () => {
    const storage = new SimStorage()
    const state = PaxosState.load(storage)
    state.accept('k', 0, b(1, 'r0'), cmd(1))
    assert.ok(state.decide('k', 0, cmd(1)))
    assert.equal(state.decide('k', 0, cmd(1)), false, 'learning it again changes nothing')
    assert.deepEqual(storage.scan('px/acc/'), [])
    assert.throws(() => state.decide('k', 0, cmd(2)), /decided twice with different values/)
    assert.throws(() => state.promise('k', 0, b(9, 'r1')), /decided instance k\[0\]/)
  })
})
