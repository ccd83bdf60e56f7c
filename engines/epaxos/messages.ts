/**
 * EPaxos messages (Moraru, Andersen, Kaminsky, SOSP'13, Figures 2 and 3). Every protocol message names
 * its instance `<command leader>.<number>` (a string, see instance-id.ts); ballots are per instance.
 * A `cmd` of null is a no-op (an instance whose command no recovery could find).
 */
import type { Ballot } from '../core/ballot.ts'
import type { Command } from '../core/command.ts'

export type InstanceStatus = 'preaccepted' | 'accepted' | 'committed'

/** Phase 1 (fast path): the command leader proposes the command with its attributes. */
export interface PreAcceptMsg {
  readonly type: 'preaccept'
  readonly inst: string
  readonly ballot: Ballot
  readonly cmd: Command | null
  readonly seq: number
  readonly deps: readonly string[]
}

/** The replica's attributes: the leader's, unioned with what interferes here. */
export interface PreAcceptOkMsg {
  readonly type: 'preaccept-ok'
  readonly inst: string
  readonly ballot: Ballot
  readonly seq: number
  readonly deps: readonly string[]
  /** false: seq and deps equal what the leader proposed (the fast path needs a quorum of these) */
  readonly changed: boolean
}

/** Phase 2 (slow path, Paxos-Accept), also a recovery's accept. */
export interface AcceptMsg {
  readonly type: 'accept'
  readonly inst: string
  readonly ballot: Ballot
  readonly cmd: Command | null
  readonly seq: number
  readonly deps: readonly string[]
}

export interface AcceptOkMsg {
  readonly type: 'accept-ok'
  readonly inst: string
  readonly ballot: Ballot
}

/** The instance is decided (Commit, sent to every replica). */
export interface CommitMsg {
  readonly type: 'commit'
  readonly inst: string
  readonly cmd: Command | null
  readonly seq: number
  readonly deps: readonly string[]
}

/** Explicit prepare (Figure 3): a replica takes over an instance with a higher ballot. */
export interface PrepareMsg {
  readonly type: 'prepare'
  readonly inst: string
  readonly ballot: Ballot
}

/** What a replica holds for an instance, reported to a recovering replica. */
export interface InstanceReport {
  readonly status: InstanceStatus
  readonly cmd: Command | null
  readonly seq: number
  readonly deps: readonly string[]
  /** the ballot the attributes were recorded at (the default ballot: from the command leader itself) */
  readonly vballot: Ballot
  /** preaccepted at the default ballot with exactly the leader's attributes */
  readonly unchanged: boolean
}

export interface PrepareOkMsg {
  readonly type: 'prepare-ok'
  readonly inst: string
  readonly ballot: Ballot
  /** null: this replica has never seen the instance */
  readonly state: InstanceReport | null
}

/**
 * TryPreAccept (tech report, explicit prepare): a recovery that found some, but too few, replicas
 * holding the leader's attributes unchanged asks the others to take them as they are.
 */
export interface TryPreAcceptMsg {
  readonly type: 'try-preaccept'
  readonly inst: string
  readonly ballot: Ballot
  readonly cmd: Command
  readonly seq: number
  readonly deps: readonly string[]
}

/** An interfering instance the attributes of a TryPreAccept neither reach nor are reached from. */
export interface TryPreAcceptConflict {
  readonly inst: string
  /** its status at the replica that reports it */
  readonly status: InstanceStatus
  /** its deps there (final when committed) */
  readonly deps: readonly string[]
  /** the ballot its attributes were recorded at there (round 0: from its command leader's PreAccept,
   * received before any recovery of it was promised there) */
  readonly vballot: Ballot
}

export interface TryPreAcceptReplyMsg {
  readonly type: 'try-preaccept-reply'
  readonly inst: string
  readonly ballot: Ballot
  /** true: the replica recorded the attributes unchanged (durably) */
  readonly ok: boolean
  /** when refused because of this instance's own state here (accepted, or preaccepted by a recovery) */
  readonly own: InstanceReport | null
  readonly conflicts: readonly TryPreAcceptConflict[]
}

/** A refused PreAccept, Accept or Prepare: the replica promised a higher ballot for the instance. */
export interface NackMsg {
  readonly type: 'nack'
  readonly inst: string
  readonly ballot: Ballot
  readonly promised: Ballot
}

/** Periodic: the highest instance number the sender knows per command leader (catch-up of missed commits). */
export interface SyncMsg {
  readonly type: 'sync'
  readonly maxInstance: Readonly<Record<string, number>>
}

export type EpaxosMessage =
  | PreAcceptMsg
  | PreAcceptOkMsg
  | AcceptMsg
  | AcceptOkMsg
  | CommitMsg
  | PrepareMsg
  | PrepareOkMsg
  | TryPreAcceptMsg
  | TryPreAcceptReplyMsg
  | NackMsg
  | SyncMsg
