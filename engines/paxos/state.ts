/**
 * The durable part of a classic Paxos replica: per slot, the acceptor's promised ballot and its vote
 * (Paxos Made Simple 2.2: "an acceptor must remember the highest-numbered proposal it has ever accepted
 * and the number of the highest-numbered prepare request to which it has responded"), and the learner's
 * decided values.
 *
 * Every mutation writes through to storage in the same handler, so it is durable before any message the
 * handler sends (persist, then send). A decided value replaces the slot's acceptor state: once decided,
 * the slot answers every prepare and accept with the decision instead.
 */
import { type Ballot, compareBallots, ZERO_BALLOT } from '../core/ballot.ts'
import type { Storage } from '../core/engine.ts'
import { slotKey, slotOfKey } from '../core/slot-key.ts'
import { type SlotValue, sameSlotValue, type Vote } from './messages.ts'

const ACCEPTOR_PREFIX = 'px/acc/'
const DECIDED_PREFIX = 'px/dec/'

/** One slot's acceptor state. */
export interface AcceptorSlot {
  readonly promised: Ballot
  readonly accepted: Vote | null
}

const EMPTY_SLOT: AcceptorSlot = Object.freeze({ promised: ZERO_BALLOT, accepted: null })

export class PaxosState {
  /** acceptor state of slots not decided here */
  private readonly acceptor = new Map<number, AcceptorSlot>()
  private readonly decided = new Map<number, SlotValue>()
  /** every slot below this is decided here */
  private prefix = 0
  /** the highest decided slot here, -1 when none */
  private maxDecidedSlot = -1

  private constructor(private readonly storage: Storage) {}

  /** Rebuilds the state from storage (first boot: empty). */
  static load(storage: Storage): PaxosState {
    const state = new PaxosState(storage)
    for (const [key, value] of storage.scan<SlotValue>(DECIDED_PREFIX))
      state.markDecided(slotOfKey(DECIDED_PREFIX, key), value)
    for (const [key, slot] of storage.scan<AcceptorSlot>(ACCEPTOR_PREFIX)) {
      const n = slotOfKey(ACCEPTOR_PREFIX, key)
      if (!state.decided.has(n)) state.acceptor.set(n, slot)
    }
    return state
  }

  get chosenPrefix(): number {
    return this.prefix
  }

  get maxDecided(): number {
    return this.maxDecidedSlot
  }

  /** The highest slot this state knows anything about (-1: none). */
  get maxSlot(): number {
    let max = this.maxDecidedSlot
    for (const slot of this.acceptor.keys()) if (slot > max) max = slot
    return max
  }

  slot(slot: number): AcceptorSlot {
    return this.acceptor.get(slot) ?? EMPTY_SLOT
  }

  decidedValue(slot: number): SlotValue | undefined {
    return this.decided.get(slot)
  }

  /** Phase 1b: promise `ballot` if it is >= the slot's promise. Returns the vote to report, or null (refused). */
  promise(slot: number, ballot: Ballot): AcceptorSlot | null {
    this.assertUndecided(slot)
    const current = this.slot(slot)
    if (compareBallots(ballot, current.promised) < 0) return null
    if (compareBallots(ballot, current.promised) > 0)
      this.write(slot, { promised: ballot, accepted: current.accepted })
    return this.slot(slot)
  }

  /** Phase 2b: vote for (ballot, value) if ballot >= the slot's promise. Returns false when refused. */
  accept(slot: number, ballot: Ballot, value: SlotValue): boolean {
    this.assertUndecided(slot)
    const current = this.slot(slot)
    if (compareBallots(ballot, current.promised) < 0) return false
    const prior = current.accepted
    if (prior !== null && compareBallots(prior.ballot, ballot) === 0 && !sameSlotValue(prior.value, value))
      throw new Error(`slot ${slot}: two values proposed at one ballot ${ballot.round}.${ballot.node}`)
    this.write(slot, { promised: ballot, accepted: { ballot, value } })
    return true
  }

  /** Records a decision (durably); throws when a different value was decided in the slot before. */
  decide(slot: number, value: SlotValue): boolean {
    const known = this.decided.get(slot)
    if (known !== undefined) {
      if (!sameSlotValue(known, value))
        throw new Error(`slot ${slot} decided twice with different values: safety violated`)
      return false
    }
    this.storage.put(slotKey(DECIDED_PREFIX, slot), value)
    if (this.acceptor.delete(slot)) this.storage.delete(slotKey(ACCEPTOR_PREFIX, slot))
    this.markDecided(slot, value)
    return true
  }

  /** Decided slots in [from, to), ascending, at most limit of them. */
  decidedIn(from: number, to: number, limit: number): Array<{ slot: number; value: SlotValue }> {
    const out: Array<{ slot: number; value: SlotValue }> = []
    const end = Math.min(to, this.maxDecidedSlot + 1)
    for (let slot = from; slot < end && out.length < limit; slot++) {
      const value = this.decided.get(slot)
      if (value !== undefined) out.push({ slot, value })
    }
    return out
  }

  assertInvariants(): void {
    // cheap checks (this runs after every event): the prefix is decided up to its end and maximal
    if (this.prefix > 0 && !this.decided.has(this.prefix - 1))
      throw new Error(`slot ${this.prefix - 1} below the chosen prefix is not decided`)
    if (this.decided.size < this.prefix)
      throw new Error(`fewer decided slots than the chosen prefix ${this.prefix}`)
    if (this.decided.has(this.prefix)) throw new Error(`chosen prefix ${this.prefix} is not maximal`)
    // acceptor state is only kept for undecided slots, which a live cluster keeps few of
    for (const [slot, a] of this.acceptor) {
      if (this.decided.has(slot)) throw new Error(`slot ${slot} has acceptor state after its decision`)
      if (a.accepted !== null && compareBallots(a.accepted.ballot, a.promised) > 0)
        throw new Error(`slot ${slot}: accepted a ballot above the promise`)
    }
  }

  private write(slot: number, next: AcceptorSlot): void {
    this.acceptor.set(slot, next)
    this.storage.put(slotKey(ACCEPTOR_PREFIX, slot), next)
  }

  private assertUndecided(slot: number): void {
    if (this.decided.has(slot)) throw new Error(`internal: acceptor asked about decided slot ${slot}`)
  }

  private markDecided(slot: number, value: SlotValue): void {
    this.decided.set(slot, value)
    if (slot > this.maxDecidedSlot) this.maxDecidedSlot = slot
    while (this.decided.has(this.prefix)) this.prefix++
  }
}
