import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { SimStorage } from '../sim/storage.ts'
import { RaftLog } from './log.ts'
import { NOOP } from './messages.ts'

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
})
