/**
 * Classic Paxos messages. Every key has its own sequence of single-decree Paxos instances
 * `key[0], key[1], ...`, so every protocol message names its key and index; ballots are per instance.
 * Messages are plain data (the runtime encodes them).
 */
import type { Ballot } from '../core/ballot.ts'
import type { Command } from '../core/command.ts'

/** What an instance decides: one client command, or a no-op that fills an instance whose proposer vanished. */
export type SlotValue = { readonly kind: 'cmd'; readonly cmd: Command } | { readonly kind: 'noop' }

export const NOOP: SlotValue = Object.freeze({ kind: 'noop' })

/** An acceptor's vote in one instance: the ballot it accepted and the value. */
export interface Vote {
  readonly ballot: Ballot
  readonly value: SlotValue
}

/** Phase 1a (Paxos Made Simple 2.2, "prepare request") in instance `key[idx]`. */
export interface PrepareMsg {
  readonly type: 'prepare'
  readonly key: string
  readonly idx: number
  readonly ballot: Ballot
}

/** Phase 1b: the promise, with the acceptor's highest-ballot vote in that instance (null: none). */
export interface PromiseMsg {
  readonly type: 'promise'
  readonly key: string
  readonly idx: number
  readonly ballot: Ballot
  readonly accepted: Vote | null
  /** the highest idx of this key the acceptor has heard of: a proposer picks its next idx above it */
  readonly maxIdx: number
}

/** Phase 2a ("accept request"). */
export interface AcceptMsg {
  readonly type: 'accept'
  readonly key: string
  readonly idx: number
  readonly ballot: Ballot
  readonly value: SlotValue
}

/** Phase 2b: the acceptor accepted (voted). */
export interface AcceptedMsg {
  readonly type: 'accepted'
  readonly key: string
  readonly idx: number
  readonly ballot: Ballot
}

/** A refused prepare or accept: the acceptor promised a higher ballot in this instance (preemption). */
export interface NackMsg {
  readonly type: 'nack'
  readonly key: string
  readonly idx: number
  readonly ballot: Ballot
  readonly promised: Ballot
  readonly maxIdx: number
}

/** The instance is decided (Paxos Made Simple 2.3, "learning a chosen value"): sent to every learner. */
export interface DecideMsg {
  readonly type: 'decide'
  readonly key: string
  readonly idx: number
  readonly value: SlotValue
}

/** [key, decided prefix length of the key's sequence, highest decided idx of the key] */
export type SyncEntry = readonly [string, number, number]

/**
 * Periodic: how far some of the sender's per-key sequences are decided (a cursor walks the keys,
 * syncBatchKeys at a time), so a learner that missed a decide finds out.
 */
export interface SyncMsg {
  readonly type: 'sync'
  readonly entries: SyncEntry[]
}

/** A learner asks for the decided instances of `key` in [fromIdx, toIdx). */
export interface CatchupRequestMsg {
  readonly type: 'catchup-request'
  readonly key: string
  readonly fromIdx: number
  readonly toIdx: number
}

export interface DecidedEntry {
  readonly idx: number
  readonly value: SlotValue
}

export interface CatchupReplyMsg {
  readonly type: 'catchup-reply'
  readonly key: string
  /** the decided instances the responder has in the asked range, ascending, at most catchupBatchSlots */
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

/** Deep equality of values: two different values decided in one instance is the safety bug. */
export function sameSlotValue(a: SlotValue, b: SlotValue): boolean {
  if (a.kind === 'noop' || b.kind === 'noop') return a.kind === b.kind
  const x = a.cmd
  const y = b.cmd
  if (x.id.client !== y.id.client || x.id.seq !== y.id.seq || x.op !== y.op || x.key !== y.key) return false
  return x.op === 'get' || (y.op === 'put' && x.value === y.value)
}
