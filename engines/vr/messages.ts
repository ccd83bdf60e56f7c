/**
 * Viewstamped Replication Revisited messages (Liskov & Cowling 2012; section numbers below are the
 * paper's). Messages are plain data; the runtime encodes them. Op-numbers count from 1: op n is
 * `log[n - 1]`, and op-number 0 means an empty log. Every message of a view carries that view number,
 * so a receiver can order it against its own.
 */
import type { Command } from '../core/command.ts'

/** One log entry (an "op"): a batch of client commands, executed in order. */
export interface Op {
  readonly commands: Command[]
}

/** Not in the paper: a command that arrived at a backup, sent to the primary (DESIGN.md forwarding). */
export interface ForwardMsg {
  readonly type: 'forward'
  readonly commands: Command[]
}

/** 4.1 step 3: the primary sends op `opNumber` to the backups, with its commit-number. */
export interface PrepareMsg {
  readonly type: 'prepare'
  readonly view: number
  readonly opNumber: number
  readonly op: Op
  readonly commitNumber: number
}

/** 4.1 step 4: the backup has every op up to `opNumber` of this view in its log (cumulative). */
export interface PrepareOkMsg {
  readonly type: 'prepare-ok'
  readonly view: number
  readonly opNumber: number
}

/** 4.1 step 6: the primary's commit-number when it has no Prepare to send; also its heartbeat. */
export interface CommitMsg {
  readonly type: 'commit'
  readonly view: number
  readonly commitNumber: number
}

/** 4.2 step 1. */
export interface StartViewChangeMsg {
  readonly type: 'start-view-change'
  readonly view: number
}

/** 4.2 step 2: to the new primary, with the sender's log and the last view in which it was normal. */
export interface DoViewChangeMsg {
  readonly type: 'do-view-change'
  readonly view: number
  readonly log: Op[]
  readonly lastNormalView: number
  readonly commitNumber: number
}

/** 4.2 step 3: the new view's log. */
export interface StartViewMsg {
  readonly type: 'start-view'
  readonly view: number
  readonly log: Op[]
  readonly commitNumber: number
}

/** 4.3 step 1: a replica that lost its state asks for it; the nonce pairs answers with this attempt. */
export interface RecoveryMsg {
  readonly type: 'recovery'
  readonly nonce: number
}

/** 4.3 step 2: only the primary of `view` sends its log and commit-number. */
export interface RecoveryResponseMsg {
  readonly type: 'recovery-response'
  readonly view: number
  readonly nonce: number
  readonly primaryState: { readonly log: Op[]; readonly commitNumber: number } | null
}

/** 5.2: a lagging replica asks a replica of the same view for the ops after `opNumber`. */
export interface GetStateMsg {
  readonly type: 'get-state'
  readonly view: number
  readonly opNumber: number
}

/** 5.2: ops `fromOpNumber + 1 ..` (at most stateTransferBatchOps), the sender's op- and commit-number. */
export interface NewStateMsg {
  readonly type: 'new-state'
  readonly view: number
  readonly fromOpNumber: number
  readonly ops: Op[]
  readonly opNumber: number
  readonly commitNumber: number
}

export type VrMessage =
  | ForwardMsg
  | PrepareMsg
  | PrepareOkMsg
  | CommitMsg
  | StartViewChangeMsg
  | DoViewChangeMsg
  | StartViewMsg
  | RecoveryMsg
  | RecoveryResponseMsg
  | GetStateMsg
  | NewStateMsg
