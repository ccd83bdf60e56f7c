/** PaxosLog's log compaction: what a snapshot keeps, what a reload sees, and a crash between the writes. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { nextBallot, ZERO_BALLOT } from '../core/ballot.ts'
import { slotKey } from '../core/slot-key.ts'
import { SimStorage } from '../sim/storage.ts'
import { PaxosLog } from './log.ts'
import { NOOP, type SlotValue } from './messages.ts'

/** A stand-in state machine snapshot: the log only stores and returns it. */
const state = (tag: string) => ({ data: [['tag', tag] as [string, string]], sessions: [], applied: 0 })
const put = (n: number): SlotValue => ({
  kind: 'batch',
  commands: [{ id: { client: 'c', seq: n }, op: 'put', key: 'k', value: String(n) }],
})
const BALLOT = nextBallot(ZERO_BALLOT, 'r0')

function chosenLog(storage: SimStorage, slots: number): PaxosLog {
  const log = PaxosLog.load(storage, 'none')
  for (let slot = 0; slot < slots; slot++) log.markChosen(slot, put(slot))
  return log
}

describe('PaxosLog log compaction', () => {
  it('a snapshot discards the chosen values up to the previous one, and a reload sees the same', () => {
    const storage = new SimStorage()
    const log = chosenLog(storage, 12)
    log.compact(5, state('a'))
    assert.equal(log.firstSlot, 0, 'the first snapshot keeps everything (no previous one)')
    log.compact(10, state('b'))
    for (const l of [log, PaxosLog.load(storage, 'none')]) {
      assert.equal(l.snapshotIndex, 10)
      assert.equal(l.firstSlot, 5, 'the last interval (5..9) stays')
      assert.equal(l.chosenPrefix, 12)
      assert.deepEqual(l.snapshot?.state, state('b'))
      assert.equal(l.chosen(4), undefined)
      assert.ok(l.isChosen(4), 'a compacted slot is still chosen')
      assert.equal(l.markChosen(4, NOOP), false, 'a compacted slot is never recorded again')
      assert.deepEqual(l.chosenRun(5, 12, 100).length, 7)
      l.assertInvariants()
    }
    assert.equal(storage.scan('mp/chosen/').length, 7)
  })

  it('a reload after a crash between the snapshot record and the deletes drops what it covers', () => {
    const storage = new SimStorage()
    const log = chosenLog(storage, 6)
    log.compact(3, state('a'))
    log.compact(6, state('b')) // firstSlot 3
    // what a torn compaction or install leaves: a chosen value below firstSlot, a vote below the index
    storage.put(slotKey('mp/chosen/', 1), put(1))
    storage.put(slotKey('mp/acc/', 4), { ballot: BALLOT, value: put(99) })
    const again = PaxosLog.load(storage, 'none')
    again.assertInvariants()
    assert.equal(again.chosen(1), undefined)
    assert.equal(again.vote(4), undefined)
    assert.equal(storage.get(slotKey('mp/chosen/', 1)), undefined, 'deleted at load')
    assert.equal(storage.get(slotKey('mp/acc/', 4)), undefined, 'deleted at load')
  })

  it("installing another replica's snapshot drops the votes below it and keeps the chosen values above", () => {
    const storage = new SimStorage()
    const log = chosenLog(storage, 2)
    log.promise(BALLOT)
    log.accept(3, BALLOT, put(3))
    log.accept(8, BALLOT, put(8))
    log.markChosen(6, put(6))
    assert.throws(() => log.installSnapshot({ index: 2, state: state('old') }), /at or below the prefix/)
    log.installSnapshot({ index: 6, state: state('s') })
    log.assertInvariants()
    assert.equal(log.chosenPrefix, 7, 'the chosen slot 6 continues the prefix')
    assert.equal(log.firstSlot, 6)
    assert.equal(log.vote(3), undefined)
    assert.ok(log.vote(8) !== undefined, 'a vote above the snapshot stays')
    assert.deepEqual(
      log.promiseContent(0).accepted.map((e) => e.slot),
      [8],
      'a promise starts above it',
    )
    const again = PaxosLog.load(storage, 'none')
    assert.equal(again.chosenPrefix, 7)
    assert.equal(storage.scan('mp/acc/').length, 1)
  })
})
