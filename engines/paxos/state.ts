/**
 * The durable part of a classic Paxos replica: per instance `key[idx]`, the acceptor's promised ballot
 * and its vote (Paxos Made Simple 2.2: "an acceptor must remember the highest-numbered proposal it has
 * ever accepted and the number of the highest-numbered prepare request to which it has responded"), and
 * the learner's decided values, kept per key (a key's instances form its own sequence).
 *
 * Every mutation writes through to storage in the same handler, so it is durable before any message the
 * handler sends (persist, then send). A decided value replaces the instance's acceptor state: once
 * decided, the instance answers every prepare and accept with the decision instead.
 */
import { type Ballot, compareBallots, ZERO_BALLOT } from '../core/ballot.ts'
import type { Storage } from '../core/engine.ts'
import { slotKey, slotOfKey } from '../core/slot-key.ts'
import { type SlotValue, sameSlotValue } from './messages.ts'

const IDX_DIGITS = 12

/** One instance's acceptor state. */
export interface AcceptorSlot<V = SlotValue> {
  readonly promised: Ballot
  readonly accepted: { readonly ballot: Ballot; readonly value: V } | null
}

const EMPTY_SLOT: AcceptorSlot<never> = Object.freeze({ promised: ZERO_BALLOT, accepted: null })

/** One key's decided instances. */
export interface KeyLog<V = SlotValue> {
  readonly decided: Map<number, V>
  /** every idx below this is decided */
  prefix: number
  /** the highest decided idx, -1 when none */
  maxDecided: number
}

/** The map key of an instance: idx first (digits, no '/'), so a key with '/' in it parses back. */
export function instanceId(key: string, idx: number): string {
  return `${idx}/${key}`
}

function parseInstanceId(id: string): { key: string; idx: number } {
  const slash = id.indexOf('/')
  return { idx: Number(id.slice(0, slash)), key: id.slice(slash + 1) }
}

/** `<root>acc/<idx, 12 digits>/<key>`: the idx is fixed width, so any key (with '/' too) parses back. */
function storageKey(prefix: string, key: string, idx: number): string {
  return `${slotKey(prefix, idx)}/${key}`
}

function parseStorageKey(prefix: string, stored: string): { key: string; idx: number } {
  const idx = slotOfKey(prefix, stored.slice(0, prefix.length + IDX_DIGITS))
  if (stored[prefix.length + IDX_DIGITS] !== '/') throw new Error(`corrupt storage key ${stored}`)
  return { key: stored.slice(prefix.length + IDX_DIGITS + 1), idx }
}

/**
 * Per-key sequences of single-decree instances, durable under `<root>acc/` (acceptor state of undecided
 * instances) and `<root>dec/` (decided values). Shared by classic Paxos (here) and Fast Paxos
 * (engines/fastpaxos/state.ts), which add their own phase 2b rule. `V` is what an instance decides:
 * one command (classic Paxos) or a batch (Fast Paxos); `sameValue` compares two of them.
 */
export class InstanceState<V = SlotValue> {
  /** acceptor state of instances not decided here, by instanceId */
  private readonly acceptor = new Map<string, AcceptorSlot<V>>()
  private readonly logs = new Map<string, KeyLog<V>>()
  private readonly acceptorPrefix: string
  private readonly decidedPrefix: string

  protected constructor(
    private readonly storage: Storage,
    root: string,
    protected readonly sameValue: (a: V, b: V) => boolean,
  ) {
    this.acceptorPrefix = `${root}acc/`
    this.decidedPrefix = `${root}dec/`
  }

  /** Rebuilds the state from storage (first boot: empty). */
  protected reload(): void {
    for (const [stored, value] of this.storage.scan<V>(this.decidedPrefix)) {
      const { key, idx } = parseStorageKey(this.decidedPrefix, stored)
      this.markDecided(key, idx, value)
    }
    for (const [stored, slot] of this.storage.scan<AcceptorSlot<V>>(this.acceptorPrefix)) {
      const { key, idx } = parseStorageKey(this.acceptorPrefix, stored)
      if (this.decidedValue(key, idx) === undefined) this.acceptor.set(instanceId(key, idx), slot)
    }
  }

  /** Keys with at least one decided instance here. */
  keys(): string[] {
    return [...this.logs.keys()]
  }

  log(key: string): KeyLog<V> | undefined {
    return this.logs.get(key)
  }

  /** Every idx of `key` below this is decided here. */
  prefixOf(key: string): number {
    return this.logs.get(key)?.prefix ?? 0
  }

  /** The highest decided idx of `key` here (-1: none). */
  maxDecidedOf(key: string): number {
    return this.logs.get(key)?.maxDecided ?? -1
  }

  /** Undecided instances this acceptor holds state for. */
  openInstances(): Array<{ key: string; idx: number }> {
    return [...this.acceptor.keys()].map(parseInstanceId)
  }

  slot(key: string, idx: number): AcceptorSlot<V> {
    return this.acceptor.get(instanceId(key, idx)) ?? EMPTY_SLOT
  }

  decidedValue(key: string, idx: number): V | undefined {
    return this.logs.get(key)?.decided.get(idx)
  }

  /** Phase 1b: promise `ballot` if it is >= the instance's promise. Returns the vote to report, or null (refused). */
  promise(key: string, idx: number, ballot: Ballot): AcceptorSlot<V> | null {
    const current = this.slot(key, idx)
    if (compareBallots(ballot, current.promised) < 0) return null
    if (compareBallots(ballot, current.promised) > 0)
      this.write(key, idx, { promised: ballot, accepted: current.accepted })
    return this.slot(key, idx)
  }

  /** Records a decision (durably); false when known; throws when a different value was decided before. */
  decide(key: string, idx: number, value: V): boolean {
    const known = this.decidedValue(key, idx)
    if (known !== undefined) {
      if (!this.sameValue(known, value))
        throw new Error(`${key}[${idx}] decided twice with different values: safety violated`)
      return false
    }
    this.storage.put(storageKey(this.decidedPrefix, key, idx), value)
    if (this.acceptor.delete(instanceId(key, idx)))
      this.storage.delete(storageKey(this.acceptorPrefix, key, idx))
    this.markDecided(key, idx, value)
    return true
  }

  /** Decided instances of `key` in [from, to), ascending, at most limit of them. */
  decidedIn(key: string, from: number, to: number, limit: number): Array<{ idx: number; value: V }> {
    const out: Array<{ idx: number; value: V }> = []
    const log = this.logs.get(key)
    if (log === undefined) return out
    const end = Math.min(to, log.maxDecided + 1)
    for (let idx = Math.max(0, from); idx < end && out.length < limit; idx++) {
      const value = log.decided.get(idx)
      if (value !== undefined) out.push({ idx, value })
    }
    return out
  }

  assertInvariants(): void {
    // cheap checks (this runs after every event): each key's prefix is decided up to its end and maximal
    for (const [key, log] of this.logs) {
      if (log.prefix > 0 && !log.decided.has(log.prefix - 1))
        throw new Error(`${key}[${log.prefix - 1}] below the decided prefix is not decided`)
      if (log.decided.has(log.prefix)) throw new Error(`${key}: decided prefix ${log.prefix} is not maximal`)
      if (log.maxDecided < log.prefix - 1) throw new Error(`${key}: highest decided idx below the prefix`)
    }
    // acceptor state is only kept for undecided instances, which a live cluster keeps few of
    for (const [id, a] of this.acceptor) {
      const { key, idx } = parseInstanceId(id)
      if (this.decidedValue(key, idx) !== undefined)
        throw new Error(`instance ${id} has acceptor state after its decision`)
      if (a.accepted !== null && compareBallots(a.accepted.ballot, a.promised) > 0)
        throw new Error(`instance ${id}: accepted a ballot above the promise`)
    }
  }

  protected write(key: string, idx: number, next: AcceptorSlot<V>): void {
    this.acceptor.set(instanceId(key, idx), next)
    this.storage.put(storageKey(this.acceptorPrefix, key, idx), next)
  }

  private markDecided(key: string, idx: number, value: V): void {
    let log = this.logs.get(key)
    if (log === undefined) {
      log = { decided: new Map(), prefix: 0, maxDecided: -1 }
      this.logs.set(key, log)
    }
    log.decided.set(idx, value)
    if (idx > log.maxDecided) log.maxDecided = idx
    while (log.decided.has(log.prefix)) log.prefix++
  }
}

/** Classic Paxos's acceptor and learner state: one proposer per ballot, so one value per ballot. */
export class PaxosState extends InstanceState<SlotValue> {
  private constructor(storage: Storage) {
    super(storage, 'px/', sameSlotValue)
  }

  /** Rebuilds the state from storage (first boot: empty). */
  static load(storage: Storage): PaxosState {
    const state = new PaxosState(storage)
    state.reload()
    return state
  }

  override promise(key: string, idx: number, ballot: Ballot): AcceptorSlot | null {
    this.assertUndecided(key, idx)
    return super.promise(key, idx, ballot)
  }

  /** Phase 2b: vote for (ballot, value) if ballot >= the instance's promise. Returns false when refused. */
  accept(key: string, idx: number, ballot: Ballot, value: SlotValue): boolean {
    this.assertUndecided(key, idx)
    const current = this.slot(key, idx)
    if (compareBallots(ballot, current.promised) < 0) return false
    const prior = current.accepted
    if (prior !== null && compareBallots(prior.ballot, ballot) === 0 && !sameSlotValue(prior.value, value))
      throw new Error(`${key}[${idx}]: two values proposed at one ballot ${ballot.round}.${ballot.node}`)
    this.write(key, idx, { promised: ballot, accepted: { ballot, value } })
    return true
  }

  private assertUndecided(key: string, idx: number): void {
    if (this.decidedValue(key, idx) !== undefined)
      throw new Error(`internal: acceptor asked about decided instance ${key}[${idx}]`)
  }
}
