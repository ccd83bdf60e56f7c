/**
 * Classic Paxos messages. Every instance (log slot) is a separate single-decree Paxos, so every
 * protocol message names its slot; ballots are per slot. Messages are plain data (the runtime encodes
 * them).
 */
import type { Ballot } from '../core/ballot.ts'
import type { Command } from '../core/command.ts'

/** What a slot decides: one client command, or a no-op that fills a slot whose proposer vanished. */
export type SlotValue = { readonly kind: 'cmd'; readonly cmd: Command } | { readonly kind: 'noop' }

export const NOOP: SlotValue = Object.freeze({ kind: 'noop' })

/** An acceptor's vote in one slot: the ballot it accepted and the value. */
export interface Vote {
  readonly ballot: Ballot
  readonly value: SlotValue
}

/** Phase 1a (Paxos Made Simple 2.2, "prepare request"). */
export interface PrepareMsg {
  readonly type: 'prepare'
  readonly slot: number
  readonly ballot: Ballot
}

/** Phase 1b: the promise, with the acceptor's highest-ballot vote in that slot (null: none). */
export interface PromiseMsg {
  readonly type: 'promise'
  readonly slot: number
  readonly ballot: Ballot
  readonly accepted: Vote | null
  /** the highest slot the acceptor has heard of: a proposer picks its next slot above it */
  readonly maxSlot: number
}

/** Phase 2a ("accept request"). */
export interface AcceptMsg {
  readonly type: 'accept'
  readonly slot: number
  readonly ballot: Ballot
  readonly value: SlotValue
}

/** Phase 2b: the acceptor accepted (voted). */
export interface AcceptedMsg {
  readonly type: 'accepted'
  readonly slot: number
  readonly ballot: Ballot
}

/** A refused prepare or accept: the acceptor promised a higher ballot in this slot (preemption). */
export interface NackMsg {
  readonly type: 'nack'
  readonly slot: number
  readonly ballot: Ballot
  readonly promised: Ballot
  readonly maxSlot: number
}

/** The slot is decided (Paxos Made Simple 2.3, "learning a chosen value"): sent to every learner. */
export interface DecideMsg {
  readonly type: 'decide'
  readonly slot: number
  readonly value: SlotValue
}

/** Periodic: how far the sender's log is decided, so a learner that missed a decide finds out. */
export interface SyncMsg {
  readonly type: 'sync'
  /** every slot below this is decided at the sender */
  readonly chosenPrefix: number
  /** the highest slot decided at the sender (-1: none) */
  readonly maxChosen: number
}

/** A learner asks for decided slots in [fromSlot, toSlot). */
export interface CatchupRequestMsg {
  readonly type: 'catchup-request'
  readonly fromSlot: number
  readonly toSlot: number
}

export interface DecidedEntry {
  readonly slot: number
  readonly value: SlotValue
}

export interface CatchupReplyMsg {
  readonly type: 'catchup-reply'
  /** the decided slots the responder has in the asked range, ascending, at most catchupBatchSlots */
  readonly entries: DecidedEntry[]
}

export type PaxosMessage =
  | PrepareMsg
  | PromiseMsg
  | AcceptMsg
  | AcceptedMsg
  | NackMsg
  | DecideMsg
  | SyncMsg
  | CatchupRequestMsg
  | CatchupReplyMsg

/** Deep equality of slot values: two different values decided in one slot is the safety bug. */
export function sameSlotValue(a: SlotValue, b: SlotValue): boolean {
  if (a.kind === 'noop' || b.kind === 'noop') return a.kind === b.kind
  const x = a.cmd
  const y = b.cmd
  if (x.id.client !== y.id.client || x.id.seq !== y.id.seq || x.op !== y.op || x.key !== y.key) return false
  return x.op === 'get' || (y.op === 'put' && x.value === y.value)
}
