import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { SimStorage } from '../sim/storage.ts'
import { RaftLog } from './log.ts'
import { NOOP } from './messages.ts'

/** A stand-in state machine snapshot: the log only stores and returns it. */
const state = (tag: string) => ({ data: [['tag', tag] as [string, string]], sessions: [], applied: 0 })

function logWithTerms(storage: SimStorage, terms: number[]): RaftLog {
  const log = RaftLog.load(storage)
  for (const term of terms) {
    if (term > log.currentTerm) log.setTerm(term)
    log.append({ term, value: NOOP })
  }
  return log
}

describe('RaftLog (durable currentTerm, votedFor, log)', () => {
  it('survives a reload: term, vote and entries come back from storage', () => {
    const storage = new SimStorage()
    const log = logWithTerms(storage, [1, 1, 2])
    log.voteFor('r1')
    const again = RaftLog.load(storage)
    assert.equal(again.currentTerm, 2)
    assert.equal(again.votedFor, 'r1')
    assert.equal(again.lastIndex, 3)
    assert.equal(again.lastTerm, 2)
  })

  it('truncation removes the suffix from storage too', () => {
    const storage = new SimStorage()
    const log = logWithTerms(storage, [1, 1, 2, 2])
    log.truncateFrom(3)
    assert.equal(log.lastIndex, 2)
    assert.equal(RaftLog.load(storage).lastIndex, 2)
    assert.equal(storage.scan('raft/log/').length, 2)
  })

  it('a new term forgets the vote; a second vote in one term is a safety error', () => {
    const log = RaftLog.load(new SimStorage())
    log.setTerm(1)
    log.voteFor('r0')
    log.voteFor('r0') // the same vote again is fine (a retried RequestVote)
    assert.throws(() => log.voteFor('r2'), /safety: second vote in term 1/)
    log.setTerm(2)
    assert.equal(log.votedFor, null)
    assert.throws(() => log.setTerm(2), /does not advance/)
  })

  it('fast-backtracking helpers: first index of the term at an index, last index of a term', () => {
    const log = logWithTerms(new SimStorage(), [1, 1, 3, 3, 3, 4])
    assert.equal(log.firstIndexOfTerm(5), 3)
    assert.equal(log.firstIndexOfTerm(2), 1)
    assert.equal(log.lastIndexOfTerm(3), 5)
    assert.equal(log.lastIndexOfTerm(2), 0, 'no entry of term 2')
    assert.equal(log.lastIndexOfTerm(9), 0)
  })

  it('up to date (sec. 5.4.1): a later last term wins, then the longer log', () => {
    const log = logWithTerms(new SimStorage(), [1, 2, 2])
    assert.equal(log.isUpToDate(1, 3), true, 'later last term, shorter log')
    assert.equal(log.isUpToDate(5, 1), false, 'earlier last term, longer log')
    assert.equal(log.isUpToDate(3, 2), true, 'same term, same length')
    assert.equal(log.isUpToDate(2, 2), false, 'same term, shorter')
  })

  it('refuses entries whose term goes backwards or beyond currentTerm, and a corrupt stored log', () => {
    const storage = new SimStorage()
    const log = logWithTerms(storage, [2])
    assert.throws(() => log.append({ term: 1, value: NOOP }), /below the last entry term/)
    assert.throws(() => log.append({ term: 3, value: NOOP }), /above 2/)
    storage.put('raft/log/000000000005', { term: 2, value: NOOP })
    assert.throws(() => RaftLog.load(storage), /out of sequence/)
  })

  it('compaction (sec. 7): a snapshot discards the log up to the previous one, and survives a reload', () => {
    const storage = new SimStorage()
    const log = logWithTerms(storage, [1, 1, 2, 2, 3, 3])
    log.compact(2, state('at 2'))
    assert.equal(log.compactedIndex, 0, 'the first snapshot discards nothing: its interval stays')
    log.compact(4, state('at 4'))
    for (const reloaded of [log, RaftLog.load(storage)]) {
      assert.equal(reloaded.snapshotIndex, 4)
      assert.equal(reloaded.snapshotTerm, 2)
      assert.equal(reloaded.compactedIndex, 2)
      assert.equal(reloaded.firstIndex, 3)
      assert.equal(reloaded.lastIndex, 6)
      assert.equal(reloaded.termAt(2), 1, 'the term at the compacted index stays known')
      assert.equal(reloaded.termAt(4), 2)
      assert.deepEqual(reloaded.snapshot?.state, state('at 4'))
      assert.throws(() => reloaded.termAt(1), /no entry at 1/)
      assert.throws(() => reloaded.slice(2, 10), /compacted up to 2/)
      assert.equal(reloaded.slice(3, 10).length, 4)
    }
    assert.equal(storage.scan('raft/log/').length, 4)
    assert.throws(() => log.truncateFrom(4), /inside the snapshot/)
    assert.throws(() => log.compact(4, state('again')), /compact to 4/)
  })

  it('index arithmetic past the compacted prefix: backtracking hints, up-to-date check, append', () => {
    const log = logWithTerms(new SimStorage(), [1, 2, 2, 2, 3, 3])
    log.compact(2, state('at 2'))
    log.compact(5, state('at 5'))
    assert.equal(log.firstIndexOfTerm(4), 3, 'the hint stops at the first held index')
    assert.equal(log.lastIndexOfTerm(2), 4)
    assert.equal(log.lastIndexOfTerm(1), 0, 'compacted terms are unknown')
    assert.equal(log.isUpToDate(6, 3), true)
    assert.equal(log.isUpToDate(5, 3), false)
    log.truncateFrom(6)
    assert.equal(log.lastIndex, 5)
    assert.equal(log.append({ term: 3, value: NOOP }), 6)
  })

  it('a crash between storing the snapshot and deleting the prefix: the leftover entries are ignored', () => {
    const storage = new SimStorage()
    const log = logWithTerms(storage, [1, 1, 1, 1])
    log.compact(2, state('at 2'))
    log.compact(3, state('at 3'))
    storage.put('raft/log/000000000001', { term: 1, value: NOOP }) // as if its delete was lost
    const reloaded = RaftLog.load(storage)
    assert.equal(reloaded.firstIndex, 3)
    assert.equal(reloaded.lastIndex, 4)
  })

  it('a torn install (any prefix of its writes) never leaves stale entries after the new snapshot', () => {
    // our entries 3..5 are of term 2; the leader's committed entry 4 is of term 1: the log is discarded
    const base = (): SimStorage => {
      const storage = new SimStorage()
      logWithTerms(storage, [1, 1, 2, 2, 2])
      return storage
    }
    const writes: Array<(to: SimStorage) => void> = []
    const source = base()
    const recording = {
      get: <T>(key: string) => source.get<T>(key),
      scan: <T>(prefix: string) => source.scan<T>(prefix),
      put: (key: string, value: unknown) => writes.push((to) => to.put(key, value)),
      delete: (key: string) => writes.push((to) => to.delete(key)),
    }
    RaftLog.load(recording).installSnapshot({ index: 4, term: 1, state: state('leader at 4') })
    assert.ok(writes.length > 2)
    for (let k = 0; k <= writes.length; k++) {
      const storage = base()
      for (const write of writes.slice(0, k)) write(storage)
      const log = RaftLog.load(storage)
      if (log.snapshotIndex === 4) assert.equal(log.lastIndex, 4, `after ${k} writes: stale entries remain`)
      else assert.ok(log.lastIndex >= 4, `after ${k} writes: entries up to the snapshot were lost`)
    }
  })

  it('InstallSnapshot (Figure 13): keeps the suffix after a matching entry, else discards the log', () => {
    const storage = new SimStorage()
    const log = logWithTerms(storage, [1, 1, 2, 2])
    log.installSnapshot({ index: 3, term: 2, state: state('leader at 3') })
    assert.equal(log.snapshotIndex, 3)
    assert.equal(log.compactedIndex, 3, 'an install discards all it covers')
    assert.equal(log.lastIndex, 4, 'entry 3 matched: entry 4 is kept')
    log.installSnapshot({ index: 6, term: 2, state: state('leader at 6') })
    assert.equal(log.lastIndex, 6, 'beyond the log: nothing kept')
    assert.equal(storage.scan('raft/log/').length, 0)
    log.setTerm(3)
    log.append({ term: 3, value: NOOP })
    log.installSnapshot({ index: 7, term: 2, state: state('other term at 7') })
    assert.equal(log.lastIndex, 7, 'entry 7 of another term: discarded')
    assert.equal(log.lastTerm, 2)
    assert.equal(storage.scan('raft/log/').length, 0)
    assert.throws(() => log.installSnapshot({ index: 7, term: 2, state: state('old') }), /over 7/)
  })
})
