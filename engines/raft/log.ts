/**
 * The durable part of a Raft server (Figure 2, "Persistent state on all servers"): currentTerm, votedFor
 * and log[]. Every mutation writes through to storage in the same handler, so it is durable before any
 * message the handler sends (the runtime's persist-then-send rule, Figure 2: "updated on stable storage
 * before responding to RPCs").
 *
 * Indexes start at 1; index 0 is the empty prefix with term 0.
 *
 * Log compaction (sec. 7): a snapshot holds the state machine after applying the log up to
 * `snapshotIndex` (lastIncludedIndex, with `snapshotTerm` = lastIncludedTerm). The entries are held from
 * `firstIndex` on, and the term just before it (`compactedIndex`) stays known. A new snapshot discards
 * the entries only up to the previous snapshot's index, so the entries of the last interval stay: a
 * follower that lags by less than that is caught up with entries, not a whole snapshot (etcd keeps
 * catch-up entries for the same reason). So compactedIndex <= snapshotIndex <= lastIndex.
 *
 * Write order, for a crash part-way through a handler's writes (storage applies records in order, and a
 * torn batch keeps a prefix of them): the snapshot record (the state, its index and term, and the
 * compacted index and term) is written before the entries it makes redundant are deleted, and `load`
 * ignores leftover entries at or below the compacted index. An install that discards a conflicting log
 * deletes the entries above the snapshot first (a truncation of entries that cannot be committed), then
 * writes the record, so a torn install never leaves stale entries after a newer snapshot.
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

/** A snapshot: the state machine after applying the log up to `index`, whose entry had `term`. */
export interface RaftSnapshot {
  readonly index: number
  readonly term: number
  readonly state: KvSnapshot
}

/** The last discarded position: entries are held after it, and its term is kept for the consistency check. */
interface Compacted {
  readonly index: number
  readonly term: number
}

/** What `raft/snapshot` holds. */
interface SnapshotRecord extends RaftSnapshot {
  readonly compacted: Compacted
}

function entryKey(index: number): string {
  return ENTRY_PREFIX + String(index).padStart(INDEX_DIGITS, '0')
}

export class RaftLog {
  private term = 0
  private vote: NodeId | null = null
  /** the latest snapshot (null: none) */
  private snap: RaftSnapshot | null = null
  /** the discarded prefix: index 0 (term 0) when nothing was */
  private compacted: Compacted = { index: 0, term: 0 }
  /** entries[i] is the entry at index compacted.index + 1 + i */
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
    const record = storage.get<SnapshotRecord>(SNAPSHOT_KEY)
    if (record !== undefined) {
      log.snap = { index: record.index, term: record.term, state: record.state }
      log.compacted = record.compacted
    }
    for (const [key, entry] of storage.scan<LogEntry>(ENTRY_PREFIX)) {
      const index = Number(key.slice(ENTRY_PREFIX.length))
      // discarded: a crash came between storing the snapshot and deleting these (see the file comment)
      if (index <= log.compactedIndex) continue
      if (index !== log.lastIndex + 1) throw new Error(`corrupt storage: log key ${key} out of sequence`)
      if (entry.term < log.lastTerm) throw new Error(`corrupt storage: log terms decrease at ${key}`)
      log.entries.push(entry)
    }
    if (log.lastIndex < log.snapshotIndex)
      throw new Error(
        `corrupt storage: the log ends at ${log.lastIndex}, before the snapshot (${log.snapshotIndex})`,
      )
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

  /** the last discarded index (0: none); its term is still known */
  get compactedIndex(): number {
    return this.compacted.index
  }

  /** the first index whose entry is held (compactedIndex + 1; lastIndex + 1 when none is) */
  get firstIndex(): number {
    return this.compacted.index + 1
  }

  get lastIndex(): number {
    return this.compacted.index + this.entries.length
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

  /** The term of the entry at index (0 for index 0), from compactedIndex on; throws outside. */
  termAt(index: number): number {
    if (index === this.compacted.index) return this.compacted.term
    return this.entry(index).term
  }

  /** Whether termAt(index) is known: the compacted index, or a held entry. */
  hasTermAt(index: number): boolean {
    return index >= this.compacted.index && index <= this.lastIndex
  }

  entry(index: number): LogEntry {
    const entry = index > this.compacted.index ? this.entries[index - this.firstIndex] : undefined
    if (entry === undefined)
      throw new RangeError(
        `internal: no entry at ${index} (held ${this.firstIndex}..${this.lastIndex}, snapshot ${this.snapshotIndex})`,
      )
    return entry
  }

  /** Entries from `from` (at least firstIndex) on, at most `limit` of them. */
  slice(from: number, limit: number): LogEntry[] {
    if (from < this.firstIndex)
      throw new RangeError(`internal: slice from ${from}, compacted up to ${this.compactedIndex}`)
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
   * entry (applied, so committed). Stores the snapshot, then discards the entries up to the previous
   * snapshot's index (the last interval stays, for followers a little behind).
   */
  compact(index: number, state: KvSnapshot): void {
    if (index <= this.snapshotIndex || index > this.lastIndex)
      throw new RangeError(`internal: compact to ${index} (held ${this.firstIndex}..${this.lastIndex})`)
    const snap = { index, term: this.termAt(index), state }
    this.save(snap, { index: this.snapshotIndex, term: this.termAt(this.snapshotIndex) })
  }

  /**
   * InstallSnapshot receiver (Figure 13, steps 5-7): if the log holds the snapshot's last included entry
   * (same index and term), keeps the entries after it; else discards the whole log (those after the
   * snapshot first: they follow an entry that is not the committed one, so none can be committed).
   */
  installSnapshot(snap: RaftSnapshot): void {
    if (snap.index <= this.snapshotIndex)
      throw new RangeError(`internal: install snapshot ${snap.index} over ${this.snapshotIndex}`)
    if (snap.term > this.term) throw new Error(`internal: snapshot term ${snap.term} above ${this.term}`)
    const keep = this.hasTermAt(snap.index) && this.termAt(snap.index) === snap.term
    if (!keep && this.lastIndex > snap.index) this.truncateFrom(snap.index + 1)
    this.save(snap, { index: snap.index, term: snap.term })
  }

  private save(snap: RaftSnapshot, compacted: Compacted): void {
    const record: SnapshotRecord = { ...snap, compacted }
    this.storage.put(SNAPSHOT_KEY, record) // before the deletes below (records apply in order)
    const before = this.compacted.index
    const drop = Math.min(compacted.index, this.lastIndex) - before
    for (let index = before + 1; index <= before + drop; index++) this.storage.delete(entryKey(index))
    this.entries = this.entries.slice(drop)
    this.compacted = compacted
    this.snap = snap
    if (this.lastIndex < snap.index) throw new Error('internal: the log ends before its snapshot')
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

  /** The last index holding `term` (the compacted index counts), or 0 when the log has none it knows of. */
  lastIndexOfTerm(term: number): number {
    for (let index = this.lastIndex; index >= this.compacted.index && index >= 1; index--) {
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
    if (first !== undefined && first.term < this.compacted.term)
      throw new Error(
        `invariant: entry ${this.firstIndex} of term ${first.term} below ${this.compacted.term}`,
      )
    if (this.compacted.index > this.snapshotIndex || this.snapshotIndex > this.lastIndex)
      throw new Error(
        `invariant: compacted ${this.compacted.index} <= snapshot ${this.snapshotIndex} <= last ${this.lastIndex} fails`,
      )
  }

  private saveHardState(): void {
    const hard: HardState = { term: this.term, votedFor: this.vote }
    this.storage.put(HARD_STATE_KEY, hard)
  }
}
