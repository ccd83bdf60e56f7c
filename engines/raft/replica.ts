/**
 * One Raft server, after Ongaro & Ousterhout, "In Search of an Understandable Consensus Algorithm"
 * (USENIX ATC'14). Section numbers below are the paper's; "thesis" is Ongaro's PhD thesis (2014), whose
 * sec. 9.6 describes pre-vote.
 *
 * - Figure 2 "Rules for Servers, All Servers": the term checks in `checkTerm`, run once for every message
 *   before the handler (raft.go's `Step`).
 * - RequestVote (Figure 2, sec. 5.2, 5.4.1): onRequestVote, startElection, onCandidateVoteReply.
 * - AppendEntries (Figure 2, sec. 5.3): onAppendEntries (receiver), sendAppend / onLeaderAppendReply
 *   (leader), with fast backtracking (sec. 5.3's conflict hint) and a pipeline per follower.
 * - Commitment (sec. 5.3, 5.4.2 / Figure 8): maybeCommit counts replicas only for a current-term entry.
 * - Client interaction (sec. 8): a no-op at term start, forwarding to the leader, reads through the log.
 * - Log compaction (sec. 7, Figure 13): maybeSnapshot (every `snapshotEveryEntries` applied entries),
 *   sendSnapshot (leader, when a follower needs compacted entries), onInstallSnapshot (receiver), and the
 *   restart from the stored snapshot in `start`.
 * - Check-quorum (thesis sec. 6.2) and ignoring disruptive RequestVotes (thesis sec. 4.2.3), both with
 *   `checkQuorum`: checkQuorum at every heartbeat tick, `inLeaderLease` in checkTerm.
 *
 * Role-specific behaviour sits behind `this.step` (follower / candidate / leader), swapped on role
 * change, as raft.go does with `r.step = stepLeader`.
 */
import { type Command, commandIdKey, type NodeId } from '../core/command.ts'
import type { Engine, EngineContext, EngineRole, EngineStatus } from '../core/engine.ts'
import { FORWARD_RETRY_TIMER, Forwarder } from '../core/forwarder.ts'
import { majority, VoteSet } from '../core/quorum.ts'
import { type RaftConfig, resolveInitialLeader } from './config.ts'
import { RaftLog } from './log.ts'
import {
  type AppendEntriesMsg,
  type AppendEntriesReplyMsg,
  commandCount,
  type ForwardMsg,
  type InstallSnapshotMsg,
  NOOP,
  type RaftMessage,
  type RequestVoteMsg,
  type RequestVoteReplyMsg,
} from './messages.ts'

export type RaftContext = EngineContext<RaftMessage, RaftConfig>

const TIMER_ELECTION = 'election'
const TIMER_HEARTBEAT = 'heartbeat'

/** The leader's view of one follower (Figure 2 nextIndex[] and matchIndex[], plus flow control). */
interface Progress {
  /** index of the next entry to send */
  next: number
  /** highest index known replicated on the follower */
  match: number
  /** probing: one AppendEntries at a time until the consistency check passes; else pipelining */
  probing: boolean
  /** last index covered by each AppendEntries in flight (ascending) */
  inflight: number[]
  /** when match last advanced, or the pipeline last went from empty to busy: the retransmission clock */
  lastProgressMs: number
  probeSentMs: number
  /** the highest commit index the follower can have learned from what we sent: min(leaderCommit, last index covered) */
  sentCommit: number
  /** when the follower last answered us in this term (check-quorum, thesis sec. 6.2); the election at first */
  lastHeardMs: number
}

interface LeaderState {
  readonly term: number
  readonly progress: Map<NodeId, Progress>
  /** ids of commands this leader appended and not yet executed: a command forwarded twice is appended once */
  readonly proposedIds: Set<string>
}

/** An election in progress: a pre-vote (thesis sec. 9.6) for `term` = currentTerm + 1, or a real one. */
interface CandidateState {
  readonly preVote: boolean
  readonly term: number
  readonly votes: VoteSet
}

/** What changes with the role (raft.go's `step`). */
interface RoleStep {
  readonly role: EngineRole
  onVoteReply(from: NodeId, msg: RequestVoteReplyMsg): void
  onAppendReply(from: NodeId, msg: AppendEntriesReplyMsg): void
  onForward(from: NodeId, msg: ForwardMsg): void
  /** route client commands that wait at this replica */
  submit(cmds: readonly Command[]): void
  onHeartbeatTimeout(): void
  onElectionTimeout(): void
}

export class RaftReplica implements Engine<RaftMessage> {
  private readonly quorum: number
  private readonly initialLeader: NodeId | null
  private readonly peers: readonly NodeId[]
  private readonly cfg: RaftConfig

  private log!: RaftLog
  private step!: RoleStep
  private leader: LeaderState | null = null
  private candidate: CandidateState | null = null
  /** who this server believes leads the current term */
  private leaderId: NodeId | null = null
  private lastLeaderContactMs = Number.NEGATIVE_INFINITY
  /** Figure 2 volatile state: highest index known committed, and highest applied (always equal here) */
  private commitIndex = 0
  private lastApplied = 0
  private readonly forwarder: Forwarder

  constructor(private readonly ctx: RaftContext) {
    this.cfg = ctx.config
    if (!ctx.nodes.includes(ctx.self)) throw new Error(`self ${ctx.self} is not among the nodes`)
    if (new Set(ctx.nodes).size !== ctx.nodes.length) throw new Error('node ids must be distinct')
    this.quorum = majority(ctx.nodes.length)
    this.initialLeader = resolveInitialLeader(this.cfg, ctx.nodes)
    this.peers = ctx.nodes.filter((n) => n !== ctx.self)
    this.forwarder = new Forwarder(ctx, this.cfg, (cmds) => this.step.submit(cmds))
  }

  // ---------------------------------------------------------------- lifecycle

  start(): void {
    // Figure 2: currentTerm, votedFor and log[] survive; everything else starts over. The runtime rebuilt
    // the KV from scratch: it gets the stored snapshot (sec. 7), and the entries after it are applied
    // again as the commit index is relearned (from index 1 without a snapshot).
    this.log = RaftLog.load(this.ctx.storage)
    this.leader = null
    this.candidate = null
    this.leaderId = null
    this.lastLeaderContactMs = Number.NEGATIVE_INFINITY
    this.commitIndex = 0
    this.lastApplied = 0
    const snap = this.log.snapshot
    if (snap !== null) {
      this.ctx.installState(snap.state)
      this.commitIndex = snap.index
      this.lastApplied = snap.index
      this.ctx.emit({ type: 'snapshot-restored', index: snap.index })
    }
    this.forwarder.reset()
    this.becomeFollower(this.log.currentTerm, null)
    const firstBoot = this.log.currentTerm === 0 && this.log.lastIndex === 0
    if (firstBoot && this.ctx.self === this.initialLeader) this.startElection()
  }

  status(): EngineStatus {
    return {
      role: this.step.role,
      leader: this.leaderId,
      epoch: this.log.currentTerm,
      executed: this.lastApplied,
    }
  }

  assertInvariants(): void {
    this.log.assertInvariants()
    const term = this.log.currentTerm
    if (this.lastApplied !== this.commitIndex)
      throw new Error(`invariant: applied ${this.lastApplied} != commitIndex ${this.commitIndex}`)
    if (this.commitIndex > this.log.lastIndex)
      throw new Error(`invariant: commitIndex ${this.commitIndex} beyond the log (${this.log.lastIndex})`)
    if (this.commitIndex < this.log.snapshotIndex)
      throw new Error(
        `invariant: commitIndex ${this.commitIndex} below the snapshot (${this.log.snapshotIndex})`,
      )
    if (
      this.cfg.snapshotEveryEntries > 0 &&
      this.lastApplied - this.log.snapshotIndex >= this.cfg.snapshotEveryEntries
    )
      throw new Error(
        `invariant: ${this.lastApplied - this.log.snapshotIndex} applied entries after the snapshot`,
      )
    if (this.forwarder.size > this.cfg.maxPendingCommands)
      throw new Error('invariant: pending over its limit')
    const role = this.step.role
    if ((role === 'leader') !== (this.leader !== null)) throw new Error('invariant: leader state vs role')
    if ((role === 'candidate') !== (this.candidate !== null))
      throw new Error('invariant: candidate state vs role')
    if (this.leader !== null) {
      if (this.leader.term !== term) throw new Error('invariant: leader of an old term')
      if (this.log.votedFor !== this.ctx.self) throw new Error('invariant: a leader did not vote for itself')
      if (this.leaderId !== this.ctx.self) throw new Error('invariant: a leader believes another leads')
      if (this.log.lastTerm !== term) throw new Error('invariant: a leader without its term-start entry')
      if (this.leader.proposedIds.size > this.cfg.maxUncommittedCommands)
        throw new Error('invariant: uncommitted commands over their limit')
      for (const [peer, pr] of this.leader.progress) {
        if (pr.match > this.log.lastIndex || pr.next <= pr.match || pr.next > this.log.lastIndex + 1)
          throw new Error(`invariant: progress of ${peer} out of range (${JSON.stringify(pr)})`)
        if (pr.inflight.length > this.cfg.maxInflightAppends)
          throw new Error(`invariant: ${peer} has more appends in flight than allowed`)
      }
    }
    if (this.candidate !== null) {
      const expected = this.candidate.preVote ? term + 1 : term
      if (this.candidate.term !== expected) throw new Error('invariant: candidate of the wrong term')
      if (!this.candidate.preVote && this.log.votedFor !== this.ctx.self)
        throw new Error('invariant: a candidate did not vote for itself')
    }
  }

  // ---------------------------------------------------------------- inputs

  onRequest(cmd: Command): void {
    this.forwarder.onRequest(cmd)
  }

  onMessage(from: NodeId, msg: RaftMessage): void {
    if (from === this.ctx.self || !this.ctx.nodes.includes(from)) return
    if (msg.type === 'forward') {
      this.step.onForward(from, msg)
      return
    }
    if (!this.checkTerm(from, msg)) return
    switch (msg.type) {
      case 'request-vote':
        this.onRequestVote(from, msg)
        break
      case 'request-vote-reply':
        this.step.onVoteReply(from, msg)
        break
      case 'append-entries':
        this.onAppendEntries(from, msg)
        break
      case 'append-entries-reply':
        this.step.onAppendReply(from, msg)
        break
      case 'install-snapshot':
        this.onInstallSnapshot(from, msg)
        break
    }
  }

  onTimer(name: string): void {
    switch (name) {
      case TIMER_ELECTION:
        this.step.onElectionTimeout()
        break
      case TIMER_HEARTBEAT:
        this.step.onHeartbeatTimeout()
        break
      case FORWARD_RETRY_TIMER:
        this.forwarder.onRetryTimeout()
        break
    }
  }

  /**
   * Figure 2, "All Servers": a higher term makes us a follower of that term; a lower one is stale (answered
   * with our term so its sender steps down, or ignored). Pre-vote traffic (thesis sec. 9.6) carries a term
   * nobody has entered yet, so it never moves our term. Returns whether the handler should run.
   */
  private checkTerm(from: NodeId, msg: Exclude<RaftMessage, ForwardMsg>): boolean {
    const term = this.log.currentTerm
    if (msg.term > term) {
      // Thesis sec. 4.2.3 (etcd's CheckQuorum): while we hear a leader, a higher-term RequestVote comes from
      // a server that cannot hear it (or a deposed leader); ignoring it, as if lost, keeps it from
      // deposing a leader a majority still follows. Pre-votes have their own rule in onRequestVote.
      if (msg.type === 'request-vote' && !msg.preVote && this.inLeaderLease()) return false
      const preVoteTraffic =
        (msg.type === 'request-vote' && msg.preVote) ||
        (msg.type === 'request-vote-reply' && msg.preVote && msg.granted)
      if (!preVoteTraffic) this.becomeFollower(msg.term, msg.type === 'append-entries' ? from : null)
      return true
    }
    if (msg.term < term) {
      // rejectedIndex 0: the sender can never mistake this for a consistency-check failure
      if (msg.type === 'append-entries' || msg.type === 'install-snapshot')
        this.replyAppend(from, false, 0, 0, 0, 0)
      else if (msg.type === 'request-vote')
        this.ctx.send(from, { type: 'request-vote-reply', term, granted: false, preVote: msg.preVote })
      return false
    }
    return true
  }

  // ---------------------------------------------------------------- RequestVote (Figure 2, sec. 5.2, 5.4.1, thesis 9.6)

  private onRequestVote(from: NodeId, msg: RequestVoteMsg): void {
    const term = this.log.currentTerm
    const upToDate = this.log.isUpToDate(msg.lastLogIndex, msg.lastLogTerm)
    if (msg.preVote) {
      // Thesis sec. 9.6: grant only if an election could succeed: the log is up to date, and we have not
      // heard from a leader within the minimum election timeout (a live leader is not to be disrupted).
      const heardLeader =
        this.step.role === 'leader' ||
        (this.leaderId !== null && this.ctx.now() - this.lastLeaderContactMs < this.cfg.electionTimeoutMsMin)
      const termAllows =
        msg.term > term ||
        (this.leaderId === null && (this.log.votedFor === null || this.log.votedFor === from))
      const granted = upToDate && termAllows && !heardLeader
      this.ctx.send(from, {
        type: 'request-vote-reply',
        term: granted ? msg.term : term,
        granted,
        preVote: true,
      })
      return
    }
    // Figure 2 RequestVote receiver: one vote per term, only for a candidate at least as up to date.
    const granted = upToDate && (this.log.votedFor === null || this.log.votedFor === from)
    if (granted) {
      this.log.voteFor(from) // durable before the reply leaves
      this.armElectionTimer() // Figure 2, Followers: granting a vote resets the election timeout
    }
    this.ctx.send(from, { type: 'request-vote-reply', term, granted, preVote: false })
  }

  /**
   * With checkQuorum: we lead, or heard the leader of our term within electionTimeoutMsMin. A leader keeps
   * it only while a majority answers (checkQuorum), so a deposed leader's followers are free within one
   * minimum election timeout of its last AppendEntries.
   */
  private inLeaderLease(): boolean {
    if (!this.cfg.checkQuorum) return false
    if (this.step.role === 'leader') return true
    return this.leaderId !== null && this.ctx.now() - this.lastLeaderContactMs < this.cfg.electionTimeoutMsMin
  }

  /** Followers and candidates (Figure 2): no leader heard for an election timeout -> campaign. */
  private onElectionTimeout(): void {
    if (this.cfg.preVote) this.startPreVote()
    else this.startElection()
  }

  private startPreVote(): void {
    const term = this.log.currentTerm + 1
    this.beginCandidacy({ preVote: true, term, votes: new VoteSet(this.quorum) })
  }

  /** Figure 2, Candidates: increment currentTerm, vote for self, reset the timer, send RequestVote. */
  private startElection(): void {
    this.log.setTerm(this.log.currentTerm + 1)
    this.log.voteFor(this.ctx.self)
    this.beginCandidacy({ preVote: false, term: this.log.currentTerm, votes: new VoteSet(this.quorum) })
  }

  private beginCandidacy(cand: CandidateState): void {
    if (this.leader !== null) this.ctx.emit({ type: 'stepped-down', epoch: this.leader.term })
    this.leader = null
    this.candidate = cand
    this.leaderId = null
    this.step = this.candidateStep
    this.ctx.clearTimer(TIMER_HEARTBEAT)
    // Split votes: each candidate retries after its own random timeout (sec. 5.2).
    this.armElectionTimer()
    const msg: RequestVoteMsg = {
      type: 'request-vote',
      term: cand.term,
      lastLogIndex: this.log.lastIndex,
      lastLogTerm: this.log.lastTerm,
      preVote: cand.preVote,
    }
    for (const peer of this.peers) this.ctx.send(peer, msg)
    this.countVote(cand, this.ctx.self)
  }

  private onCandidateVoteReply(from: NodeId, msg: RequestVoteReplyMsg): void {
    const cand = this.candidate
    if (cand === null || !msg.granted || msg.preVote !== cand.preVote || msg.term !== cand.term) return
    this.countVote(cand, from)
  }

  private countVote(cand: CandidateState, from: NodeId): void {
    if (!cand.votes.add(from)) return
    if (cand.preVote) this.startElection()
    else this.becomeLeader()
  }

  /** Figure 2, Leaders: on election, append the term's no-op (sec. 8) and send AppendEntries to all. */
  private becomeLeader(): void {
    const term = this.log.currentTerm
    const now = this.ctx.now()
    const progress = new Map<NodeId, Progress>()
    for (const peer of this.peers)
      progress.set(peer, {
        next: this.log.lastIndex + 1,
        match: 0,
        probing: true,
        inflight: [],
        lastProgressMs: now,
        probeSentMs: Number.NEGATIVE_INFINITY,
        sentCommit: 0,
        lastHeardMs: now,
      })
    const leader: LeaderState = { term, progress, proposedIds: new Set() }
    this.candidate = null
    this.leader = leader
    this.leaderId = this.ctx.self
    this.step = this.leaderStep
    this.ctx.clearTimer(TIMER_ELECTION)
    this.ctx.emit({ type: 'elected', epoch: term })
    // The no-op lets the leader commit, by counting, every earlier entry it holds (sec. 5.4.2, sec. 8).
    this.log.append({ term, value: NOOP })
    for (const peer of this.peers) this.sendAppend(leader, peer, true)
    this.ctx.setTimer(TIMER_HEARTBEAT, this.cfg.heartbeatIntervalMs)
    this.forwarder.forwardAll() // into our own log now: step is leaderStep
    this.maybeCommit(leader)
  }

  // ---------------------------------------------------------------- AppendEntries receiver (Figure 2, sec. 5.3)

  private onAppendEntries(from: NodeId, msg: AppendEntriesMsg): void {
    if (this.step.role === 'leader')
      throw new Error(`safety: two leaders in term ${msg.term} (${this.ctx.self} and ${from})`)
    // Figure 2, Candidates: AppendEntries from the new leader of our term -> follower.
    if (this.step.role === 'candidate') this.becomeFollower(msg.term, from)
    this.recognizeLeader(from)
    const log = this.log
    // Step 2: reply false if the log has no entry at prevLogIndex whose term matches prevLogTerm.
    if (msg.prevLogIndex > log.lastIndex) {
      this.replyAppend(from, false, 0, msg.prevLogIndex, 0, log.lastIndex + 1)
      return
    }
    // Below our snapshot the log is a committed prefix, which agrees with the current leader's (Leader
    // Completeness): nothing to check there, and the entries it covers are skipped below.
    if (msg.prevLogIndex >= log.snapshotIndex) {
      const termThere = log.termAt(msg.prevLogIndex)
      if (termThere !== msg.prevLogTerm) {
        const first = log.firstIndexOfTerm(msg.prevLogIndex)
        this.replyAppend(from, false, 0, msg.prevLogIndex, termThere, first)
        return
      }
    }
    // Steps 3 and 4: delete a conflicting suffix, append what is new (never truncate on a shorter message:
    // a reordered, older AppendEntries must not remove entries a newer one added).
    let index = msg.prevLogIndex
    for (const entry of msg.entries) {
      index++
      if (index <= log.snapshotIndex) continue
      if (index <= log.lastIndex) {
        if (log.termAt(index) === entry.term) continue
        if (index <= this.commitIndex)
          throw new Error(`safety: leader ${from} overwrites committed entry ${index} on ${this.ctx.self}`)
        log.truncateFrom(index)
      }
      log.append(entry)
    }
    const lastNew = msg.prevLogIndex + msg.entries.length
    this.replyAppend(from, true, lastNew, 0, 0, 0)
    // Step 5: commitIndex = min(leaderCommit, index of last new entry).
    this.advanceCommit(Math.min(msg.leaderCommit, lastNew))
  }

  // ---------------------------------------------------------------- InstallSnapshot receiver (sec. 7, Figure 13)

  /**
   * A snapshot from the leader of our term. Figure 13: keep the log after it if we hold its last included
   * entry, else discard the log; reset the state machine from it. A snapshot at or below our commit index
   * tells us nothing new (we hold that committed prefix) and is only acknowledged. The answer is an
   * AppendEntries success covering lastIncludedIndex, which is what the leader's progress needs.
   */
  private onInstallSnapshot(from: NodeId, msg: InstallSnapshotMsg): void {
    if (this.step.role === 'leader')
      throw new Error(`safety: two leaders in term ${msg.term} (${this.ctx.self} and ${from})`)
    if (this.step.role === 'candidate') this.becomeFollower(msg.term, from)
    this.recognizeLeader(from)
    if (msg.lastIncludedIndex > this.commitIndex) {
      const snap = { index: msg.lastIncludedIndex, term: msg.lastIncludedTerm, state: msg.state }
      this.log.installSnapshot(snap) // durable before the reply leaves
      this.ctx.installState(msg.state)
      this.commitIndex = msg.lastIncludedIndex
      this.lastApplied = msg.lastIncludedIndex
      this.ctx.emit({ type: 'snapshot-installed', index: msg.lastIncludedIndex })
      // Commands waiting here that the snapshot executed were never applied by us, so never answered:
      // send them to the leader again; re-agreed, they execute as duplicates and are answered then.
      this.forwarder.forwardAll()
    }
    this.replyAppend(from, true, msg.lastIncludedIndex, 0, 0, 0)
  }

  private replyAppend(
    to: NodeId,
    success: boolean,
    matchIndex: number,
    rejectedIndex: number,
    conflictTerm: number,
    conflictIndex: number,
  ): void {
    this.ctx.send(to, {
      type: 'append-entries-reply',
      term: this.log.currentTerm,
      success,
      matchIndex,
      rejectedIndex,
      conflictTerm,
      conflictIndex,
    })
  }

  // ---------------------------------------------------------------- leader: replication (Figure 2 Leaders, sec. 5.3)

  /**
   * Sends the follower what it lacks. Probing: one AppendEntries at `next` at a time (a heartbeat resends
   * it with entries once retransmitMs has passed, else as an empty probe). Pipelining: up to
   * maxInflightAppends messages of maxEntriesPerAppend entries; a heartbeat with nothing new to send is an
   * empty AppendEntries at the follower's match index, which always passes the consistency check.
   */
  private sendAppend(leader: LeaderState, peer: NodeId, heartbeat: boolean): void {
    const pr = leader.progress.get(peer)
    if (pr === undefined) throw new Error(`internal: no progress for ${peer}`)
    const now = this.ctx.now()
    const snapshotIndex = this.log.snapshotIndex
    // at or below compactedIndex the entries (and the term before them) are gone
    const needsSnapshot = pr.next <= this.log.compactedIndex
    if (!pr.probing && needsSnapshot) {
      // The entries it needs next were compacted away: it gets the snapshot instead (sec. 7).
      pr.probing = true
      pr.inflight = []
    }
    if (pr.probing) {
      if (pr.inflight.length > 0 && !heartbeat) return // one probe at a time
      const withEntries = now - pr.probeSentMs >= this.cfg.retransmitMs || pr.inflight.length === 0
      if (withEntries) pr.probeSentMs = now
      if (pr.inflight.length === 0) pr.lastProgressMs = now
      if (needsSnapshot) {
        // InstallSnapshot, resent like a probe; in between, a heartbeat anchored at the snapshot keeps the
        // follower's election timer (it rejects it unless it holds that entry: the rejection is dropped)
        pr.inflight = [snapshotIndex]
        if (withEntries) this.sendSnapshot(leader, peer, pr)
        else this.sendEntries(leader, peer, pr, snapshotIndex, [])
        return
      }
      const entries = withEntries ? this.log.slice(pr.next, this.cfg.maxEntriesPerAppend) : []
      pr.inflight = [pr.next - 1 + entries.length]
      this.sendEntries(leader, peer, pr, pr.next - 1, entries)
      return
    }
    let sent = false
    while (pr.inflight.length < this.cfg.maxInflightAppends && pr.next <= this.log.lastIndex) {
      const entries = this.log.slice(pr.next, this.cfg.maxEntriesPerAppend)
      if (pr.inflight.length === 0) pr.lastProgressMs = now
      this.sendEntries(leader, peer, pr, pr.next - 1, entries)
      pr.next += entries.length
      pr.inflight.push(pr.next - 1)
      sent = true
    }
    // An empty append anchored at the last index we SENT (etcd does the same): the follower holds those
    // entries already (in-order links), so the consistency check passes and it may commit up to there.
    // Anchored at `match`, a follower whose ack is still on its way could not apply a commit it stores,
    // and its clients would wait a round trip more. A follower that lost them rejects, and we probe.
    if (!sent && heartbeat) this.sendEntries(leader, peer, pr, pr.next - 1, [])
  }

  private sendEntries(
    leader: LeaderState,
    peer: NodeId,
    pr: Progress,
    prevLogIndex: number,
    entries: AppendEntriesMsg['entries'],
  ): void {
    pr.sentCommit = Math.max(pr.sentCommit, Math.min(this.commitIndex, prevLogIndex + entries.length))
    this.ctx.send(peer, {
      type: 'append-entries',
      term: leader.term,
      prevLogIndex,
      prevLogTerm: this.log.termAt(prevLogIndex),
      entries,
      leaderCommit: this.commitIndex,
    })
  }

  /** InstallSnapshot (Figure 13) in one message: the whole stored snapshot. */
  private sendSnapshot(leader: LeaderState, peer: NodeId, pr: Progress): void {
    const snap = this.log.snapshot
    if (snap === null) throw new Error('internal: no snapshot to send')
    pr.sentCommit = Math.max(pr.sentCommit, Math.min(this.commitIndex, snap.index))
    this.ctx.send(peer, {
      type: 'install-snapshot',
      term: leader.term,
      lastIncludedIndex: snap.index,
      lastIncludedTerm: snap.term,
      state: snap.state,
    })
  }

  private onLeaderAppendReply(from: NodeId, msg: AppendEntriesReplyMsg): void {
    const leader = this.leader
    const pr = leader?.progress.get(from)
    if (leader === null || pr === undefined) return
    pr.lastHeardMs = this.ctx.now() // of our term (checkTerm): it still follows us
    if (msg.success) {
      if (msg.matchIndex > this.log.lastIndex)
        throw new Error(`internal: ${from} acknowledged ${msg.matchIndex} beyond our log`)
      if (msg.matchIndex > pr.match) {
        pr.match = msg.matchIndex
        pr.lastProgressMs = this.ctx.now()
      }
      pr.inflight = pr.inflight.filter((last) => last > pr.match)
      if (pr.probing && pr.inflight.length > 0 && pr.match < this.log.compactedIndex) {
        // An older success (delayed or duplicated) that leaves the follower needing a snapshot is not the
        // answer to our probe. Ending the probe here would send the snapshot again at once, and each copy
        // would bring back another such success: a storm that duplication only grows. Wait for the
        // answer, or retransmitMs.
        pr.next = Math.max(pr.next, pr.match + 1)
        this.maybeCommit(leader)
        return
      }
      if (pr.probing) {
        // The consistency check passed: pipeline from here on.
        pr.probing = false
        pr.inflight = []
        pr.next = pr.match + 1
      }
      pr.next = Math.max(pr.next, pr.match + 1)
      const committed = this.maybeCommit(leader)
      if (this.leader !== leader || committed) return // maybeCommit told every follower already
      // A follower whose acknowledgement arrived after the commit index moved past what we told it would
      // otherwise wait for the next heartbeat to apply (and answer its clients): tell it now.
      const behind = pr.sentCommit < Math.min(this.commitIndex, pr.match)
      this.sendAppend(leader, from, behind)
      return
    }
    // A rejection at or below what the follower has acknowledged is stale (reordered or duplicated).
    if (msg.rejectedIndex <= pr.match) return
    if (pr.probing && msg.rejectedIndex !== pr.next - 1) return
    // Fast backtracking (sec. 5.3): skip the follower's whole conflicting term in one step. If we hold
    // entries of conflictTerm, the logs may agree up to our last one; otherwise up to conflictIndex - 1.
    let next = msg.conflictIndex
    if (msg.conflictTerm > 0) {
      const ours = this.log.lastIndexOfTerm(msg.conflictTerm)
      if (ours > 0) next = ours + 1
    }
    next = Math.max(pr.match + 1, Math.min(next, msg.rejectedIndex, this.log.lastIndex + 1))
    pr.probing = true
    pr.next = next
    pr.inflight = []
    this.sendAppend(leader, from, false)
  }

  /**
   * Figure 2, Leaders, last rule, and sec. 5.4.2: N is the highest index a majority stores; commit it only
   * if log[N].term == currentTerm. Earlier-term entries then commit indirectly (Log Matching). Counting
   * replicas of an earlier-term entry is the Figure 8 bug; the test fault does exactly that.
   */
  private maybeCommit(leader: LeaderState): boolean {
    const matches = [this.log.lastIndex, ...[...leader.progress.values()].map((p) => p.match)]
    matches.sort((a, b) => b - a)
    const n = matches[this.quorum - 1]
    if (n === undefined) throw new Error('internal: fewer match indexes than a quorum')
    if (n <= this.commitIndex) return false
    if (this.cfg.testFault !== 'commit-previous-term-by-counting' && this.log.termAt(n) !== leader.term)
      return false
    this.advanceCommit(n)
    // Tell the followers at once rather than at the next heartbeat: their clients wait for it.
    if (this.leader === leader) for (const peer of this.peers) this.sendAppend(leader, peer, true)
    return true
  }

  /** Accepts new commands into the log (Figure 2, Leaders: "append entry to local log"). */
  private appendCommands(leader: LeaderState, cmds: readonly Command[]): void {
    const fresh: Command[] = []
    for (const cmd of cmds) {
      const key = commandIdKey(cmd.id)
      if (leader.proposedIds.has(key)) continue
      // Over the limit the command is dropped: its origin forwards it again after forwardRetryMs.
      if (leader.proposedIds.size >= this.cfg.maxUncommittedCommands) break
      leader.proposedIds.add(key)
      fresh.push(cmd)
    }
    if (fresh.length === 0) return
    for (let i = 0; i < fresh.length; i += this.cfg.maxCommandsPerEntry) {
      const commands = fresh.slice(i, i + this.cfg.maxCommandsPerEntry)
      this.log.append({ term: leader.term, value: { kind: 'batch', commands } })
    }
    for (const peer of this.peers) this.sendAppend(leader, peer, false)
    this.maybeCommit(leader) // a single-node cluster commits at once
  }

  private onLeaderHeartbeatTimeout(): void {
    const leader = this.leader
    if (leader === null) return
    const now = this.ctx.now()
    if (!this.checkQuorum(leader, now)) return
    for (const [peer, pr] of leader.progress) {
      // AppendEntries lost or unanswered for retransmitMs: go back to probing from the match index.
      if (!pr.probing && pr.inflight.length > 0 && now - pr.lastProgressMs >= this.cfg.retransmitMs) {
        pr.probing = true
        pr.next = pr.match + 1
        pr.inflight = []
      }
      this.sendAppend(leader, peer, true)
    }
    this.ctx.setTimer(TIMER_HEARTBEAT, this.cfg.heartbeatIntervalMs)
  }

  /**
   * Check-quorum (thesis sec. 6.2): a leader that has not heard from a majority (itself included) within
   * electionTimeoutMsMin steps down, instead of leading on, committing nothing, while its inbound links
   * are cut; its followers then time out and elect a leader a majority can answer. Returns whether we
   * still lead.
   */
  private checkQuorum(leader: LeaderState, now: number): boolean {
    if (!this.cfg.checkQuorum) return true
    let heard = 1 // ourselves
    for (const pr of leader.progress.values())
      if (now - pr.lastHeardMs < this.cfg.electionTimeoutMsMin) heard++
    if (heard >= this.quorum) return true
    this.becomeFollower(leader.term, null) // emits stepped-down
    return false
  }

  // ---------------------------------------------------------------- applying committed entries

  private advanceCommit(index: number): void {
    if (index <= this.commitIndex) return
    this.commitIndex = index
    const leader = this.leader
    while (this.lastApplied < this.commitIndex) {
      this.lastApplied++
      const { value } = this.log.entry(this.lastApplied)
      if (value.kind === 'noop') continue
      for (const cmd of value.commands) {
        const result = this.ctx.execute(cmd)
        const key = commandIdKey(cmd.id)
        leader?.proposedIds.delete(key)
        if (this.forwarder.settle(cmd.id)) this.ctx.reply(cmd.id, { status: 'ok', value: result.value })
      }
      this.ctx.emit({ type: 'commit', commands: commandCount(value) })
    }
    this.maybeSnapshot()
  }

  /**
   * Log compaction (sec. 7): every snapshotEveryEntries applied entries, snapshot the state machine (data
   * and client sessions) and discard the log up to the last applied entry. Each server does it on its own.
   */
  private maybeSnapshot(): void {
    const every = this.cfg.snapshotEveryEntries
    if (every === 0 || this.lastApplied - this.log.snapshotIndex < every) return
    this.log.compact(this.lastApplied, this.ctx.snapshotState())
    this.ctx.emit({ type: 'snapshot-taken', index: this.lastApplied })
  }

  // ---------------------------------------------------------------- followers: leader tracking, forwarding (sec. 8)

  /** AppendEntries of our term from `from`: it leads this term. */
  private recognizeLeader(from: NodeId): void {
    this.lastLeaderContactMs = this.ctx.now()
    this.armElectionTimer()
    if (this.leaderId === from) return
    this.leaderId = from
    this.forwarder.forwardAll()
  }

  private becomeFollower(term: number, leaderId: NodeId | null): void {
    if (term > this.log.currentTerm) this.log.setTerm(term)
    if (this.leader !== null) this.ctx.emit({ type: 'stepped-down', epoch: this.leader.term })
    this.leader = null
    this.candidate = null
    this.step = this.followerStep
    this.ctx.clearTimer(TIMER_HEARTBEAT)
    this.leaderId = null
    this.armElectionTimer()
    if (leaderId !== null) this.recognizeLeader(leaderId)
  }

  private armElectionTimer(): void {
    const span = this.cfg.electionTimeoutMsMax - this.cfg.electionTimeoutMsMin
    this.ctx.setTimer(TIMER_ELECTION, this.cfg.electionTimeoutMsMin + this.ctx.random() * span)
  }

  // ---------------------------------------------------------------- role tables

  private readonly followerStep: RoleStep = {
    role: 'follower',
    onVoteReply: () => {},
    onAppendReply: () => {},
    onForward: () => {}, // a stale forwarder: its origin re-forwards once it learns the leader
    submit: (cmds) => this.forwarder.sendTo(this.leaderId, cmds, this.cfg.maxCommandsPerEntry),
    onHeartbeatTimeout: () => {},
    onElectionTimeout: () => this.onElectionTimeout(),
  }

  private readonly candidateStep: RoleStep = {
    ...this.followerStep,
    role: 'candidate',
    onVoteReply: (from, msg) => this.onCandidateVoteReply(from, msg),
    submit: () => {}, // held in `pending` until the election ends
  }

  private readonly leaderStep: RoleStep = {
    role: 'leader',
    onVoteReply: () => {},
    onAppendReply: (from, msg) => this.onLeaderAppendReply(from, msg),
    onForward: (_from, msg) => {
      if (this.leader !== null) this.appendCommands(this.leader, msg.commands)
    },
    submit: (cmds) => {
      if (this.leader !== null) this.appendCommands(this.leader, cmds)
    },
    onHeartbeatTimeout: () => this.onLeaderHeartbeatTimeout(),
    onElectionTimeout: () => {}, // a leader has no election timer; a stale firing is ignored
  }
}
