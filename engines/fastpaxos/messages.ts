/**
 * Fast Paxos messages. Every key has its own sequence of single-decree instances (idx 0, 1, ...), so
 * every protocol message names its key and index; ballots are per instance. The value of an instance
 * is a batch of commands on its key (executed in batch order) or a no-op. Messages are plain data (the
 * runtime encodes them).
 */
import type { Ballot } from '../core/ballot.ts'
import { type Command, commandIdKey } from '../core/command.ts'

/** An instance's value: a non-empty batch of commands on the instance's key, or a no-op (a filled hole). */
export type FpValue = { readonly kind: 'cmds'; readonly cmds: readonly Command[] } | { readonly kind: 'noop' }

export const NOOP: FpValue = Object.freeze({ kind: 'noop' })

/** An acceptor's vote: the value it accepted and in which ballot. */
export interface FpVote {
  readonly ballot: Ballot
  readonly value: FpValue
}

/** Deep equality of values: two different values decided in one instance is the safety bug. */
export function sameValue(a: FpValue, b: FpValue): boolean {
  if (a.kind === 'noop' || b.kind === 'noop') return a.kind === b.kind
  if (a.cmds.length !== b.cmds.length) return false
  return a.cmds.every((x, i) => {
    const y = b.cmds[i]!
    if (commandIdKey(x.id) !== commandIdKey(y.id) || x.op !== y.op || x.key !== y.key) return false
    return x.op === 'get' || (y.op === 'put' && x.value === y.value)
  })
}

/**
 * Fast round phase 2a sent by the proposer itself (Fast Paxos 3.1: the "any" value is implicit): the
 * batch of its commands on the key that it has not yet seen decided.
 */
export interface ProposeMsg {
  readonly type: 'propose'
  readonly key: string
  readonly idx: number
  readonly cmds: readonly Command[]
}

/** Phase 2b of any round: sent by the acceptor to every learner (every replica). */
export interface VoteMsg {
  readonly type: 'vote'
  readonly key: string
  readonly idx: number
  readonly ballot: Ballot
  readonly value: FpValue
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
  readonly vote: FpVote | null
}

/** Classic phase 2a (coordinated recovery round, or a failover round). */
export interface AcceptMsg {
  readonly type: 'accept'
  readonly key: string
  readonly idx: number
  readonly ballot: Ballot
  readonly value: FpValue
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
  readonly value: FpValue
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
  readonly entries: Array<{ readonly idx: number; readonly value: FpValue }>
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
