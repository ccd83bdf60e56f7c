/**
 * Multi-Paxos messages and log values. Messages are plain data (the runtime encodes them); every message
 * that belongs to a leadership carries that leader's ballot, so a receiver can order it against what it
 * has promised.
 */
import type { Ballot } from '../core/ballot.ts'
import type { Command } from '../core/command.ts'
import type { KvSnapshot } from '../core/engine.ts'

/** What one slot of the log holds: a batch of client commands, or a no-op that fills a gap. */
export type SlotValue = { readonly kind: 'noop' } | { readonly kind: 'batch'; readonly commands: Command[] }

export const NOOP: SlotValue = Object.freeze({ kind: 'noop' })

/** An acceptor's vote for a slot: PMMC's pvalue <ballot, slot, command>. */
export interface AcceptedEntry {
  readonly slot: number
  readonly ballot: Ballot
  readonly value: SlotValue
}

export interface ChosenEntry {
  readonly slot: number
  readonly value: SlotValue
}

/** Phase 1a (PMMC: Scout -> Acceptor, "p1a"). Covers every slot >= fromSlot. */
export interface PrepareMsg {
  readonly type: 'prepare'
  readonly ballot: Ballot
  /** the candidate already knows every chosen value below this slot */
  readonly fromSlot: number
}

/** Phase 1b (PMMC: Acceptor -> Scout, "p1b"): a promise, with what this acceptor knows at and above `fromSlot`. */
export interface PromiseMsg {
  readonly type: 'promise'
  readonly ballot: Ballot
  /** every slot below this is chosen and known (with its value) at the promiser */
  readonly chosenPrefix: number
  /** accepted, not known chosen, at slots >= max(fromSlot, chosenPrefix) */
  readonly accepted: AcceptedEntry[]
  /** known chosen at slots >= max(fromSlot, chosenPrefix) */
  readonly chosen: ChosenEntry[]
}

/** Phase 2a (PMMC: Commander -> Acceptor, "p2a"), with the leader's commit index piggybacked. */
export interface AcceptMsg {
  readonly type: 'accept'
  readonly ballot: Ballot
  readonly slot: number
  readonly value: SlotValue
  readonly commitIndex: number
}

/** Phase 2b (PMMC: Acceptor -> Commander, "p2b") when the acceptor took the value. */
export interface AcceptedMsg {
  readonly type: 'accepted'
  readonly ballot: Ballot
  readonly slot: number
}

/** A refusal of a prepare or an accept: the acceptor has promised a higher ballot (PMMC's "preempted"). */
export interface NackMsg {
  readonly type: 'nack'
  readonly ballot: Ballot
  readonly promised: Ballot
}

/**
 * Commit notification (PMMC: "decision"), compact form: every slot below `commitIndex` is chosen, and
 * for each such slot where the leader of `ballot` sent an accept, the chosen value is that accept's value.
 * A receiver that accepted a slot at `ballot` learns it chosen; it fetches the rest by catch-up.
 */
export interface CommitMsg {
  readonly type: 'commit'
  readonly ballot: Ballot
  readonly commitIndex: number
}

/** The leader's periodic liveness signal; carries the commit index like CommitMsg. */
export interface HeartbeatMsg {
  readonly type: 'heartbeat'
  readonly ballot: Ballot
  readonly commitIndex: number
}

/**
 * A follower's answer to a heartbeat it accepted (`checkQuorum` only): the leader's ballot, which the
 * follower has promised. A leader that gets neither these nor accepted messages from a majority within
 * leaderTimeoutMsMin steps down (check-quorum).
 */
export interface HeartbeatAckMsg {
  readonly type: 'heartbeat-ack'
  readonly ballot: Ballot
}

/** A lagging or restarted replica asks for chosen values in [fromSlot, toSlot). */
export interface CatchupRequestMsg {
  readonly type: 'catchup-request'
  readonly fromSlot: number
  readonly toSlot: number
}

export interface CatchupReplyMsg {
  readonly type: 'catchup-reply'
  /** consecutive chosen slots starting at the request's fromSlot (possibly fewer than asked) */
  readonly entries: ChosenEntry[]
  /** the responder's own chosen prefix, so the requester knows how far it may ask */
  readonly chosenPrefix: number
}

/**
 * The answer to a catch-up request below the responder's first held slot (log compaction): its snapshot,
 * the state machine after executing every slot below `index`, in one message.
 */
export interface SnapshotMsg {
  readonly type: 'snapshot'
  readonly index: number
  readonly state: KvSnapshot
  /** the responder's own chosen prefix, as in CatchupReplyMsg */
  readonly chosenPrefix: number
}

/** Client commands that arrived at a non-leader, sent on to the leader it knows. */
export interface ForwardMsg {
  readonly type: 'forward'
  readonly commands: Command[]
}

export type MultiPaxosMessage =
  | PrepareMsg
  | PromiseMsg
  | AcceptMsg
  | AcceptedMsg
  | NackMsg
  | CommitMsg
  | HeartbeatMsg
  | HeartbeatAckMsg
  | CatchupRequestMsg
  | CatchupReplyMsg
  | SnapshotMsg
  | ForwardMsg

function sameCommand(a: Command, b: Command): boolean {
  if (a.id.client !== b.id.client || a.id.seq !== b.id.seq || a.op !== b.op || a.key !== b.key) return false
  return a.op === 'get' || (b.op === 'put' && a.value === b.value)
}

/** Deep equality of slot values: two different values chosen for one slot is the safety bug. */
export function sameSlotValue(a: SlotValue, b: SlotValue): boolean {
  if (a.kind === 'noop' || b.kind === 'noop') return a.kind === b.kind
  if (a.commands.length !== b.commands.length) return false
  return a.commands.every((cmd, i) => sameCommand(cmd, b.commands[i]!))
}

export function commandCount(value: SlotValue): number {
  return value.kind === 'noop' ? 0 : value.commands.length
}
