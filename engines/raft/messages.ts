/**
 * Raft messages and log entries (Ongaro & Ousterhout, ATC'14, Figure 2). Messages are plain data (the
 * runtime encodes them). Every message except `forward` carries the sender's term, so the receiver
 * runs the common term rules of Figure 2 ("Rules for Servers: All Servers") once, before the handler.
 */
import type { Command } from '../core/command.ts'
import type { KvSnapshot } from '../core/kv.ts'

/** What one log entry holds: a batch of client commands, or the no-op a new leader appends (sec. 8). */
export type EntryValue = { readonly kind: 'noop' } | { readonly kind: 'batch'; readonly commands: Command[] }

export interface LogEntry {
  readonly term: number
  readonly value: EntryValue
}

/** RequestVote RPC (Figure 2), also the pre-vote request (thesis sec. 9.6) when `preVote` is true. */
export interface RequestVoteMsg {
  readonly type: 'request-vote'
  /** the candidate's term; for a pre-vote, the term it would campaign in (its term + 1, not persisted) */
  readonly term: number
  readonly lastLogIndex: number
  readonly lastLogTerm: number
  readonly preVote: boolean
}

export interface RequestVoteReplyMsg {
  readonly type: 'request-vote-reply'
  /** the voter's term; for a granted pre-vote, the term asked for */
  readonly term: number
  readonly granted: boolean
  readonly preVote: boolean
}

/** AppendEntries RPC (Figure 2): replicates entries and doubles as the heartbeat when `entries` is empty. */
export interface AppendEntriesMsg {
  readonly type: 'append-entries'
  readonly term: number
  readonly prevLogIndex: number
  readonly prevLogTerm: number
  readonly entries: LogEntry[]
  readonly leaderCommit: number
}

export interface AppendEntriesReplyMsg {
  readonly type: 'append-entries-reply'
  readonly term: number
  readonly success: boolean
  /** on success: the index of the last entry the request covered (prevLogIndex + entries.length) */
  readonly matchIndex: number
  /** on failure: the prevLogIndex that failed the consistency check (lets the leader drop stale rejections) */
  readonly rejectedIndex: number
  /**
   * Fast backtracking hint (sec. 5.3, "the follower can include the term of the conflicting entry and the
   * first index it stores for that term"): conflictTerm is the follower's term at rejectedIndex (0 when its
   * log is shorter), conflictIndex the first index of that term (or its last index + 1 when shorter).
   */
  readonly conflictTerm: number
  readonly conflictIndex: number
}

/**
 * InstallSnapshot RPC (sec. 7, Figure 13), sent in one message (no chunks: offset and done are not
 * needed) to a follower whose nextIndex fell to or below the leader's snapshot. The follower answers with
 * an `append-entries-reply` (success, matchIndex = lastIncludedIndex): the leader's progress logic then
 * treats it as the acknowledgement of an AppendEntries that covered the prefix.
 */
export interface InstallSnapshotMsg {
  readonly type: 'install-snapshot'
  readonly term: number
  readonly lastIncludedIndex: number
  readonly lastIncludedTerm: number
  /** the state machine (data and client sessions) after applying the log up to lastIncludedIndex */
  readonly state: KvSnapshot
}

/** Client commands that arrived at a non-leader, sent on to the leader it knows. */
export interface ForwardMsg {
  readonly type: 'forward'
  readonly commands: Command[]
}

export type RaftMessage =
  | RequestVoteMsg
  | RequestVoteReplyMsg
  | AppendEntriesMsg
  | AppendEntriesReplyMsg
  | InstallSnapshotMsg
  | ForwardMsg

export const NOOP: EntryValue = Object.freeze({ kind: 'noop' })

export function commandCount(value: EntryValue): number {
  return value.kind === 'noop' ? 0 : value.commands.length
}
