/**
 * The durable part of a Raft server (Figure 2, "Persistent state on all servers"): currentTerm, votedFor
 * and log[]. Every mutation writes through to storage in the same handler, so it is durable before any
 * message the handler sends (the runtime's persist-then-send rule, Figure 2: "updated on stable storage
 * before responding to RPCs").
 *
 * Indexes start at 1; index 0 is the empty prefix with term 0.
 *
 * Log compaction (sec. 7): a snapshot replaces the prefix up to `snapshotIndex` (lastIncludedIndex, with
 * `snapshotTerm` = lastIncludedTerm); entries are kept from `firstIndex` = snapshotIndex + 1 on, and the
 * term at snapshotIndex stays known. The snapshot (state machine + index + term) is written to storage
 * before the keys of the entries it covers are deleted, in the same handler; storage records are applied
 * in order, so a crash part-way leaves the snapshot and some of those entries, which `load` ignores.
 */
import type { NodeId } from '../core/command.ts'
import type { Storage } from '../core/engine.ts'
import type { KvSnapshot } from '../core/kv.ts'
import type { LogEntry } from './messages.ts'

const HARD_STATE_KEY = 'raft/hard'
const SNAPSHOT_KEY = 'raft/snapshot'
const ENTRY_PREFIX = 'raft/log/'
const INDEX_DIGITS = 12

interface HardState {
  readonly term: number
  readonly votedFor: NodeId | null
}

/** A snapshot as stored: the state machine after applying the log up to `index`, whose entry had `term`. */
export interface RaftSnapshot {
  readonly index: number
  readonly term: number
  readonly state: KvSnapshot
}

function entryKey(index: number): string {
  return ENTRY_PREFIX + String(index).padStart(INDEX_DIGITS, '0')
}

export class RaftLog {
  private term = 0
  private vote: NodeId | null = null
  /** the latest snapshot (null: none, the log starts at index 1) */
  private snap: RaftSnapshot | null = null
  /** entries[i] is the entry at index snapshotIndex + 1 + i */
  private entries: LogEntry[] = []

  private constructor(private readonly storage: Storage) {}

  /** Rebuilds the durable state from storage (first boot: term 0, no vote, empty log). */
  static load(storage: Storage): RaftLog {
    const log = new RaftLog(storage)
    const hard = storage.get<HardState>(HARD_STATE_KEY)
    if (hard !== undefined) {
      log.term = hard.term
      log.vote = hard.votedFor
    }
    log.snap = storage.get<RaftSnapshot>(SNAPSHOT_KEY) ?? null
    for (const [key, entry] of storage.scan<LogEntry>(ENTRY_PREFIX)) {
      const index = Number(key.slice(ENTRY_PREFIX.length))
      // covered by the snapshot: a crash came between storing it and deleting these (see the file comment)
      if (index <= log.snapshotIndex) continue
      if (index !== log.lastIndex + 1) throw new Error(`corrupt storage: log key ${key} out of sequence`)
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

  /** lastIncludedIndex of the snapshot (0: none) */
  get snapshotIndex(): number {
    return this.snap?.index ?? 0
  }

  /** lastIncludedTerm of the snapshot (0: none) */
  get snapshotTerm(): number {
    return this.snap?.term ?? 0
  }

  get snapshot(): RaftSnapshot | null {
    return this.snap
  }

  /** the first index whose entry is held (snapshotIndex + 1; lastIndex + 1 when none is) */
  get firstIndex(): number {
    return this.snapshotIndex + 1
  }

  get lastIndex(): number {
    return this.snapshotIndex + this.entries.length
  }

  get lastTerm(): number {
    return this.termAt(this.lastIndex)
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

  /** The term of the entry at index (0 for index 0, the snapshot's term at its index); throws outside. */
  termAt(index: number): number {
    if (index === this.snapshotIndex) return this.snapshotTerm
    return this.entry(index).term
  }

  /** Whether termAt(index) is known: the snapshot's index, or a held entry. */
  hasTermAt(index: number): boolean {
    return index >= this.snapshotIndex && index <= this.lastIndex
  }

  entry(index: number): LogEntry {
    const entry = index > this.snapshotIndex ? this.entries[index - this.firstIndex] : undefined
    if (entry === undefined)
      throw new RangeError(
        `internal: no entry at ${index} (held ${this.firstIndex}..${this.lastIndex}, snapshot ${this.snapshotIndex})`,
      )
    return entry
  }

  /** Entries from `from` (at least firstIndex) on, at most `limit` of them. */
  slice(from: number, limit: number): LogEntry[] {
    if (from < this.firstIndex)
      throw new RangeError(`internal: slice from ${from}, compacted up to ${this.snapshotIndex}`)
    return this.entries.slice(from - this.firstIndex, from - this.firstIndex + limit)
  }

  append(entry: LogEntry): number {
    if (entry.term > this.term) throw new Error(`internal: entry term ${entry.term} above ${this.term}`)
    if (entry.term < this.lastTerm) throw new Error('internal: entry term below the last entry term')
    this.entries.push(entry)
    this.storage.put(entryKey(this.lastIndex), entry)
    return this.lastIndex
  }

  /** Deletes the entry at `from` and all that follow it (Figure 2, AppendEntries step 3). */
  truncateFrom(from: number): void {
    if (from <= this.snapshotIndex)
      throw new RangeError(`internal: truncate from ${from}, inside the snapshot (${this.snapshotIndex})`)
    for (let index = this.lastIndex; index >= from; index--) this.storage.delete(entryKey(index))
    this.entries.length = Math.min(this.entries.length, from - this.firstIndex)
  }

  /**
   * Log compaction (sec. 7): `state` is the state machine after applying the log up to `index`, a held
   * entry (applied, so committed). Stores the snapshot, then deletes the entries it covers.
   */
  compact(index: number, state: KvSnapshot): void {
    if (index <= this.snapshotIndex || index > this.lastIndex)
      throw new RangeError(`internal: compact to ${index} (held ${this.firstIndex}..${this.lastIndex})`)
    this.saveSnapshot({ index, term: this.termAt(index), state }, index - this.snapshotIndex)
  }

  /**
   * InstallSnapshot receiver (Figure 13, steps 5-7): keeps the entries after the snapshot if the log holds
   * its last included entry (same index and term), else discards the whole log. Stores the snapshot first.
   */
  installSnapshot(snap: RaftSnapshot): void {
    if (snap.index <= this.snapshotIndex)
      throw new RangeError(`internal: install snapshot ${snap.index} over ${this.snapshotIndex}`)
    if (snap.term > this.term) throw new Error(`internal: snapshot term ${snap.term} above ${this.term}`)
    const keep = this.hasTermAt(snap.index) && this.termAt(snap.index) === snap.term
    this.saveSnapshot(snap, keep ? snap.index - this.snapshotIndex : this.entries.length)
  }

  private saveSnapshot(snap: RaftSnapshot, drop: number): void {
    this.storage.put(SNAPSHOT_KEY, snap) // durable before the deletes below (records apply in order)
    for (let index = this.snapshotIndex + 1; index <= this.snapshotIndex + drop; index++)
      this.storage.delete(entryKey(index))
    const kept = this.entries.slice(drop)
    if (kept.length > 0 && kept[0]!.term < snap.term)
      throw new Error('internal: kept entries below the snapshot term')
    this.entries = kept
    this.snap = snap
  }

  /**
   * The first index holding `term`, searching back from `index` (the fast backtracking hint). Stops at
   * firstIndex: below it the log is a committed prefix, which agrees with any current leader's.
   */
  firstIndexOfTerm(index: number): number {
    const term = this.termAt(index)
    let first = index
    while (first > this.firstIndex && this.termAt(first - 1) === term) first--
    return first
  }

  /** The last index holding `term` (the snapshot's index counts), or 0 when the log has none it knows of. */
  lastIndexOfTerm(term: number): number {
    for (let index = this.lastIndex; index >= this.snapshotIndex && index >= 1; index--) {
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
    const first = this.entries[0]
    if (first !== undefined && first.term < this.snapshotTerm)
      throw new Error(
        `invariant: entry ${this.firstIndex} of term ${first.term} below the snapshot's ${this.snapshotTerm}`,
      )
  }

  private saveHardState(): void {
    const hard: HardState = { term: this.term, votedFor: this.vote }
    this.storage.put(HARD_STATE_KEY, hard)
  }
}
