/**
 * One Multi-Paxos replica, after van Renesse & Altinbuken, "Paxos Made Moderately Complex" (PMMC).
 *
 * Every replica plays all of PMMC's roles. The paper's processes become parts of one state machine:
 * - Acceptor (PMMC sec. 2, the Synod protocol): onPrepare, onAccept, backed by the durable PaxosLog.
 * - Scout (sec. 2): the candidate's phase 1 (startTakeover, onCandidatePromise).
 * - Leader (sec. 2, with sec. 3's failure detection and "watch the higher ballot instead of competing"):
 *   becomeLeader, the propose queue, heartbeats, onNack (preemption).
 * - Commander (sec. 2): the per-slot phase 2 state in `proposals` and onLeaderAccepted.
 * - Replica (sec. 2.1): onRequest, forwarding, learnChosen and executeReady (perform in slot order).
 * - State on disk and catch-up of lagging replicas (sec. 4): PaxosLog, onCatchupRequest/Reply.
 * - Log compaction (as Raft's sec. 7 does it): the end of executeReady (every
 *   `snapshotEveryEntries` executed slots), a catch-up below the first held slot answered with the snapshot
 *   (onSnapshot), and the restart from the stored snapshot in `start`.
 * - Check-quorum (after Raft's, thesis sec. 6.2), with `checkQuorum`: followers answer heartbeats, a leader
 *   that no majority answers steps down (checkQuorum), and prepares of a higher ballot are ignored while
 *   a leader is heard (inLeaderLease), so the deposed leader cannot disrupt its successor.
 *
 * Role-specific behaviour sits behind `this.step` (follower / candidate / leader), swapped on role change,
 * as raft.go does; the common ballot checks happen once in the handlers.
 */
import { adaptiveDeadlineMs, LatencyMean } from '../core/adaptive.ts'
import {
  type Ballot,
  ballotEquals,
  ballotGreater,
  compareBallots,
  formatBallot,
  maxBallot,
  nextBallot,
  ZERO_BALLOT,
} from '../core/ballot.ts'
import { type Command, commandIdKey, type NodeId } from '../core/command.ts'
import type { Engine, EngineContext, EngineRole, EngineStatus } from '../core/engine.ts'
import { FORWARD_RETRY_TIMER, Forwarder } from '../core/forwarder.ts'
import { majority, VoteSet } from '../core/quorum.ts'
import { type MultiPaxosConfig, resolveInitialLeader } from './config.ts'
import { PaxosLog } from './log.ts'
import {
  type AcceptedEntry,
  type AcceptedMsg,
  type AcceptMsg,
  type CatchupReplyMsg,
  type CatchupRequestMsg,
  type CommitMsg,
  commandCount,
  type ForwardMsg,
  type HeartbeatAckMsg,
  type HeartbeatMsg,
  type MultiPaxosMessage,
  type NackMsg,
  NOOP,
  type PrepareMsg,
  type PromiseMsg,
  type SlotValue,
  type SnapshotMsg,
  sameSlotValue,
} from './messages.ts'

export type MultiPaxosContext = EngineContext<MultiPaxosMessage, MultiPaxosConfig>

const TIMER_ELECTION = 'election'
const TIMER_HEARTBEAT = 'heartbeat'
const TIMER_RETRANSMIT = 'retransmit'
const TIMER_BATCH = 'batch'
const TIMER_CATCHUP = 'catchup'

/** Scout state (PMMC sec. 2): phase 1 of one ballot. */
interface CandidateState {
  readonly ballot: Ballot
  readonly fromSlot: number
  readonly promises: VoteSet
  /** highest-ballot vote reported per slot (PMMC's pmax) */
  readonly votes: Map<number, AcceptedEntry>
  readonly chosen: Map<number, SlotValue>
  maxChosenPrefix: number
  maxChosenPrefixAt: NodeId
}

/** Commander state (PMMC sec. 2): phase 2 of one slot. */
interface Proposal {
  readonly value: SlotValue
  readonly votes: VoteSet
  /** when the first accept left: the slot's phase-2 latency runs from here */
  readonly proposedAtMs: number
  /** when the accept was last sent (first send or resend) */
  sentAtMs: number
  /** resends so far: each doubles the wait before the next (bounded) */
  resends: number
}

/** Leader state (PMMC sec. 2) for one ballot. */
interface LeaderState {
  readonly ballot: Ballot
  nextSlot: number
  readonly proposals: Map<number, Proposal>
  readonly queue: Command[]
  /** ids queued or in flight: a command forwarded twice is proposed once */
  readonly proposedIds: Set<string>
  batchDue: boolean
  batchTimerSet: boolean
  /** per follower, when it last answered at our ballot (heartbeat-ack or accepted); check-quorum */
  readonly lastHeardMs: Map<NodeId, number>
}

/** What changes with the role (raft.go's `step`). */
interface RoleStep {
  readonly role: EngineRole
  onPromise(from: NodeId, msg: PromiseMsg): void
  onAccepted(from: NodeId, msg: AcceptedMsg): void
  onHeartbeatAck(from: NodeId, msg: HeartbeatAckMsg): void
  onForward(from: NodeId, msg: ForwardMsg): void
  /** route client commands that wait at this replica */
  submit(cmds: Command[]): void
  onHeartbeatTimeout(): void
  onRetransmitTimeout(): void
  onBatchTimeout(): void
}

export class MultiPaxosReplica implements Engine<MultiPaxosMessage> {
  private readonly quorum: number
  private readonly initialLeader: NodeId
  private readonly peers: readonly NodeId[]
  private readonly cfg: MultiPaxosConfig

  private log!: PaxosLog
  private step!: RoleStep
  private candidate: CandidateState | null = null
  private leader: LeaderState | null = null
  /** who this replica believes leads, and at which ballot */
  private leaderId: NodeId | null = null
  private leaderBallot: Ballot = ZERO_BALLOT
  /** when a message of the leader we recognise last arrived (the lease of inLeaderLease) */
  private lastLeaderContactMs = Number.NEGATIVE_INFINITY
  /** the highest ballot seen in any message: a takeover must go above it */
  private highestBallotSeen: Ballot = ZERO_BALLOT
  /** the highest commit index announced to this replica: slots below it are chosen somewhere */
  private knownCommitIndex = 0
  private executed = 0
  private readonly forwarder: Forwarder
  private catchupAskedAtMs: number | null = null
  /** how long phase 2 takes as leader now (propose to chosen): unanswered accepts wait a multiple */
  private readonly phase2Latency = new LatencyMean()

  constructor(private readonly ctx: MultiPaxosContext) {
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
    // Volatile state starts over: only the PaxosLog survives a restart.
    this.log = PaxosLog.load(this.ctx.storage, this.cfg.testFault)
    this.candidate = null
    this.leader = null
    this.leaderId = null
    this.leaderBallot = ZERO_BALLOT
    this.lastLeaderContactMs = Number.NEGATIVE_INFINITY
    this.highestBallotSeen = this.log.promised
    this.knownCommitIndex = this.log.chosenPrefix
    this.forwarder.reset()
    this.catchupAskedAtMs = null
    this.phase2Latency.reset()
    // The runtime rebuilt the KV from scratch: it gets the stored snapshot, then the durable chosen slots
    // after it execute again (from slot 0 without a snapshot).
    this.executed = 0
    const snap = this.log.snapshot
    if (snap !== null) {
      this.ctx.installState(snap.state)
      this.executed = snap.index
      this.ctx.emit({ type: 'snapshot-restored', index: snap.index })
    }
    this.executeReady()
    this.becomeFollower()
    const firstBoot = compareBallots(this.log.promised, ZERO_BALLOT) === 0
    if (firstBoot && this.ctx.self === this.initialLeader) this.startTakeover()
  }

  status(): EngineStatus {
    return {
      role: this.step.role,
      leader: this.leaderId,
      epoch: this.log.promised.round,
      executed: this.executed,
    }
  }

  assertInvariants(): void {
    this.log.assertInvariants()
    if (compareBallots(this.leaderBallot, this.log.promised) > 0)
      throw new Error('invariant: following a leader above our promise')
    if (this.executed !== this.log.chosenPrefix)
      throw new Error(`invariant: executed ${this.executed} != chosen prefix ${this.log.chosenPrefix}`)
    const every = this.cfg.snapshotEveryEntries
    if (every > 0 && this.executed - this.log.snapshotIndex >= every)
      throw new Error(
        `invariant: ${this.executed - this.log.snapshotIndex} executed slots after the snapshot`,
      )
    if (this.forwarder.size > this.cfg.maxPendingCommands)
      throw new Error('invariant: pending over its limit')
    const role = this.step.role
    if ((role === 'leader') !== (this.leader !== null)) throw new Error('invariant: leader state vs role')
    if ((role === 'candidate') !== (this.candidate !== null))
      throw new Error('invariant: candidate state vs role')
    if (this.leader !== null) {
      if (!ballotEquals(this.leader.ballot, this.log.promised))
        throw new Error(
          `invariant: leader ballot ${formatBallot(this.leader.ballot)} != promised ${formatBallot(this.log.promised)}`,
        )
      if (this.leaderId !== this.ctx.self) throw new Error('invariant: a leader believes another leads')
      if (this.leader.queue.length > this.cfg.maxQueuedCommands)
        throw new Error('invariant: queue over limit')
      for (const slot of this.leader.proposals.keys()) {
        if (this.log.isChosen(slot)) throw new Error(`invariant: proposal for chosen slot ${slot}`)
        if (slot >= this.leader.nextSlot) throw new Error(`invariant: proposal ${slot} beyond nextSlot`)
      }
    }
    if (this.candidate !== null && !ballotEquals(this.candidate.ballot, this.log.promised))
      throw new Error('invariant: candidate ballot != promised')
  }

  // ---------------------------------------------------------------- client commands (PMMC Replica)

  onRequest(cmd: Command): void {
    this.forwarder.onRequest(cmd)
  }

  onMessage(from: NodeId, msg: MultiPaxosMessage): void {
    if (from === this.ctx.self || !this.ctx.nodes.includes(from)) return
    switch (msg.type) {
      case 'prepare':
        this.onPrepare(from, msg)
        break
      case 'promise':
        this.step.onPromise(from, msg)
        break
      case 'accept':
        this.onAccept(from, msg)
        break
      case 'accepted':
        this.step.onAccepted(from, msg)
        break
      case 'nack':
        this.onNack(from, msg)
        break
      case 'commit':
        this.onCommit(from, msg)
        break
      case 'heartbeat':
        this.onHeartbeat(from, msg)
        break
      case 'heartbeat-ack':
        this.step.onHeartbeatAck(from, msg)
        break
      case 'catchup-request':
        this.onCatchupRequest(from, msg)
        break
      case 'catchup-reply':
        this.onCatchupReply(from, msg)
        break
      case 'snapshot':
        this.onSnapshot(from, msg)
        break
      case 'forward':
        this.step.onForward(from, msg)
        break
    }
  }

  onTimer(name: string): void {
    switch (name) {
      case TIMER_ELECTION:
        this.onElectionTimeout()
        break
      case TIMER_HEARTBEAT:
        this.step.onHeartbeatTimeout()
        break
      case TIMER_RETRANSMIT:
        this.step.onRetransmitTimeout()
        break
      case TIMER_BATCH:
        this.step.onBatchTimeout()
        break
      case FORWARD_RETRY_TIMER:
        this.forwarder.onRetryTimeout()
        break
      case TIMER_CATCHUP:
        this.onCatchupTimeout()
        break
    }
  }

  // ---------------------------------------------------------------- acceptor (PMMC sec. 2)

  private onPrepare(from: NodeId, msg: PrepareMsg): void {
    // While we hear a leader (checkQuorum), a higher ballot's prepare comes from a replica that cannot hear
    // it, or from a deposed leader: ignore it, as if lost, rather than depose a leader a majority follows.
    if (ballotGreater(msg.ballot, this.log.promised) && this.inLeaderLease()) return
    this.noteBallot(msg.ballot)
    if (compareBallots(msg.ballot, this.log.promised) < 0) {
      this.ctx.send(from, { type: 'nack', ballot: msg.ballot, promised: this.log.promised })
      return
    }
    if (ballotGreater(msg.ballot, this.log.promised)) {
      this.log.promise(msg.ballot)
      // A higher ballot is trying to lead: stop leading, and give it a full timeout to finish phase 1.
      if (this.step.role !== 'follower') this.becomeFollower()
      this.leaderId = null
      this.armElectionTimer()
    }
    const content = this.log.promiseContent(msg.fromSlot)
    this.ctx.send(from, {
      type: 'promise',
      ballot: msg.ballot,
      chosenPrefix: this.log.chosenPrefix,
      accepted: content.accepted,
      chosen: content.chosen,
    })
  }

  private onAccept(from: NodeId, msg: AcceptMsg): void {
    this.noteBallot(msg.ballot)
    if (compareBallots(msg.ballot, this.log.promised) < 0) {
      this.ctx.send(from, { type: 'nack', ballot: msg.ballot, promised: this.log.promised })
      return
    }
    this.recognizeLeader(from, msg.ballot)
    if (msg.slot < this.log.firstSlot) {
      // Chosen and compacted here: we cannot vouch for the value. Tell the leader how far the chosen
      // prefix goes (as a catch-up reply would); it fetches the slot, or the snapshot, by catch-up.
      this.ctx.send(from, { type: 'catchup-reply', entries: [], chosenPrefix: this.log.chosenPrefix })
    } else if (this.acceptLocally(msg.slot, msg.ballot, msg.value)) {
      this.ctx.send(from, { type: 'accepted', ballot: msg.ballot, slot: msg.slot })
    }
    this.learnCommitIndex(from, msg.ballot, msg.commitIndex)
  }

  /** Votes for value at slot if allowed; returns whether the vote stands (answer 'accepted'). */
  private acceptLocally(slot: number, ballot: Ballot, value: SlotValue): boolean {
    if (slot < this.log.firstSlot) return false // compacted: chosen, the value is not held to compare
    const chosen = this.log.chosen(slot)
    if (chosen !== undefined) {
      // Already chosen: a leader at a ballot >= our promise can only be proposing that same value.
      this.log.promise(ballot)
      return sameSlotValue(chosen, value)
    }
    this.log.accept(slot, ballot, value)
    return true
  }

  // ---------------------------------------------------------------- learning and catch-up

  private onCommit(from: NodeId, msg: CommitMsg): void {
    this.onLeaderSignal(from, msg.ballot)
    this.learnCommitIndex(from, msg.ballot, msg.commitIndex)
  }

  private onHeartbeat(from: NodeId, msg: HeartbeatMsg): void {
    // One small answer per heartbeat, so the leader can count who still follows it (check-quorum).
    if (this.onLeaderSignal(from, msg.ballot) && this.cfg.checkQuorum && this.leaderId === from)
      this.ctx.send(from, { type: 'heartbeat-ack', ballot: msg.ballot })
    this.learnCommitIndex(from, msg.ballot, msg.commitIndex)
  }

  /**
   * A leader's heartbeat or commit: recognise it, or tell it (nack) that it has been superseded. Returns
   * whether the ballot stands (>= our promise).
   */
  private onLeaderSignal(from: NodeId, ballot: Ballot): boolean {
    this.noteBallot(ballot)
    if (compareBallots(ballot, this.log.promised) < 0) {
      this.ctx.send(from, { type: 'nack', ballot, promised: this.log.promised })
      return false
    }
    this.recognizeLeader(from, ballot)
    return true
  }

  /**
   * Every slot below commitIndex is chosen; where the leader of `ballot` sent us an accept, its value is
   * the chosen one (the leader only announces slots it proposed at `ballot` once chosen with that value,
   * and slots it learned chosen elsewhere, which it never proposes at `ballot`). Safe from any sender,
   * even a superseded leader: its claims were true when it made them.
   */
  private learnCommitIndex(from: NodeId, ballot: Ballot, commitIndex: number): void {
    if (commitIndex <= this.log.chosenPrefix) return
    const learned: Array<[number, SlotValue]> = []
    for (const [slot, vote] of this.log.allVotes()) {
      if (slot < commitIndex && ballotEquals(vote.ballot, ballot)) learned.push([slot, vote.value])
    }
    for (const [slot, value] of learned) this.learnChosen(slot, value)
    this.knownCommitIndex = Math.max(this.knownCommitIndex, commitIndex)
    this.executeReady()
    if (this.log.chosenPrefix < this.knownCommitIndex) this.requestCatchup(from)
  }

  private requestCatchup(target: NodeId): void {
    const now = this.ctx.now()
    if (this.catchupAskedAtMs !== null && now - this.catchupAskedAtMs < this.cfg.retransmitMs) return
    this.catchupAskedAtMs = now
    const fromSlot = this.log.chosenPrefix
    const toSlot = Math.min(this.knownCommitIndex, fromSlot + this.cfg.catchupBatchSlots)
    this.ctx.send(target, { type: 'catchup-request', fromSlot, toSlot })
    this.ctx.setTimer(TIMER_CATCHUP, this.cfg.retransmitMs)
  }

  private onCatchupRequest(from: NodeId, msg: CatchupRequestMsg): void {
    const snap = this.log.snapshot
    if (msg.fromSlot < this.log.firstSlot && snap !== null) {
      // Those slots were compacted away: the snapshot replaces them (one message).
      const reply: SnapshotMsg = { type: 'snapshot', ...snap, chosenPrefix: this.log.chosenPrefix }
      this.ctx.send(from, reply)
      return
    }
    const toSlot = Math.min(msg.toSlot, msg.fromSlot + this.cfg.catchupBatchSlots)
    const entries = this.log.chosenRun(msg.fromSlot, toSlot, this.cfg.catchupBatchSlots)
    this.ctx.send(from, { type: 'catchup-reply', entries, chosenPrefix: this.log.chosenPrefix })
  }

  private onCatchupReply(from: NodeId, msg: CatchupReplyMsg): void {
    const before = this.log.chosenPrefix
    for (const entry of msg.entries) this.learnChosen(entry.slot, entry.value)
    this.knownCommitIndex = Math.max(this.knownCommitIndex, msg.chosenPrefix)
    this.executeReady()
    this.catchupAskedAtMs = null
    if (this.log.chosenPrefix >= this.knownCommitIndex) {
      this.ctx.clearTimer(TIMER_CATCHUP)
    } else if (this.log.chosenPrefix > before) {
      this.requestCatchup(from) // progress: ask the same peer for the next batch at once
    }
    // no progress: the catch-up timer asks another peer
  }

  /**
   * Another replica's snapshot, the answer to our catch-up below its first held slot. Every slot below its
   * index is chosen, so it is safe from any sender. One at or below our chosen prefix tells us nothing new.
   */
  private onSnapshot(from: NodeId, msg: SnapshotMsg): void {
    const before = this.log.chosenPrefix
    this.knownCommitIndex = Math.max(this.knownCommitIndex, msg.chosenPrefix, msg.index)
    if (msg.index > before) {
      this.log.installSnapshot({ index: msg.index, state: msg.state }) // durable before anything is sent
      this.ctx.installState(msg.state)
      this.executed = msg.index
      this.ctx.emit({ type: 'snapshot-installed', index: msg.index })
      const leader = this.leader
      if (leader !== null) {
        // Our proposals below it are decided (perhaps with other values): drop them, and never propose there.
        for (const [slot, proposal] of leader.proposals) {
          if (slot >= msg.index) continue
          leader.proposals.delete(slot)
          this.forgetProposedIds(leader, proposal.value)
        }
        leader.nextSlot = Math.max(leader.nextSlot, msg.index)
      }
      this.executeReady()
      // Commands waiting here that the snapshot executed were never executed by us, so never answered:
      // send them to the leader again; re-agreed, they execute as duplicates and are answered then.
      this.forwarder.forwardAll()
    }
    this.catchupAskedAtMs = null
    if (this.log.chosenPrefix >= this.knownCommitIndex) this.ctx.clearTimer(TIMER_CATCHUP)
    else if (this.log.chosenPrefix > before) this.requestCatchup(from)
  }

  private onCatchupTimeout(): void {
    this.catchupAskedAtMs = null
    if (this.log.chosenPrefix >= this.knownCommitIndex) return
    const leader = this.leaderId
    const target =
      leader !== null && leader !== this.ctx.self && this.ctx.random() < 0.5 ? leader : this.randomPeer()
    if (target !== null) this.requestCatchup(target)
  }

  /**
   * Records a chosen value (PMMC's `decision`). A leader that sees a slot it proposed chosen with another
   * value has been superseded (the value was chosen at a higher ballot) and steps down.
   */
  private learnChosen(slot: number, value: SlotValue): void {
    if (!this.log.markChosen(slot, value)) return
    const leader = this.leader
    if (leader === null) return
    const proposal = leader.proposals.get(slot)
    if (proposal === undefined) return
    leader.proposals.delete(slot)
    this.forgetProposedIds(leader, proposal.value)
    if (!sameSlotValue(proposal.value, value)) this.becomeFollower()
  }

  /** Executes chosen slots in order (PMMC's `perform`) and answers the clients whose commands arrived here. */
  private executeReady(): void {
    while (this.executed < this.log.chosenPrefix) {
      const value = this.log.chosen(this.executed)
      if (value === undefined) throw new Error(`internal: chosen slot ${this.executed} has no value`)
      if (value.kind === 'batch') {
        for (const cmd of value.commands) {
          const result = this.ctx.execute(cmd)
          if (this.forwarder.settle(cmd.id)) this.ctx.reply(cmd.id, { status: 'ok', value: result.value })
        }
      }
      this.executed++
      if (value.kind === 'batch') this.ctx.emit({ type: 'commit', commands: commandCount(value) })
    }
    // Log compaction, each replica on its own: every snapshotEveryEntries executed slots, snapshot the state
    // machine (data and client sessions) at the executed prefix; the log keeps one interval of values.
    const every = this.cfg.snapshotEveryEntries
    if (every > 0 && this.executed - this.log.snapshotIndex >= every) {
      this.log.compact(this.executed, this.ctx.snapshotState())
      this.ctx.emit({ type: 'snapshot-taken', index: this.executed })
    }
  }

  // ---------------------------------------------------------------- leader election (PMMC Scout; sec. 3 failure detection)

  private onElectionTimeout(): void {
    if (this.step.role === 'leader') return
    this.startTakeover()
  }

  /** Phase 1 with a ballot above everything seen, covering every slot from our chosen prefix on. */
  private startTakeover(): void {
    const ballot = nextBallot(maxBallot(this.log.promised, this.highestBallotSeen), this.ctx.self)
    this.log.promise(ballot) // our own promise, durable before the prepares leave
    this.noteBallot(ballot)
    const fromSlot = this.log.chosenPrefix
    this.candidate = {
      ballot,
      fromSlot,
      promises: new VoteSet(this.quorum),
      votes: new Map(),
      chosen: new Map(),
      maxChosenPrefix: -1,
      maxChosenPrefixAt: this.ctx.self,
    }
    this.leader = null
    this.leaderId = null
    this.step = this.candidateStep
    // Dueling candidates: each retries after its own random timeout, so one usually gets ahead.
    this.armElectionTimer()
    for (const peer of this.peers) this.ctx.send(peer, { type: 'prepare', ballot, fromSlot })
    const own = this.log.promiseContent(fromSlot)
    this.candidateStep.onPromise(this.ctx.self, {
      type: 'promise',
      ballot,
      chosenPrefix: this.log.chosenPrefix,
      accepted: own.accepted,
      chosen: own.chosen,
    })
  }

  private onCandidatePromise(from: NodeId, msg: PromiseMsg): void {
    const cand = this.candidate
    if (cand === null || !ballotEquals(msg.ballot, cand.ballot)) return
    if (cand.promises.has(from)) return // a duplicate must not count twice, nor merge twice
    if (msg.chosenPrefix > cand.maxChosenPrefix) {
      cand.maxChosenPrefix = msg.chosenPrefix
      cand.maxChosenPrefixAt = from
    }
    for (const entry of msg.chosen) {
      const known = cand.chosen.get(entry.slot)
      if (known !== undefined && !sameSlotValue(known, entry.value))
        throw new Error(`safety: promises report slot ${entry.slot} chosen with two values`)
      cand.chosen.set(entry.slot, entry.value)
    }
    // TEST-ONLY fault: a leader that ignores the votes in promises may overwrite a chosen value.
    if (this.cfg.testFault !== 'ignore-promise-values') {
      for (const entry of msg.accepted) {
        const known = cand.votes.get(entry.slot)
        if (known === undefined || ballotGreater(entry.ballot, known.ballot))
          cand.votes.set(entry.slot, entry)
        else if (ballotEquals(entry.ballot, known.ballot) && !sameSlotValue(entry.value, known.value))
          throw new Error(`safety: ballot ${formatBallot(entry.ballot)} proposed two values at ${entry.slot}`)
      }
    }
    if (cand.promises.add(from)) this.becomeLeader(cand)
  }

  /**
   * Phase 1 done (PMMC Leader on "adopted"): learn what the promises report chosen, re-propose the
   * highest-ballot vote of every unfinished slot, fill gaps with no-ops, then serve new commands.
   */
  private becomeLeader(cand: CandidateState): void {
    for (const [slot, value] of cand.chosen) this.log.markChosen(slot, value)
    const leader: LeaderState = {
      ballot: cand.ballot,
      nextSlot: 0,
      proposals: new Map(),
      queue: [],
      proposedIds: new Set(),
      batchDue: false,
      batchTimerSet: false,
      lastHeardMs: new Map(this.peers.map((peer) => [peer, this.ctx.now()])),
    }
    this.candidate = null
    this.leader = leader
    this.leaderId = this.ctx.self
    this.leaderBallot = cand.ballot
    this.step = this.leaderStep
    this.ctx.clearTimer(TIMER_ELECTION)
    this.ctx.emit({ type: 'elected', epoch: cand.ballot.round })

    // Slots below the highest reported chosen prefix are chosen somewhere: fetch them, never propose them.
    const chosenFloor = Math.max(cand.maxChosenPrefix, this.log.chosenPrefix)
    this.knownCommitIndex = Math.max(this.knownCommitIndex, chosenFloor)
    let highest = chosenFloor - 1
    for (const slot of cand.votes.keys()) highest = Math.max(highest, slot)
    for (const slot of cand.chosen.keys()) highest = Math.max(highest, slot)
    leader.nextSlot = highest + 1
    for (let slot = chosenFloor; slot <= highest; slot++) {
      if (this.log.chosen(slot) !== undefined) continue
      this.propose(leader, slot, cand.votes.get(slot)?.value ?? NOOP)
    }
    this.executeReady()
    if (this.log.chosenPrefix < this.knownCommitIndex) this.requestCatchup(cand.maxChosenPrefixAt)
    this.broadcastHeartbeat(leader)
    this.ctx.setTimer(TIMER_HEARTBEAT, this.cfg.heartbeatIntervalMs)
    this.ctx.setTimer(TIMER_RETRANSMIT, this.cfg.retransmitMs)
    // Commands that arrived here while nobody led now go into the first slots.
    this.forwarder.forwardAll() // into our own queue: step is leaderStep
  }

  /** A nack names a higher promise: our ballot is preempted (PMMC Leader on "preempted"). */
  private onNack(_from: NodeId, msg: NackMsg): void {
    this.noteBallot(msg.promised)
    const mine = this.leader?.ballot ?? this.candidate?.ballot
    if (mine === undefined || !ballotEquals(mine, msg.ballot)) return
    if (!ballotGreater(msg.promised, mine)) return
    this.becomeFollower()
  }

  // ---------------------------------------------------------------- leader: proposing (PMMC Leader, Commander)

  private enqueue(leader: LeaderState, cmds: readonly Command[]): void {
    for (const cmd of cmds) {
      const key = commandIdKey(cmd.id)
      if (leader.proposedIds.has(key)) continue
      // Over the limit the command is dropped: its origin forwards it again after forwardRetryMs.
      if (leader.queue.length >= this.cfg.maxQueuedCommands) break
      leader.queue.push(cmd)
      leader.proposedIds.add(key)
    }
    this.proposeQueued(leader)
  }

  /** Moves queued commands into new slots while the pipeline window has room. */
  private proposeQueued(leader: LeaderState): void {
    while (leader.queue.length > 0 && leader.proposals.size < this.cfg.maxInflightSlots) {
      if (this.leader !== leader) return // a proposal made us step down
      let take = 1
      if (this.cfg.batching) {
        const full = leader.queue.length >= this.cfg.batchMaxCommands
        if (!full && !leader.batchDue && this.cfg.batchDelayMs > 0) {
          // Arm once: re-arming on every arrival would postpone a trickle's batch forever.
          if (!leader.batchTimerSet) this.ctx.setTimer(TIMER_BATCH, this.cfg.batchDelayMs)
          leader.batchTimerSet = true
          return
        }
        take = Math.min(leader.queue.length, this.cfg.batchMaxCommands)
      }
      const commands = leader.queue.splice(0, take)
      const slot = leader.nextSlot++
      this.propose(leader, slot, { kind: 'batch', commands })
    }
  }

  /** Phase 2 for one slot (PMMC Commander): vote locally, then ask every peer. */
  private propose(leader: LeaderState, slot: number, value: SlotValue): void {
    if (leader.proposals.has(slot)) throw new Error(`internal: slot ${slot} proposed twice in one ballot`)
    if (value.kind === 'batch') for (const cmd of value.commands) leader.proposedIds.add(commandIdKey(cmd.id))
    const now = this.ctx.now()
    const proposal: Proposal = {
      value,
      votes: new VoteSet(this.quorum),
      proposedAtMs: now,
      sentAtMs: now,
      resends: 0,
    }
    leader.proposals.set(slot, proposal)
    if (!this.acceptLocally(slot, leader.ballot, value))
      throw new Error(`internal: leader refused its own proposal at ${slot}`)
    const msg: AcceptMsg = {
      type: 'accept',
      ballot: leader.ballot,
      slot,
      value,
      commitIndex: this.log.chosenPrefix,
    }
    for (const peer of this.peers) this.ctx.send(peer, msg)
    this.countAcceptVote(leader, slot, this.ctx.self)
  }

  private onLeaderAccepted(from: NodeId, msg: AcceptedMsg): void {
    const leader = this.leader
    if (leader === null || !ballotEquals(msg.ballot, leader.ballot)) return
    leader.lastHeardMs.set(from, this.ctx.now())
    this.countAcceptVote(leader, msg.slot, from)
  }

  private onLeaderHeartbeatAck(from: NodeId, msg: HeartbeatAckMsg): void {
    const leader = this.leader
    if (leader === null || !ballotEquals(msg.ballot, leader.ballot) || !leader.lastHeardMs.has(from)) return
    leader.lastHeardMs.set(from, this.ctx.now())
  }

  private countAcceptVote(leader: LeaderState, slot: number, from: NodeId): void {
    const proposal = leader.proposals.get(slot)
    if (proposal === undefined || !proposal.votes.add(from)) return
    // A majority voted at our ballot: chosen (PMMC Commander sends "decision").
    this.phase2Latency.add(this.ctx.now() - proposal.proposedAtMs)
    const before = this.log.chosenPrefix
    this.learnChosen(slot, proposal.value)
    this.executeReady()
    if (this.leader !== leader) return
    if (this.log.chosenPrefix > before) {
      const commit: CommitMsg = { type: 'commit', ballot: leader.ballot, commitIndex: this.log.chosenPrefix }
      for (const peer of this.peers) this.ctx.send(peer, commit)
    }
    this.proposeQueued(leader)
  }

  private onLeaderForward(_from: NodeId, msg: ForwardMsg): void {
    if (this.leader !== null) this.enqueue(this.leader, msg.commands)
  }

  private onLeaderHeartbeatTimeout(): void {
    const leader = this.leader
    if (leader === null) return
    if (!this.checkQuorum(leader)) return
    this.broadcastHeartbeat(leader)
    this.ctx.setTimer(TIMER_HEARTBEAT, this.cfg.heartbeatIntervalMs)
  }

  /**
   * Check-quorum (Raft thesis sec. 6.2, applied here): a leader that has heard no heartbeat-ack or accepted
   * from a majority (itself included) within leaderTimeoutMsMin steps down, instead of leading on,
   * choosing nothing, while its inbound links are cut; the followers then time out and elect a leader a
   * majority can answer. Returns whether we still lead.
   */
  private checkQuorum(leader: LeaderState): boolean {
    if (!this.cfg.checkQuorum) return true
    const now = this.ctx.now()
    let heard = 1 // ourselves
    for (const at of leader.lastHeardMs.values()) if (now - at < this.cfg.leaderTimeoutMsMin) heard++
    if (heard >= this.quorum) return true
    this.becomeFollower() // emits stepped-down
    return false
  }

  /**
   * With checkQuorum: we lead, or heard the leader we recognise within leaderTimeoutMsMin. A leader keeps
   * it only while a majority answers (checkQuorum), so a deposed leader's followers are free within one
   * minimum timeout of its last message.
   */
  private inLeaderLease(): boolean {
    if (!this.cfg.checkQuorum) return false
    if (this.step.role === 'leader') return true
    return this.leaderId !== null && this.ctx.now() - this.lastLeaderContactMs < this.cfg.leaderTimeoutMsMin
  }

  private broadcastHeartbeat(leader: LeaderState): void {
    const msg: HeartbeatMsg = { type: 'heartbeat', ballot: leader.ballot, commitIndex: this.log.chosenPrefix }
    for (const peer of this.peers) this.ctx.send(peer, msg)
  }

  /**
   * Accepts can be lost: send them again to the acceptors that have not voted, once the slot has waited
   * retransmitFactor x the mean phase-2 latency of the moment (at least retransmitMs), doubled per resend
   * of that slot, at most retransmitMsMax (README "Resends"). A fixed deadline resent every slot in
   * flight, again and again, whenever a round trip took longer than it (an overloaded host, a slow WAN),
   * adding load to a cluster already behind.
   */
  private onLeaderRetransmitTimeout(): void {
    const leader = this.leader
    if (leader === null) return
    const now = this.ctx.now()
    for (const [slot, proposal] of leader.proposals) {
      const waitMs = Math.min(
        this.cfg.retransmitMsMax,
        adaptiveDeadlineMs(
          this.cfg.retransmitMs,
          this.cfg.retransmitFactor,
          this.phase2Latency,
          proposal.resends,
        ),
      )
      if (now - proposal.sentAtMs < waitMs) continue
      proposal.sentAtMs = now
      proposal.resends++
      const msg: AcceptMsg = {
        type: 'accept',
        ballot: leader.ballot,
        slot,
        value: proposal.value,
        commitIndex: this.log.chosenPrefix,
      }
      for (const peer of this.peers) if (!proposal.votes.has(peer)) this.ctx.send(peer, msg)
    }
    if (this.log.chosenPrefix < this.knownCommitIndex) {
      const peer = this.randomPeer()
      if (peer !== null) this.requestCatchup(peer)
    }
    this.ctx.setTimer(TIMER_RETRANSMIT, this.cfg.retransmitMs)
  }

  private onLeaderBatchTimeout(): void {
    const leader = this.leader
    if (leader === null) return
    leader.batchTimerSet = false
    leader.batchDue = true
    this.proposeQueued(leader)
    leader.batchDue = false
  }

  private forgetProposedIds(leader: LeaderState, value: SlotValue): void {
    if (value.kind === 'batch')
      for (const cmd of value.commands) leader.proposedIds.delete(commandIdKey(cmd.id))
  }

  // ---------------------------------------------------------------- followers: leader tracking, forwarding

  /** A message at `ballot` >= our promise from its owner: that node leads (or is about to). */
  private recognizeLeader(from: NodeId, ballot: Ballot): void {
    if (ballot.node !== from) return
    const mine = this.leader?.ballot ?? this.candidate?.ballot
    if (mine !== undefined) {
      if (!ballotGreater(ballot, mine)) return // our own ballot (or lower): nothing to learn
      this.becomeFollower()
    }
    // Promising the leader's ballot is always safe (it only forbids lower ones) and keeps a superseded
    // leader's heartbeats from winning us back: they now fall below the promise and get a nack.
    this.log.promise(ballot)
    const changed = this.leaderId !== from
    this.leaderId = from
    this.leaderBallot = ballot
    this.lastLeaderContactMs = this.ctx.now()
    this.armElectionTimer()
    if (changed) this.forwarder.forwardAll()
  }

  private becomeFollower(): void {
    if (this.leader !== null) this.ctx.emit({ type: 'stepped-down', epoch: this.leader.ballot.round })
    if (this.leader !== null || this.candidate !== null) this.leaderId = null
    this.leader = null
    this.candidate = null
    this.step = this.followerStep
    this.ctx.clearTimer(TIMER_HEARTBEAT)
    this.ctx.clearTimer(TIMER_RETRANSMIT)
    this.ctx.clearTimer(TIMER_BATCH)
    this.armElectionTimer()
  }

  private armElectionTimer(): void {
    const span = this.cfg.leaderTimeoutMsMax - this.cfg.leaderTimeoutMsMin
    this.ctx.setTimer(TIMER_ELECTION, this.cfg.leaderTimeoutMsMin + this.ctx.random() * span)
  }

  // ---------------------------------------------------------------- helpers

  private noteBallot(ballot: Ballot): void {
    this.highestBallotSeen = maxBallot(this.highestBallotSeen, ballot)
  }

  private randomPeer(): NodeId | null {
    if (this.peers.length === 0) return null
    return this.peers[Math.floor(this.ctx.random() * this.peers.length)] ?? null
  }

  // ---------------------------------------------------------------- role tables

  private readonly followerStep: RoleStep = {
    role: 'follower',
    onPromise: () => {},
    onAccepted: () => {},
    onHeartbeatAck: () => {},
    onForward: () => {}, // a stale forwarder: its origin re-forwards once it learns the leader
    submit: (cmds) => this.forwarder.sendTo(this.leaderId, cmds, this.cfg.batchMaxCommands),
    onHeartbeatTimeout: () => {},
    onRetransmitTimeout: () => {},
    onBatchTimeout: () => {},
  }

  private readonly candidateStep: RoleStep = {
    ...this.followerStep,
    role: 'candidate',
    onPromise: (from, msg) => this.onCandidatePromise(from, msg),
    submit: () => {}, // held in `pending` until the election ends
  }

  private readonly leaderStep: RoleStep = {
    role: 'leader',
    onPromise: () => {},
    onAccepted: (from, msg) => this.onLeaderAccepted(from, msg),
    onHeartbeatAck: (from, msg) => this.onLeaderHeartbeatAck(from, msg),
    onForward: (from, msg) => this.onLeaderForward(from, msg),
    submit: (cmds) => {
      if (this.leader !== null) this.enqueue(this.leader, cmds)
    },
    onHeartbeatTimeout: () => this.onLeaderHeartbeatTimeout(),
    onRetransmitTimeout: () => this.onLeaderRetransmitTimeout(),
    onBatchTimeout: () => this.onLeaderBatchTimeout(),
  }
}
