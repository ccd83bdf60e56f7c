/**
 * The durable part of a Multi-Paxos replica: the acceptor's promise and votes (PMMC's Acceptor state:
 * ballot_num and accepted pvalues) and the learner's chosen values (PMMC's Replica `decisions`).
 *
 * Every mutation writes through to storage in the same handler, so it is durable before any message the
 * handler sends (the runtime's persist-then-send rule). A chosen value replaces the slot's vote: once a
 * value is chosen it is the only one a later leader may propose, so reporting it as chosen is stronger
 * than reporting the vote.
 */
import { type Ballot, compareBallots, ZERO_BALLOT } from '../core/ballot.ts'
import type { Storage } from '../core/engine.ts'
import { slotKey, slotOfKey } from '../core/slot-key.ts'
import type { MultiPaxosTestFault } from './config.ts'
import { type AcceptedEntry, type ChosenEntry, type SlotValue, sameSlotValue } from './messages.ts'

const PROMISED_KEY = 'mp/promised'
const ACCEPTED_PREFIX = 'mp/acc/'
const CHOSEN_PREFIX = 'mp/chosen/'

interface Vote {
  readonly ballot: Ballot
  readonly value: SlotValue
}

export class PaxosLog {
  private promisedBallot: Ballot = ZERO_BALLOT
  /** votes for slots not known chosen */
  private readonly votes = new Map<number, Vote>()
  private readonly chosenValues = new Map<number, SlotValue>()
  /** every slot below this is chosen and its value known here */
  private prefix = 0

  private constructor(
    private readonly storage: Storage,
    private readonly fault: MultiPaxosTestFault,
  ) {}

  /** Rebuilds the log from storage (first boot: empty). */
  static load(storage: Storage, fault: MultiPaxosTestFault): PaxosLog {
    const log = new PaxosLog(storage, fault)
    log.promisedBallot = storage.get<Ballot>(PROMISED_KEY) ?? ZERO_BALLOT
    for (const [key, value] of storage.scan<SlotValue>(CHOSEN_PREFIX)) {
      log.chosenValues.set(slotOfKey(CHOSEN_PREFIX, key), value)
    }
    for (const [key, vote] of storage.scan<Vote>(ACCEPTED_PREFIX)) {
      const slot = slotOfKey(ACCEPTED_PREFIX, key)
      if (!log.chosenValues.has(slot)) log.votes.set(slot, vote)
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

  assertInvariants(): void {
    for (const [slot, vote] of this.votes) {
      if (compareBallots(vote.ballot, this.promisedBallot) > 0)
        throw new Error(`invariant: vote at slot ${slot} above the promised ballot`)
      if (this.chosenValues.has(slot)) throw new Error(`invariant: vote kept for chosen slot ${slot}`)
    }
    if (this.prefix > 0 && !this.chosenValues.has(this.prefix - 1))
      throw new Error('invariant: chosen prefix has a hole')
    if (this.chosenValues.has(this.prefix)) throw new Error('invariant: chosen prefix not advanced')
  }

  private advancePrefix(): void {
    while (this.chosenValues.has(this.prefix)) this.prefix++
  }
}
