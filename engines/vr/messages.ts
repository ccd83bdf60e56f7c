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

/**
 * 4.2 step 2: to the new primary: the sender's last normal view, op-number, commit-number, and its ops
 * after the commit-number (the committed prefix is the same everywhere, so it is not sent; the paper's
 * sec. 5.3 suggests the same economy).
 */
export interface DoViewChangeMsg {
  readonly type: 'do-view-change'
  readonly view: number
  readonly lastNormalView: number
  readonly opNumber: number
  readonly commitNumber: number
  /** ops commitNumber+1 .. opNumber */
  readonly ops: Op[]
}

/**
 * 4.2 step 3: the new view's log from `fromOpNumber` on (at or below the receiver's commit-number when
 * the primary knows it; a receiver whose committed prefix does not reach it fetches the rest, 5.2).
 */
export interface StartViewMsg {
  readonly type: 'start-view'
  readonly view: number
  readonly fromOpNumber: number
  /** ops fromOpNumber+1 .. the new view's op-number */
  readonly ops: Op[]
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

/**
 * 5.2: a lagging replica asks for the ops after `opNumber`. A replica normal in the same view answers
 * with its log; any other (not recovering) with committed ops only, which every view's log shares.
 */
export interface GetStateMsg {
  readonly type: 'get-state'
  readonly view: number
  readonly opNumber: number
}

/**
 * 5.2: ops `fromOpNumber + 1 ..` (at most stateTransferBatchOps), up to `opNumber`: the sender's
 * op-number, or its commit-number when it gave committed ops only.
 */
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
