/**
 * The durable part of a Multi-Paxos replica: the acceptor's promise and votes (PMMC's Acceptor state:
 * ballot_num and accepted pvalues) and the learner's chosen values (PMMC's Replica `decisions`).
 *
 * Every mutation writes through to storage in the same handler, so it is durable before any message the
 * handler sends (the runtime's persist-then-send rule). A chosen value replaces the slot's vote: once a
 * value is chosen it is the only one a later leader may propose, so reporting it as chosen is stronger
 * than reporting the vote.
 *
 * Log compaction: a snapshot holds the state machine after executing every slot below `snapshotIndex`
 * (all chosen). Chosen values are held from `firstSlot` on: a new snapshot discards them only below the
 * previous snapshot's index, so the last interval stays and a replica a little behind is caught up with
 * slots, not the whole state. So firstSlot <= snapshotIndex <= chosenPrefix. Crash safety: the snapshot
 * record (state, index and firstSlot) is written before the values it covers are deleted; `load` ignores
 * (and deletes) chosen values and votes below the record's bounds, which a crash in between left.
 */
import { type Ballot, compareBallots, ZERO_BALLOT } from '../core/ballot.ts'
import type { KvSnapshot, Storage } from '../core/engine.ts'
import { slotKey, slotOfKey } from '../core/slot-key.ts'
import type { MultiPaxosTestFault } from './config.ts'
import { type AcceptedEntry, type ChosenEntry, type SlotValue, sameSlotValue } from './messages.ts'

const PROMISED_KEY = 'mp/promised'
const ACCEPTED_PREFIX = 'mp/acc/'
const CHOSEN_PREFIX = 'mp/chosen/'
const SNAPSHOT_KEY = 'mp/snapshot'

/** A snapshot: the state machine after executing every slot below `index`. */
export interface PaxosSnapshot {
  readonly index: number
  readonly state: KvSnapshot
}

/** What `mp/snapshot` holds: the snapshot, and the first slot whose chosen value is still held. */
interface SnapshotRecord extends PaxosSnapshot {
  readonly firstSlot: number
}

interface Vote {
  readonly ballot: Ballot
  readonly value: SlotValue
}

export class PaxosLog {
  private promisedBallot: Ballot = ZERO_BALLOT
  /** votes for slots not known chosen */
  private readonly votes = new Map<number, Vote>()
  private readonly chosenValues = new Map<number, SlotValue>()
  /** every slot below this is chosen and its value known here (held from firstSlot on) */
  private prefix = 0
  /** the latest snapshot (null: none) */
  private snap: PaxosSnapshot | null = null
  /** chosen values below this slot were discarded (they are in the snapshot) */
  private first = 0

  private constructor(
    private readonly storage: Storage,
    private readonly fault: MultiPaxosTestFault,
  ) {}

  /** Rebuilds the log from storage (first boot: empty). */
  static load(storage: Storage, fault: MultiPaxosTestFault): PaxosLog {
    const log = new PaxosLog(storage, fault)
    log.promisedBallot = storage.get<Ballot>(PROMISED_KEY) ?? ZERO_BALLOT
    const record = storage.get<SnapshotRecord>(SNAPSHOT_KEY)
    if (record !== undefined) {
      log.snap = { index: record.index, state: record.state }
      log.first = record.firstSlot
      log.prefix = record.index
    }
    for (const [key, value] of storage.scan<SlotValue>(CHOSEN_PREFIX)) {
      const slot = slotOfKey(CHOSEN_PREFIX, key)
      // below firstSlot: a crash came between storing the snapshot and deleting these
      if (slot < log.first) storage.delete(key)
      else log.chosenValues.set(slot, value)
    }
    for (const [key, vote] of storage.scan<Vote>(ACCEPTED_PREFIX)) {
      const slot = slotOfKey(ACCEPTED_PREFIX, key)
      if (slot < log.prefix)
        storage.delete(key) // covered by the snapshot (chosen): the vote is moot
      else if (!log.chosenValues.has(slot)) log.votes.set(slot, vote)
    }
    log.advancePrefix()
    return log
  }

  get promised(): Ballot {
    return this.promisedBallot
  }

  get chosenPrefix(): number {
    return this.prefix
  }

  /** every slot below this is in the snapshot (0: no snapshot) */
  get snapshotIndex(): number {
    return this.snap?.index ?? 0
  }

  get snapshot(): PaxosSnapshot | null {
    return this.snap
  }

  /** chosen values are held from this slot on; below it they were compacted into the snapshot */
  get firstSlot(): number {
    return this.first
  }

  /** Whether `slot` is known chosen here, with its value held or compacted away. */
  isChosen(slot: number): boolean {
    return slot < this.first || this.chosenValues.has(slot)
  }

  /** Raises the promise (never lowers it). */
  promise(ballot: Ballot): void {
    if (compareBallots(ballot, this.promisedBallot) <= 0) return
    this.promisedBallot = ballot
    this.storage.put(PROMISED_KEY, ballot)
  }

  /** Records a vote; the caller has checked ballot >= promised and that the slot is not chosen. */
  accept(slot: number, ballot: Ballot, value: SlotValue): void {
    if (compareBallots(ballot, this.promisedBallot) < 0)
      throw new Error(`internal: accept at ${slot} below the promise`)
    if (this.chosenValues.has(slot)) throw new Error(`internal: vote for chosen slot ${slot}`)
    this.promise(ballot)
    const vote: Vote = { ballot, value }
    this.votes.set(slot, vote)
    // TEST-ONLY fault: answer phase 2 with the vote held only in memory; a crash forgets it.
    if (this.fault !== 'skip-accept-persist') this.storage.put(slotKey(ACCEPTED_PREFIX, slot), vote)
  }

  vote(slot: number): Vote | undefined {
    return this.votes.get(slot)
  }

  /** Votes for slots not known chosen, in no particular order. */
  allVotes(): IterableIterator<[number, Vote]> {
    return this.votes.entries()
  }

  chosen(slot: number): SlotValue | undefined {
    return this.chosenValues.get(slot)
  }

  /**
   * Records that `value` is chosen at `slot`. Returns false when it was already known. Throws when a
   * different value was known chosen there: that is a safety violation, never a recoverable state.
   */
  markChosen(slot: number, value: SlotValue): boolean {
    if (slot < this.first) return false // compacted: chosen, its value in the snapshot
    const known = this.chosenValues.get(slot)
    if (known !== undefined) {
      if (!sameSlotValue(known, value))
        throw new Error(`safety: slot ${slot} chosen with two values ${JSON.stringify([known, value])}`)
      return false
    }
    this.chosenValues.set(slot, value)
    this.storage.put(slotKey(CHOSEN_PREFIX, slot), value)
    if (this.votes.delete(slot)) this.storage.delete(slotKey(ACCEPTED_PREFIX, slot))
    this.advancePrefix()
    return true
  }

  /** What a promise reports: votes and chosen values at or above max(fromSlot, chosenPrefix). */
  promiseContent(fromSlot: number): { accepted: AcceptedEntry[]; chosen: ChosenEntry[] } {
    const from = Math.max(fromSlot, this.prefix)
    const accepted: AcceptedEntry[] = []
    for (const [slot, vote] of this.votes) {
      if (slot >= from) accepted.push({ slot, ballot: vote.ballot, value: vote.value })
    }
    const chosen: ChosenEntry[] = []
    for (const [slot, value] of this.chosenValues) {
      if (slot >= from) chosen.push({ slot, value })
    }
    return { accepted, chosen }
  }

  /** Consecutive chosen entries from fromSlot, below toSlot, at most `limit`. */
  chosenRun(fromSlot: number, toSlot: number, limit: number): ChosenEntry[] {
    const entries: ChosenEntry[] = []
    for (let slot = fromSlot; slot < toSlot && entries.length < limit; slot++) {
      const value = this.chosenValues.get(slot)
      if (value === undefined) break
      entries.push({ slot, value })
    }
    return entries
  }

  /**
   * Takes a snapshot of the executed prefix (every slot below `index`, chosen): stores it, then discards
   * the chosen values below the previous snapshot's index (the last interval stays).
   */
  compact(index: number, state: KvSnapshot): void {
    if (index <= this.snapshotIndex || index > this.prefix)
      throw new RangeError(
        `internal: snapshot at ${index} (snapshot ${this.snapshotIndex}, prefix ${this.prefix})`,
      )
    this.save({ index, state }, this.snapshotIndex)
  }

  /**
   * A snapshot from another replica, beyond our chosen prefix: every slot below its index is chosen.
   * Stores it, then discards every chosen value and vote below its index.
   */
  installSnapshot(snap: PaxosSnapshot): void {
    if (snap.index <= this.prefix)
      throw new RangeError(`internal: install snapshot ${snap.index} at or below the prefix ${this.prefix}`)
    this.save(snap, snap.index)
    for (const slot of [...this.votes.keys()]) {
      if (slot >= snap.index) continue
      this.votes.delete(slot)
      this.storage.delete(slotKey(ACCEPTED_PREFIX, slot))
    }
    this.prefix = snap.index
    this.advancePrefix()
  }

  private save(snap: PaxosSnapshot, firstSlot: number): void {
    const record: SnapshotRecord = { ...snap, firstSlot }
    this.storage.put(SNAPSHOT_KEY, record) // before the deletes below (writes apply in order)
    for (const slot of [...this.chosenValues.keys()]) {
      if (slot >= firstSlot) continue
      this.chosenValues.delete(slot)
      this.storage.delete(slotKey(CHOSEN_PREFIX, slot))
    }
    this.snap = snap
    this.first = firstSlot
  }

  assertInvariants(): void {
    if (this.first > this.snapshotIndex || this.snapshotIndex > this.prefix)
      throw new Error(
        `invariant: firstSlot ${this.first} <= snapshot ${this.snapshotIndex} <= prefix ${this.prefix} fails`,
      )
    // cheap ends-only checks: the simulator calls this after every event
    if (
      this.first < this.prefix &&
      !(this.chosenValues.has(this.first) && this.chosenValues.has(this.prefix - 1))
    )
      throw new Error(`invariant: chosen values ${this.first}..${this.prefix - 1} not all held`)
    if (this.chosenValues.has(this.first - 1))
      throw new Error(`invariant: chosen value held below firstSlot ${this.first}`)
    for (const [slot, vote] of this.votes) {
      if (compareBallots(vote.ballot, this.promisedBallot) > 0)
        throw new Error(`invariant: vote at slot ${slot} above the promised ballot`)
      if (this.isChosen(slot) || slot < this.prefix)
        throw new Error(`invariant: vote kept for chosen slot ${slot}`)
    }
    if (this.chosenValues.has(this.prefix)) throw new Error('invariant: chosen prefix not advanced')
  }

  private advancePrefix(): void {
    while (this.chosenValues.has(this.prefix)) this.prefix++
  }
}
