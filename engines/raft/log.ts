/**
 * The durable part of a Raft server (Figure 2, "Persistent state on all servers"): currentTerm, votedFor
 * and log[]. Every mutation writes through to storage in the same handler, so it is durable before any
 * message the handler sends (the runtime's persist-then-send rule, Figure 2: "updated on stable storage
 * before responding to RPCs").
 *
 * Indexes start at 1; index 0 is the empty prefix with term 0.
 */
import type { NodeId } from '../core/command.ts'
import type { Storage } from '../core/engine.ts'
import type { LogEntry } from './messages.ts'

const HARD_STATE_KEY = 'raft/hard'
const ENTRY_PREFIX = 'raft/log/'
const INDEX_DIGITS = 12

interface HardState {
  readonly term: number
  readonly votedFor: NodeId | null
}

function entryKey(index: number): string {
  return ENTRY_PREFIX + String(index).padStart(INDEX_DIGITS, '0')
}

export class RaftLog {
  private term = 0
  private vote: NodeId | null = null
  /** entries[i] is the entry at index i + 1 */
  private readonly entries: LogEntry[] = []

  private constructor(private readonly storage: Storage) {}

  /** Rebuilds the durable state from storage (first boot: term 0, no vote, empty log). */
  static load(storage: Storage): RaftLog {
    const log = new RaftLog(storage)
    const hard = storage.get<HardState>(HARD_STATE_KEY)
    if (hard !== undefined) {
      log.term = hard.term
      log.vote = hard.votedFor
    }
    for (const [key, entry] of storage.scan<LogEntry>(ENTRY_PREFIX)) {
      const index = Number(key.slice(ENTRY_PREFIX.length))
      if (index !== log.entries.length + 1) throw new Error(`corrupt storage: log key ${key} out of sequence`)
      if (entry.term < log.lastTerm) throw new Error(`corrupt storage: log terms decrease at ${key}`)
      log.entries.push(entry)
    }
    log.assertInvariants()
    return log
  }

  get currentTerm(): number {
    return this.term
  }

  get votedFor(): NodeId | null {
    return this.vote
  }

  get lastIndex(): number {
    return this.entries.length
  }

  get lastTerm(): number {
    return this.termAt(this.entries.length)
  }

  /** Moves to a higher term, forgetting the vote (Figure 2: "set currentTerm = T"). */
  setTerm(term: number): void {
    if (term <= this.term) throw new Error(`internal: term ${term} does not advance ${this.term}`)
    this.term = term
    this.vote = null
    this.saveHardState()
  }

  /** Records the vote of the current term; one vote per term. */
  voteFor(candidate: NodeId): void {
    if (this.vote !== null && this.vote !== candidate)
      throw new Error(`safety: second vote in term ${this.term} (${this.vote}, then ${candidate})`)
    if (this.vote === candidate) return
    this.vote = candidate
    this.saveHardState()
  }

  /** The term of the entry at index (0 for index 0); throws beyond the log. */
  termAt(index: number): number {
    if (index === 0) return 0
    const entry = this.entries[index - 1]
    if (entry === undefined) throw new RangeError(`internal: no entry at ${index} (last ${this.lastIndex})`)
    return entry.term
  }

  entry(index: number): LogEntry {
    const entry = this.entries[index - 1]
    if (entry === undefined) throw new RangeError(`internal: no entry at ${index} (last ${this.lastIndex})`)
    return entry
  }

  /** Entries from `from` on, at most `limit` of them. */
  slice(from: number, limit: number): LogEntry[] {
    return this.entries.slice(from - 1, from - 1 + limit)
  }

  append(entry: LogEntry): number {
    if (entry.term > this.term) throw new Error(`internal: entry term ${entry.term} above ${this.term}`)
    if (entry.term < this.lastTerm) throw new Error('internal: entry term below the last entry term')
    this.entries.push(entry)
    this.storage.put(entryKey(this.entries.length), entry)
    return this.entries.length
  }

  /** Deletes the entry at `from` and all that follow it (Figure 2, AppendEntries step 3). */
  truncateFrom(from: number): void {
    if (from < 1) throw new RangeError(`internal: truncate from ${from}`)
    for (let index = this.entries.length; index >= from; index--) this.storage.delete(entryKey(index))
    this.entries.length = Math.min(this.entries.length, from - 1)
  }

  /** The first index holding `term`, searching back from `index` (the fast backtracking hint). */
  firstIndexOfTerm(index: number): number {
    const term = this.termAt(index)
    let first = index
    while (first > 1 && this.termAt(first - 1) === term) first--
    return first
  }

  /** The last index holding `term`, or 0 when the log has none. */
  lastIndexOfTerm(term: number): number {
    for (let index = this.entries.length; index >= 1; index--) {
      const at = this.termAt(index)
      if (at === term) return index
      if (at < term) return 0
    }
    return 0
  }

  /** Sec. 5.4.1: a log with a later last term, or the same last term and at least as long, is up to date. */
  isUpToDate(lastLogIndex: number, lastLogTerm: number): boolean {
    if (lastLogTerm !== this.lastTerm) return lastLogTerm > this.lastTerm
    return lastLogIndex >= this.lastIndex
  }

  /** Cheap enough for every event: terms only grow along the log (checked in append and load). */
  assertInvariants(): void {
    if (this.lastTerm > this.term)
      throw new Error(`invariant: log holds term ${this.lastTerm} above currentTerm`)
  }

  private saveHardState(): void {
    const hard: HardState = { term: this.term, votedFor: this.vote }
    this.storage.put(HARD_STATE_KEY, hard)
  }
}
