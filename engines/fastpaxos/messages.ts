/**
 * Fast Paxos messages. Every key has its own sequence of single-decree instances (idx 0, 1, ...), so
 * every protocol message names its key and index; ballots are per instance. Values are the classic
 * Paxos slot values (a command or a no-op). Messages are plain data (the runtime encodes them).
 */
import type { Ballot } from '../core/ballot.ts'
import type { Command } from '../core/command.ts'
import type { SlotValue, Vote } from '../paxos/messages.ts'

/** Fast round phase 2a sent by the command's proposer itself (Fast Paxos 3.1: the "any" value is implicit). */
export interface ProposeMsg {
  readonly type: 'propose'
  readonly key: string
  readonly idx: number
  readonly cmd: Command
}

/** Phase 2b of any round: sent by the acceptor to every learner (every replica). */
export interface VoteMsg {
  readonly type: 'vote'
  readonly key: string
  readonly idx: number
  readonly ballot: Ballot
  readonly value: SlotValue
}

/** Classic phase 1a (failover recovery). */
export interface PrepareMsg {
  readonly type: 'prepare'
  readonly key: string
  readonly idx: number
  readonly ballot: Ballot
}

/** Classic phase 1b, with the acceptor's vote in the instance (null: none). */
export interface PromiseMsg {
  readonly type: 'promise'
  readonly key: string
  readonly idx: number
  readonly ballot: Ballot
  readonly vote: Vote | null
}

/** Classic phase 2a (coordinated recovery round, or a failover round). */
export interface AcceptMsg {
  readonly type: 'accept'
  readonly key: string
  readonly idx: number
  readonly ballot: Ballot
  readonly value: SlotValue
}

/** A refused propose, prepare or accept: the acceptor promised a higher ballot. */
export interface NackMsg {
  readonly type: 'nack'
  readonly key: string
  readonly idx: number
  readonly ballot: Ballot
  readonly promised: Ballot
}

/** The instance is decided (answer to a message about a decided instance). */
export interface DecideMsg {
  readonly type: 'decide'
  readonly key: string
  readonly idx: number
  readonly value: SlotValue
}

/** [key, decided prefix length, highest decided index] */
export type SyncEntry = readonly [string, number, number]

/** Periodic: how far some of the sender's per-key logs are decided (a cursor walks all keys). */
export interface SyncMsg {
  readonly type: 'sync'
  readonly entries: SyncEntry[]
}

export interface CatchupRequestMsg {
  readonly type: 'catchup-request'
  readonly key: string
  readonly fromIdx: number
}

export interface CatchupReplyMsg {
  readonly type: 'catchup-reply'
  readonly key: string
  readonly entries: Array<{ readonly idx: number; readonly value: SlotValue }>
}

export type FastPaxosMessage =
  | ProposeMsg
  | VoteMsg
  | PrepareMsg
  | PromiseMsg
  | AcceptMsg
  | NackMsg
  | DecideMsg
  | SyncMsg
  | CatchupRequestMsg
  | CatchupReplyMsg
