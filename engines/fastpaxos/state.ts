/**
 * The durable part of a Fast Paxos replica: per instance (key, idx), the acceptor's promised ballot and
 * its vote, and the learner's decided values (per key). Every mutation writes through to storage in the
 * same handler, so it is durable before any message the handler sends (persist, then send). A decided
 * instance drops its acceptor state and answers every later message with the decision.
 */
import { type Ballot, compareBallots, ZERO_BALLOT } from '../core/ballot.ts'
import type { Storage } from '../core/engine.ts'
import { slotKey, slotOfKey } from '../core/slot-key.ts'
import { type FpValue, type FpVote, sameValue } from './messages.ts'

const ACCEPTOR_PREFIX = 'fp/acc/'
const DECIDED_PREFIX = 'fp/dec/'
const IDX_DIGITS = 12

export interface AcceptorSlot {
  readonly promised: Ballot
  readonly accepted: FpVote | null
}

const EMPTY_SLOT: AcceptorSlot = Object.freeze({ promised: ZERO_BALLOT, accepted: null })

/** One key's decided instances. */
export interface KeyLog {
  readonly decided: Map<number, FpValue>
  /** every idx below this is decided */
  prefix: number
  /** highest decided idx, -1 when none */
  maxDecided: number
}

/** The map key of an instance: idx first (digits, no '/'), so a key with '/' in it parses back. */
export function instanceId(key: string, idx: number): string {
  return `${idx}/${key}`
}

function storageKey(prefix: string, key: string, idx: number): string {
  return `${slotKey(prefix, idx)}/${key}`
}

function parseStorageKey(prefix: string, stored: string): { key: string; idx: number } {
  const idx = slotOfKey(prefix, stored.slice(0, prefix.length + IDX_DIGITS))
  if (stored[prefix.length + IDX_DIGITS] !== '/') throw new Error(`corrupt storage key ${stored}`)
  return { key: stored.slice(prefix.length + IDX_DIGITS + 1), idx }
}

export type VoteResult = 'voted' | 'same' | 'refused'

export class FastPaxosState {
  private readonly acceptor = new Map<string, AcceptorSlot>()
  private readonly logs = new Map<string, KeyLog>()
  private decidedCount = 0

  private constructor(private readonly storage: Storage) {}

  static load(storage: Storage): FastPaxosState {
    const state = new FastPaxosState(storage)
    for (const [stored, value] of storage.scan<FpValue>(DECIDED_PREFIX)) {
      const { key, idx } = parseStorageKey(DECIDED_PREFIX, stored)
      state.markDecided(key, idx, value)
    }
    for (const [stored, slot] of storage.scan<AcceptorSlot>(ACCEPTOR_PREFIX)) {
      const { key, idx } = parseStorageKey(ACCEPTOR_PREFIX, stored)
      if (state.decidedValue(key, idx) === undefined) state.acceptor.set(instanceId(key, idx), slot)
    }
    return state
  }

  /** Undecided instances this acceptor holds state for (to watch them after a restart). */
  openInstances(): Array<{ key: string; idx: number }> {
    return [...this.acceptor.keys()].map((id) => {
      const slash = id.indexOf('/')
      return { idx: Number(id.slice(0, slash)), key: id.slice(slash + 1) }
    })
  }

  log(key: string): KeyLog | undefined {
    return this.logs.get(key)
  }

  keys(): string[] {
    return [...this.logs.keys()]
  }

  get totalDecided(): number {
    return this.decidedCount
  }

  slot(key: string, idx: number): AcceptorSlot {
    return this.acceptor.get(instanceId(key, idx)) ?? EMPTY_SLOT
  }

  decidedValue(key: string, idx: number): FpValue | undefined {
    return this.logs.get(key)?.decided.get(idx)
  }

  /** Phase 1b: promise `ballot` if >= the promise; returns the state to report, or null (refused). */
  promise(key: string, idx: number, ballot: Ballot): AcceptorSlot | null {
    const current = this.slot(key, idx)
    if (compareBallots(ballot, current.promised) < 0) return null
    if (compareBallots(ballot, current.promised) > 0)
      this.write(key, idx, { promised: ballot, accepted: current.accepted })
    return this.slot(key, idx)
  }

  /**
   * Phase 2b: vote (ballot, value) if ballot >= the promise and no vote was cast in this ballot yet.
   * In a fast round several proposers send different values at the one ballot: the acceptor votes for
   * the first and refuses the rest ('refused'); 'same' is a retransmission of the value it voted for.
   */
  vote(key: string, idx: number, ballot: Ballot, value: FpValue): VoteResult {
    const current = this.slot(key, idx)
    if (compareBallots(ballot, current.promised) < 0) return 'refused'
    const prior = current.accepted
    if (prior !== null && compareBallots(prior.ballot, ballot) === 0)
      return sameValue(prior.value, value) ? 'same' : 'refused'
    this.write(key, idx, { promised: ballot, accepted: { ballot, value } })
    return 'voted'
  }

  /** Records a decision durably; false when known; throws when a different value was decided before. */
  decide(key: string, idx: number, value: FpValue): boolean {
    const known = this.decidedValue(key, idx)
    if (known !== undefined) {
      if (!sameValue(known, value))
        throw new Error(`instance ${key}[${idx}] decided twice with different values: safety violated`)
      return false
    }
    this.storage.put(storageKey(DECIDED_PREFIX, key, idx), value)
    if (this.acceptor.delete(instanceId(key, idx))) this.storage.delete(storageKey(ACCEPTOR_PREFIX, key, idx))
    this.markDecided(key, idx, value)
    return true
  }

  /** Decided instances of a key from fromIdx on, ascending, at most limit of them. */
  decidedFrom(key: string, fromIdx: number, limit: number): Array<{ idx: number; value: FpValue }> {
    const log = this.logs.get(key)
    const out: Array<{ idx: number; value: FpValue }> = []
    if (log === undefined) return out
    for (let idx = Math.max(0, fromIdx); idx <= log.maxDecided && out.length < limit; idx++) {
      const value = log.decided.get(idx)
      if (value !== undefined) out.push({ idx, value })
    }
    return out
  }

  assertInvariants(): void {
    for (const [id, a] of this.acceptor) {
      if (a.accepted !== null && compareBallots(a.accepted.ballot, a.promised) > 0)
        throw new Error(`instance ${id}: accepted a ballot above the promise`)
    }
  }

  private write(key: string, idx: number, next: AcceptorSlot): void {
    this.acceptor.set(instanceId(key, idx), next)
    this.storage.put(storageKey(ACCEPTOR_PREFIX, key, idx), next)
  }

  private markDecided(key: string, idx: number, value: FpValue): void {
    let log = this.logs.get(key)
    if (log === undefined) {
      log = { decided: new Map(), prefix: 0, maxDecided: -1 }
      this.logs.set(key, log)
    }
    log.decided.set(idx, value)
    this.decidedCount++
    if (idx > log.maxDecided) log.maxDecided = idx
    while (log.decided.has(log.prefix)) log.prefix++
  }
}
