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
    assert.deepEqual(state.promise(3, b(2, 'r1')), { promised: b(2, 'r1'), accepted: null })
    assert.equal(state.promise(3, b(1, 'r9')), null, 'a lower ballot is refused')
    assert.equal(state.promise(3, b(2, 'r0')), null, 'same round, lower node: lower ballot')
    assert.ok(state.accept(3, b(2, 'r1'), cmd(1)))
    assert.equal(state.accept(3, b(2, 'r0'), cmd(2)), false)
    assert.deepEqual(state.promise(3, b(3, 'r0'))?.accepted, { ballot: b(2, 'r1'), value: cmd(1) })
    assert.equal(state.accept(3, b(2, 'r1'), cmd(1)), false, 'the promise moved above it')
  })

  it('refuses two different values at one ballot (a proposer bug)', () => {
    const state = PaxosState.load(new SimStorage())
    state.accept(0, b(1, 'r0'), cmd(1))
    assert.throws(() => state.accept(0, b(1, 'r0'), cmd(2)), /two values proposed at one ballot/)
  })

  it('survives a restart: promises, votes and decisions reload from storage', () => {
    const storage = new SimStorage()
    const state = PaxosState.load(storage)
    state.promise(5, b(4, 'r2'))
    state.accept(6, b(1, 'r0'), cmd(6))
    state.decide(0, cmd(1))
    state.decide(1, NOOP)
    state.decide(3, cmd(3))
    const again = PaxosState.load(storage)
    assert.deepEqual(again.slot(5), { promised: b(4, 'r2'), accepted: null })
    assert.deepEqual(again.slot(6).accepted, { ballot: b(1, 'r0'), value: cmd(6) })
    assert.equal(again.chosenPrefix, 2)
    assert.equal(again.maxDecided, 3)
    assert.equal(again.maxSlot, 6)
    assert.deepEqual(
      again.decidedIn(0, 10, 2).map((e) => e.slot),
      [0, 1],
    )
    assert.deepEqual(
      again.decidedIn(1, 10, 10).map((e) => e.slot),
      [1, 3],
    )
    again.assertInvariants()
  })

  it('a decision replaces the acceptor state; a different second decision throws', () => {
    const storage = new SimStorage()
    const state = PaxosState.load(storage)
    state.accept(0, b(1, 'r0'), cmd(1))
    assert.ok(state.decide(0, cmd(1)))
    assert.equal(state.decide(0, cmd(1)), false, 'learning it again changes nothing')
    assert.deepEqual(storage.scan('px/acc/'), [])
    assert.throws(() => state.decide(0, cmd(2)), /decided twice with different values/)
    assert.throws(() => state.promise(0, b(9, 'r1')), /decided slot 0/)
  })
})
