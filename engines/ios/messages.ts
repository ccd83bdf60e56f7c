/**
 * Ios messages. Log values, votes and chosen entries are Multi-Paxos's (a slot holds a batch of client
 * commands or a no-op); the ballot of view v is `viewBallot(v)`: round v + 1, owned by the master of v.
 * Every message that belongs to a view carries its ballot, so a receiver orders it against its promise.
 */
import type { Ballot } from '../core/ballot.ts'
import type { Command, NodeId } from '../core/command.ts'
import type { AcceptedEntry, ChosenEntry, SlotValue } from '../multipaxos/messages.ts'

export type { AcceptedEntry, ChosenEntry, SlotValue } from '../multipaxos/messages.ts'
export { commandCount, NOOP, sameSlotValue } from '../multipaxos/messages.ts'

/** The master of view v: node v mod N (Ios's fixed master order). */
export function masterOf(nodes: readonly NodeId[], view: number): NodeId {
  const node = nodes[view % nodes.length]
  if (node === undefined) throw new RangeError(`view ${view} has no master among ${nodes.length} nodes`)
  return node
}

/** The ballot of view v: above the zero ballot, ordered by view. */
export function viewBallot(nodes: readonly NodeId[], view: number): Ballot {
  return { round: view + 1, node: masterOf(nodes, view) }
}

/** The view a ballot belongs to (-1 for the zero ballot: no view yet). */
export function viewOf(ballot: Ballot): number {
  return ballot.round - 1
}

/** Client commands that arrived at a replica (the origin), sent on to the master for index assignment. */
export interface ForwardMsg {
  readonly type: 'forward'
  readonly commands: Command[]
  /** the sender's held commits for this master (CoordinateMsg.lazyAck), handled before the commands */
  readonly acks?: HeldAcks
}

/**
 * Commits a coordinator held for the master: the slots, and how long it held each (ms, by its own
 * clock), which the master takes off its coordinator latency (the hold says nothing about the coordinator).
 */
export interface HeldAcks {
  readonly ballot: Ballot
  readonly slots: number[]
  readonly heldMs: number[]
}

/** Master -> coordinator: run the accept phase for these slots at the master's ballot. */
export interface CoordinateMsg {
  readonly type: 'coordinate'
  readonly ballot: Ballot
  readonly entries: ChosenEntry[]
  /**
   * present and true: no client waits at the master for these slots, so the coordinator may hold the
   * master's commit up to masterAckDelayMs and send several together (the master's commit is its
   * acknowledgement; every other replica gets its commit at once)
   */
  readonly lazyAck?: true
}

/** Coordinator -> every acceptor (phase 2a at the view's ballot), with the sender's chosen prefix. */
export interface AcceptMsg {
  readonly type: 'accept'
  readonly ballot: Ballot
  readonly slot: number
  readonly value: SlotValue
  readonly commitIndex: number
}

/** Acceptor -> coordinator (phase 2b). */
export interface AcceptedMsg {
  readonly type: 'accepted'
  readonly ballot: Ballot
  readonly slot: number
}

/** A refusal: the receiver has promised a higher ballot. */
export interface NackMsg {
  readonly type: 'nack'
  readonly ballot: Ballot
  readonly promised: Ballot
}

/**
 * Coordinator -> every replica (learners, and the master, for whom it is the acknowledgement that frees
 * the window slot): these slots are chosen with the value the coordinator sent at `ballot`.
 */
export interface CommitMsg {
  readonly type: 'commit'
  readonly ballot: Ballot
  readonly slots: number[]
  /** held commits to the master (HeldAcks): how long the coordinator held each slot's, in order */
  readonly heldMs?: number[]
}

/** The master's liveness signal, with its chosen prefix (every slot below it is chosen). */
export interface HeartbeatMsg {
  readonly type: 'heartbeat'
  readonly ballot: Ballot
  readonly commitIndex: number
}

/** Recovery (phase 1a) by the master of a new view, for every slot >= fromSlot. */
export interface PrepareMsg {
  readonly type: 'prepare'
  readonly ballot: Ballot
  readonly fromSlot: number
}

/** Phase 1b: a promise, with the votes and chosen values at or above max(fromSlot, chosenPrefix). */
export interface PromiseMsg {
  readonly type: 'promise'
  readonly ballot: Ballot
  readonly chosenPrefix: number
  readonly accepted: AcceptedEntry[]
  readonly chosen: ChosenEntry[]
}

export interface CatchupRequestMsg {
  readonly type: 'catchup-request'
  readonly fromSlot: number
  readonly toSlot: number
}

export interface CatchupReplyMsg {
  readonly type: 'catchup-reply'
  readonly entries: ChosenEntry[]
  readonly chosenPrefix: number
}

export type IosMessage =
  | ForwardMsg
  | CoordinateMsg
  | AcceptMsg
  | AcceptedMsg
  | NackMsg
  | CommitMsg
  | HeartbeatMsg
  | PrepareMsg
  | PromiseMsg
  | CatchupRequestMsg
  | CatchupReplyMsg
