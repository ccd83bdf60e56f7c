/**
 * One Ios replica (README.md). Every replica is an acceptor and a learner and may coordinate; the
 * master of view v (node v mod N) assigns log indices and delegates their accept phase:
 *
 * - Master (view v, after recovery): queue -> slots within a window -> `coordinate` to a coordinator
 *   chosen by Delegation; frees the window slot when the coordinator's `commit` arrives; moves a slot
 *   that missed coordinatorTimeoutMs to another coordinator (same value, same view).
 * - Coordinator: runs phase 2 at the master's ballot against q2 acceptors (its own vote included),
 *   marks the slot chosen, tells every replica (`commit`, the master's acknowledgement included).
 * - Acceptor: the durable PaxosLog (promise, votes, chosen values), shared with engines/multipaxos.
 * - Recovery: on a master timeout a replica moves to the next view; the master of that view gathers q1
 *   promises, re-coordinates the highest-ballot vote of every unfinished slot (no-op for gaps), resumes.
 * - Learner / origin: executes chosen slots in order, answers its own clients, catches up when behind.
 */
import { adaptiveDeadlineMs, LatencyMean, MAX_BACKOFF_DOUBLINGS } from '../core/adaptive.ts'
import { type Ballot, ballotEquals, ballotGreater, compareBallots } from '../core/ballot.ts'
import { type Command, commandIdKey, type NodeId } from '../core/command.ts'
import type { Engine, EngineContext, EngineRole, EngineStatus } from '../core/engine.ts'
import { VoteSet } from '../core/quorum.ts'
import { PaxosLog } from '../multipaxos/log.ts'
import { type IosConfig, type IosQuorums, resolveQuorums } from './config.ts'
import { Delegation } from './delegation.ts'
import {
  type AcceptedEntry,
  type AcceptedMsg,
  type AcceptMsg,
  type CatchupReplyMsg,
  type CatchupRequestMsg,
  type ChosenEntry,
  type CommitMsg,
  type CoordinateMsg,
  commandCount,
  type ForwardMsg,
  type HeartbeatMsg,
  type HeldAcks,
  type IosMessage,
  masterOf,
  type NackMsg,
  NOOP,
  type PrepareMsg,
  type PromiseMsg,
  type SlotValue,
  sameSlotValue,
  viewBallot,
  viewOf,
} from './messages.ts'

export type IosContext = EngineContext<IosMessage, IosConfig>

const TIMER_ELECTION = 'election'
const TIMER_HEARTBEAT = 'heartbeat'
const TIMER_RETRANSMIT = 'retransmit'
const TIMER_BATCH = 'batch'
const TIMER_FORWARD_RETRY = 'forward-retry'
const TIMER_CATCHUP = 'catchup'
const TIMER_MASTER_ACK = 'master-ack'

interface PendingCommand {
  readonly cmd: Command
  forwardedAtMs: number
  /** forwarded again so far without being executed: each doubles the wait before the next */
  retries: number
}

/** A command queued at the master, with the replica it arrived at (the reverse-delegation target). */
interface Queued {
  readonly cmd: Command
  readonly origin: NodeId
}

/** A slot the master assigned in its view and has not seen committed. */
interface Assigned {
  readonly value: SlotValue
  readonly origin: NodeId
  coordinator: NodeId
  assignedAtMs: number
  /** how often it was moved to another coordinator: each move doubles its next deadline */
  moves: number
}

interface MasterState {
  readonly view: number
  readonly ballot: Ballot
  nextSlot: number
  readonly assigned: Map<number, Assigned>
  readonly queue: Queued[]
  readonly queuedIds: Set<string>
  readonly delegation: Delegation
  batchTimerSet: boolean
  /** when a client command arrived at the master itself last (lazy acks wait for lazyAckQuietMs after it) */
  ownCommandAtMs: number
}

interface RecoveryState {
  readonly view: number
  readonly ballot: Ballot
  readonly fromSlot: number
  readonly promises: VoteSet
  readonly votes: Map<number, AcceptedEntry>
  readonly chosen: Map<number, SlotValue>
  maxChosenPrefix: number
  maxChosenPrefixAt: NodeId
  /** commands forwarded during recovery (replicas adopt the view at its prepare), at most maxQueuedCommands */
  readonly held: Queued[]
}

/** Phase 2 that this replica coordinates for one slot. */
interface Coordination {
  readonly ballot: Ballot
  readonly value: SlotValue
  readonly votes: VoteSet
  readonly startedAtMs: number
  sentAtMs: number
  /** accepts sent again so far: each doubles the wait before the next */
  retries: number
  /** the master's commit may wait (CoordinateMsg.lazyAck) */
  readonly lazyAck: boolean
}

/** Chosen slots whose commit the master of `ballot` has not been sent yet (masterAckDelayMs). */
interface HeldMasterAcks {
  readonly ballot: Ballot
  readonly slots: number[]
  /** when each slot was chosen here (ctx.now()) */
  readonly chosenAtMs: number[]
}

export class IosReplica implements Engine<IosMessage> {
  private readonly cfg: IosConfig
  private readonly quorums: IosQuorums
  private readonly peers: readonly NodeId[]

  private log!: PaxosLog
  private master: MasterState | null = null
  private recovery: RecoveryState | null = null
  private readonly coordinating = new Map<number, Coordination>()
  /** how long this replica's phase 2 takes now (coordinate to chosen): accepts are resent after a multiple */
  private readonly phase2Latency = new LatencyMean()
  /**
   * Slots a commit named before their accept arrived here (messages overtake each other): the accept at
   * that ballot, when it comes, carries the chosen value. Bounded by 2 x windowSize; beyond, catch-up.
   */
  private readonly committedAhead = new Map<number, Ballot>()
  /** the view this replica will move to on its next master timeout, minus one */
  private targetView = -1
  private knownCommitIndex = 0
  private executed = 0
  private readonly pending = new Map<string, PendingCommand>()
  private forwardTimerSet = false
  private catchupAskedAtMs: number | null = null
  private catchupTimerSet = false
  private heldAcks: HeldMasterAcks | null = null

  constructor(private readonly ctx: IosContext) {
    this.cfg = ctx.config
    if (!ctx.nodes.includes(ctx.self)) throw new Error(`self ${ctx.self} is not among the nodes`)
    if (new Set(ctx.nodes).size !== ctx.nodes.length) throw new Error('node ids must be distinct')
    this.quorums = resolveQuorums(this.cfg, ctx.nodes.length)
    this.peers = ctx.nodes.filter((n) => n !== ctx.self)
  }

  // ---------------------------------------------------------------- lifecycle

  start(): void {
    this.log = PaxosLog.load(this.ctx.storage, 'none')
    this.master = null
    this.recovery = null
    this.coordinating.clear()
    this.phase2Latency.reset()
    this.committedAhead.clear()
    this.targetView = this.view()
    this.knownCommitIndex = this.log.chosenPrefix
    this.pending.clear()
    this.forwardTimerSet = false
    this.catchupAskedAtMs = null
    this.catchupTimerSet = false
    this.heldAcks = null
    this.executed = 0
    this.executeReady()
    this.armElectionTimer()
    this.ctx.setTimer(TIMER_RETRANSMIT, this.cfg.retransmitMs)
    // First boot: the master of view 0 recovers at once (nothing to recover, but it fixes its view).
    if (this.view() < 0 && masterOf(this.ctx.nodes, 0) === this.ctx.self) this.startRecovery(0)
  }

  status(): EngineStatus {
    const view = this.view()
    const role: EngineRole =
      this.master !== null ? 'leader' : this.recovery !== null ? 'candidate' : 'follower'
    return {
      role,
      leader: view >= 0 ? masterOf(this.ctx.nodes, view) : null,
      epoch: Math.max(view, 0),
      executed: this.executed,
    }
  }

  assertInvariants(): void {
    this.log.assertInvariants()
    if (this.executed !== this.log.chosenPrefix)
      throw new Error(`invariant: executed ${this.executed} != chosen prefix ${this.log.chosenPrefix}`)
    if (this.pending.size > this.cfg.maxPendingCommands) throw new Error('invariant: pending over its limit')
    if (this.master !== null && this.recovery !== null) throw new Error('invariant: master while recovering')
    const m = this.master
    if (m !== null) {
      if (!ballotEquals(m.ballot, this.log.promised)) throw new Error('invariant: master ballot != promised')
      if (masterOf(this.ctx.nodes, m.view) !== this.ctx.self)
        throw new Error('invariant: master of a view not ours')
      if (m.queue.length > this.cfg.maxQueuedCommands) throw new Error('invariant: queue over its limit')
      for (const slot of m.assigned.keys()) {
        if (slot >= m.nextSlot) throw new Error(`invariant: slot ${slot} assigned beyond nextSlot`)
        if (this.log.chosen(slot) !== undefined) throw new Error(`invariant: assigned slot ${slot} is chosen`)
      }
    }
    if (this.recovery !== null && !ballotEquals(this.recovery.ballot, this.log.promised))
      throw new Error('invariant: recovery ballot != promised')
    for (const [slot, c] of this.coordinating) {
      if (compareBallots(c.ballot, this.log.promised) > 0)
        throw new Error(`invariant: coordinating slot ${slot} above the promise`)
    }
  }

  // ---------------------------------------------------------------- client commands (origin)

  onRequest(cmd: Command): void {
    const key = commandIdKey(cmd.id)
    const known = this.pending.get(key)
    // Over the limit: dropped unanswered (the client retries); 'rejected' would promise it never executes.
    if (known === undefined && this.pending.size >= this.cfg.maxPendingCommands) return
    if (known === undefined) this.pending.set(key, { cmd, forwardedAtMs: this.ctx.now(), retries: 0 })
    else known.forwardedAtMs = this.ctx.now()
    this.submit([cmd])
    this.armForwardRetry()
  }

  /** Sends commands waiting here to the master (or queues them when this replica is the master). */
  private submit(cmds: readonly Command[]): void {
    if (cmds.length === 0) return
    if (this.master !== null) {
      this.enqueue(
        this.master,
        cmds.map((cmd) => ({ cmd, origin: this.ctx.self })),
      )
      return
    }
    const view = this.view()
    if (view < 0 || this.recovery !== null) return // held until a master is known
    const master = masterOf(this.ctx.nodes, view)
    if (master === this.ctx.self) return // our own view, but we lost its state (restart): wait for the next
    // held acknowledgements for this master ride on the forward (the master handles them first: they free window slots)
    const acks = this.heldAcks?.ballot.node === master ? this.takeHeldAcks() : null
    for (let i = 0; i < cmds.length; i += this.cfg.batchMaxCommands)
      this.ctx.send(master, {
        type: 'forward',
        commands: cmds.slice(i, i + this.cfg.batchMaxCommands),
        ...(acks !== null && i === 0 ? { acks } : {}),
      })
  }

  private armForwardRetry(): void {
    if (this.forwardTimerSet || this.pending.size === 0) return
    this.forwardTimerSet = true
    this.ctx.setTimer(TIMER_FORWARD_RETRY, this.cfg.forwardRetryMs)
  }

  private onForwardRetryTimeout(): void {
    this.forwardTimerSet = false
    const now = this.ctx.now()
    const stale: Command[] = []
    for (const p of this.pending.values()) {
      // doubling: a command delayed behind a slow slot is not given a second slot every forwardRetryMs
      if (now - p.forwardedAtMs < this.cfg.forwardRetryMs * 2 ** Math.min(p.retries, MAX_BACKOFF_DOUBLINGS))
        continue
      p.forwardedAtMs = now
      p.retries++
      stale.push(p.cmd)
    }
    this.submit(stale)
    this.armForwardRetry()
  }

  private forwardAllPending(): void {
    const now = this.ctx.now()
    for (const p of this.pending.values()) p.forwardedAtMs = now
    this.submit([...this.pending.values()].map((p) => p.cmd))
  }

  private onForward(from: NodeId, msg: ForwardMsg): void {
    if (msg.acks !== undefined)
      this.onCommit({
        type: 'commit',
        ballot: msg.acks.ballot,
        slots: msg.acks.slots,
        heldMs: msg.acks.heldMs,
      })
    const items = msg.commands.map((cmd) => ({ cmd, origin: from }))
    if (this.master !== null) this.enqueue(this.master, items)
    else if (this.recovery !== null) {
      const room = this.cfg.maxQueuedCommands - this.recovery.held.length
      this.recovery.held.push(...items.slice(0, Math.max(0, room)))
    }
  }

  // ---------------------------------------------------------------- dispatch

  onMessage(from: NodeId, msg: IosMessage): void {
    if (from === this.ctx.self || !this.ctx.nodes.includes(from)) return
    switch (msg.type) {
      case 'forward':
        this.onForward(from, msg)
        break
      case 'coordinate':
        this.onCoordinate(from, msg)
        break
      case 'accept':
        this.onAccept(from, msg)
        break
      case 'accepted':
        this.onAccepted(from, msg)
        break
      case 'nack':
        this.onNack(msg)
        break
      case 'commit':
        this.onCommit(msg)
        break
      case 'heartbeat':
        this.onHeartbeat(from, msg)
        break
      case 'prepare':
        this.onPrepare(from, msg)
        break
      case 'promise':
        this.onPromise(from, msg)
        break
      case 'catchup-request':
        this.onCatchupRequest(from, msg)
        break
      case 'catchup-reply':
        this.onCatchupReply(from, msg)
        break
    }
  }

  onTimer(name: string): void {
    switch (name) {
      case TIMER_ELECTION:
        this.onMasterTimeout()
        break
      case TIMER_HEARTBEAT:
        this.onHeartbeatTimeout()
        break
      case TIMER_RETRANSMIT:
        this.onRetransmitTimeout()
        break
      case TIMER_BATCH:
        if (this.master !== null) {
          this.master.batchTimerSet = false
          this.assignQueued(this.master, true)
        }
        break
      case TIMER_FORWARD_RETRY:
        this.onForwardRetryTimeout()
        break
      case TIMER_CATCHUP:
        this.onCatchupTimeout()
        break
      case TIMER_MASTER_ACK:
        this.sendHeldAcks()
        break
    }
  }

  // ---------------------------------------------------------------- views

  /** The view this replica has promised (-1 before any). */
  private view(): number {
    return viewOf(this.log.promised)
  }

  /**
   * A message at `ballot` (not below our promise) from the view's master or one of its coordinators:
   * adopt the view. Leaves mastership or recovery of a lower view.
   */
  private adopt(ballot: Ballot): void {
    if (!ballotGreater(ballot, this.log.promised)) {
      if (ballotEquals(ballot, this.log.promised) && this.master === null && this.recovery === null)
        this.armElectionTimer()
      return
    }
    this.stepDown()
    this.log.promise(ballot)
    this.targetView = Math.max(this.targetView, viewOf(ballot))
    this.dropStaleCoordination()
    this.armElectionTimer()
    this.forwardAllPending()
  }

  private stepDown(): void {
    if (this.master !== null) this.ctx.emit({ type: 'stepped-down', epoch: this.master.view })
    this.master = null
    this.recovery = null
    this.ctx.clearTimer(TIMER_HEARTBEAT)
    this.ctx.clearTimer(TIMER_BATCH)
  }

  private dropStaleCoordination(): void {
    for (const [slot, c] of this.coordinating)
      if (compareBallots(c.ballot, this.log.promised) < 0) this.coordinating.delete(slot)
  }

  private armElectionTimer(): void {
    const span = this.cfg.masterTimeoutMsMax - this.cfg.masterTimeoutMsMin
    this.ctx.setTimer(TIMER_ELECTION, this.cfg.masterTimeoutMsMin + this.ctx.random() * span)
  }

  /**
   * No word from the master: move to the next view. Its master (view mod N) starts recovery; the others
   * wait one more timeout, then move on again, so a dead next master is skipped.
   */
  private onMasterTimeout(): void {
    if (this.master !== null) return
    this.targetView = Math.max(this.targetView, this.view()) + 1
    if (masterOf(this.ctx.nodes, this.targetView) === this.ctx.self) this.startRecovery(this.targetView)
    else {
      if (this.recovery !== null) this.stepDown()
      this.armElectionTimer()
    }
  }

  // ---------------------------------------------------------------- recovery (phase 1 with q1)

  private startRecovery(view: number): void {
    const ballot = viewBallot(this.ctx.nodes, view)
    if (!ballotGreater(ballot, this.log.promised))
      throw new Error(`internal: recovery of an old view ${view}`)
    this.stepDown()
    this.log.promise(ballot)
    this.targetView = view
    this.dropStaleCoordination()
    const fromSlot = this.log.chosenPrefix
    this.recovery = {
      view,
      ballot,
      fromSlot,
      promises: new VoteSet(this.quorums.q1),
      votes: new Map(),
      chosen: new Map(),
      maxChosenPrefix: -1,
      maxChosenPrefixAt: this.ctx.self,
      held: [],
    }
    this.armElectionTimer()
    for (const peer of this.peers) this.ctx.send(peer, { type: 'prepare', ballot, fromSlot })
    this.ctx.setTimer(TIMER_HEARTBEAT, this.cfg.heartbeatIntervalMs)
    this.onPromise(this.ctx.self, this.ownPromise(ballot, fromSlot))
  }

  private ownPromise(ballot: Ballot, fromSlot: number): PromiseMsg {
    const content = this.log.promiseContent(fromSlot)
    return { type: 'promise', ballot, chosenPrefix: this.log.chosenPrefix, ...content }
  }

  private onPrepare(from: NodeId, msg: PrepareMsg): void {
    if (compareBallots(msg.ballot, this.log.promised) < 0) {
      this.ctx.send(from, { type: 'nack', ballot: msg.ballot, promised: this.log.promised })
      return
    }
    this.adopt(msg.ballot)
    this.ctx.send(from, this.ownPromise(msg.ballot, msg.fromSlot))
  }

  private onPromise(from: NodeId, msg: PromiseMsg): void {
    const rec = this.recovery
    if (rec === null || !ballotEquals(msg.ballot, rec.ballot) || rec.promises.has(from)) return
    if (msg.chosenPrefix > rec.maxChosenPrefix) {
      rec.maxChosenPrefix = msg.chosenPrefix
      rec.maxChosenPrefixAt = from
    }
    for (const entry of msg.chosen) rec.chosen.set(entry.slot, entry.value)
    for (const entry of msg.accepted) {
      const known = rec.votes.get(entry.slot)
      if (known === undefined || ballotGreater(entry.ballot, known.ballot)) rec.votes.set(entry.slot, entry)
    }
    if (rec.promises.add(from)) this.becomeMaster(rec)
  }

  /** q1 promised: re-coordinate every unfinished slot (highest-ballot vote, or a no-op), then serve. */
  private becomeMaster(rec: RecoveryState): void {
    for (const [slot, value] of rec.chosen) this.learnChosen(slot, value)
    const now = this.ctx.now()
    const m: MasterState = {
      view: rec.view,
      ballot: rec.ballot,
      nextSlot: 0,
      assigned: new Map(),
      queue: [],
      queuedIds: new Set(),
      delegation: new Delegation(this.cfg, this.ctx.nodes, this.ctx.self),
      batchTimerSet: false,
      ownCommandAtMs: Number.NEGATIVE_INFINITY,
    }
    this.recovery = null
    this.master = m
    this.ctx.clearTimer(TIMER_ELECTION)
    this.ctx.emit({ type: 'elected', epoch: rec.view })
    const floor = Math.max(rec.maxChosenPrefix, this.log.chosenPrefix)
    this.knownCommitIndex = Math.max(this.knownCommitIndex, floor)
    let highest = floor - 1
    for (const slot of rec.votes.keys()) highest = Math.max(highest, slot)
    for (const slot of rec.chosen.keys()) highest = Math.max(highest, slot)
    m.nextSlot = highest + 1
    const batches = new Map<NodeId, ChosenEntry[]>()
    for (let slot = floor; slot <= highest; slot++) {
      if (this.log.chosen(slot) !== undefined) continue
      const value = rec.votes.get(slot)?.value ?? NOOP
      const coordinator = m.delegation.pick(this.ctx.self, now)
      m.assigned.set(slot, { value, origin: this.ctx.self, coordinator, assignedAtMs: now, moves: 0 })
      const list = batches.get(coordinator) ?? []
      list.push({ slot, value })
      batches.set(coordinator, list)
    }
    if (batches.size > 0)
      this.ctx.emit({
        type: 'recovery',
        detail: `view ${rec.view}: re-coordinating ${m.assigned.size} slots`,
      })
    this.executeReady()
    if (this.log.chosenPrefix < this.knownCommitIndex) this.requestCatchup(rec.maxChosenPrefixAt)
    this.broadcastHeartbeat(m)
    this.ctx.setTimer(TIMER_HEARTBEAT, this.cfg.heartbeatIntervalMs)
    for (const [coordinator, entries] of batches) this.delegate(m, coordinator, entries, false)
    if (this.master !== m) return
    this.enqueue(m, [
      ...[...this.pending.values()].map((p) => ({ cmd: p.cmd, origin: this.ctx.self })),
      ...rec.held,
    ])
  }

  // ---------------------------------------------------------------- master: index assignment and delegation

  private enqueue(m: MasterState, items: readonly Queued[]): void {
    if (!this.noClientWaitsHere(items)) m.ownCommandAtMs = this.ctx.now()
    for (const item of items) {
      const key = commandIdKey(item.cmd.id)
      if (m.queuedIds.has(key)) continue
      // Over the limit the command is dropped: its origin forwards it again after forwardRetryMs.
      if (m.queue.length >= this.cfg.maxQueuedCommands) break
      m.queue.push(item)
      m.queuedIds.add(key)
    }
    this.assignQueued(m, false)
  }

  /** Assigns queued commands to new slots while the window has room, and hands each to a coordinator. */
  private assignQueued(m: MasterState, batchDue: boolean): void {
    while (m.queue.length > 0 && m.assigned.size < this.cfg.windowSize && this.master === m) {
      let take = 1
      const origin = m.queue[0]!.origin
      if (this.cfg.batching) {
        const full = m.queue.length >= this.cfg.batchMaxCommands
        if (!full && !batchDue && this.cfg.batchDelayMs > 0) {
          if (!m.batchTimerSet) this.ctx.setTimer(TIMER_BATCH, this.cfg.batchDelayMs)
          m.batchTimerSet = true
          return
        }
        take = Math.min(m.queue.length, this.cfg.batchMaxCommands)
        // Reverse delegation sends a batch to its origin: a batch holds one origin's commands.
        if (this.cfg.delegation === 'reverse') {
          let same = 1
          while (same < take && m.queue[same]!.origin === origin) same++
          take = same
        }
      }
      const items = m.queue.splice(0, take)
      const value: SlotValue = { kind: 'batch', commands: items.map((q) => q.cmd) }
      const slot = m.nextSlot++
      const now = this.ctx.now()
      const coordinator = m.delegation.pick(origin, now)
      m.assigned.set(slot, { value, origin, coordinator, assignedAtMs: now, moves: 0 })
      this.delegate(m, coordinator, [{ slot, value }], this.lazyAcksAllowed(m, items))
    }
  }

  /** Whether none of these commands arrived here: then no client of ours waits for their commit. */
  private noClientWaitsHere(items: readonly Queued[]): boolean {
    return items.every((q) => q.origin !== this.ctx.self)
  }

  /**
   * Whether the coordinator may hold our commit of these commands (CoordinateMsg.lazyAck): none arrived
   * here, and no client command has for lazyAckQuietMs. We execute in slot order, so one client of ours
   * would wait for every earlier held commit; a master that serves clients takes its commits at once.
   */
  private lazyAcksAllowed(m: MasterState, items: readonly Queued[]): boolean {
    return (
      this.cfg.masterAckDelayMs > 0 &&
      this.noClientWaitsHere(items) &&
      this.ctx.now() - m.ownCommandAtMs >= this.cfg.lazyAckQuietMs
    )
  }

  /** `lazyAck`: no client waits here for these slots, so their coordinator may hold our commit a while. */
  private delegate(m: MasterState, coordinator: NodeId, entries: ChosenEntry[], lazyAck: boolean): void {
    for (let i = 0; i < entries.length; i += this.cfg.catchupBatchSlots) {
      const chunk = entries.slice(i, i + this.cfg.catchupBatchSlots)
      if (coordinator === this.ctx.self) {
        for (const e of chunk) this.coordinate(e.slot, m.ballot, e.value, false)
        if (this.master !== m) return
      } else
        this.ctx.send(coordinator, {
          type: 'coordinate',
          ballot: m.ballot,
          entries: chunk,
          ...(lazyAck ? { lazyAck: true } : {}),
        })
    }
  }

  /** A slot of our view is chosen (we coordinated it, or its coordinator's commit arrived). */
  /** `heldMs`: how long the coordinator held its commit to us (masterAckDelayMs), not part of its latency */
  private masterLearned(m: MasterState, slot: number, heldMs = 0): void {
    const a = m.assigned.get(slot)
    if (a === undefined) return
    m.assigned.delete(slot)
    if (a.value.kind === 'batch') for (const cmd of a.value.commands) m.queuedIds.delete(commandIdKey(cmd.id))
    m.delegation.committed(a.coordinator, Math.max(0, this.ctx.now() - a.assignedAtMs - heldMs))
  }

  /**
   * Moves slots that missed their deadline away from their coordinator (same value, same view). The
   * deadline follows the commit latency of the moment and doubles per move (Delegation.deadlineMs).
   */
  private redelegateLate(m: MasterState): void {
    const now = this.ctx.now()
    const moves = new Map<NodeId, { entries: ChosenEntry[]; lazyAck: boolean }>()
    for (const [slot, a] of m.assigned) {
      if (now - a.assignedAtMs < m.delegation.deadlineMs(a.moves)) continue
      if (m.delegation.suspect(a.coordinator, now))
        this.ctx.emit({ type: 'recovery', detail: `delegation moved away from ${a.coordinator}` })
      a.coordinator = m.delegation.pickOther(a.coordinator, a.origin, now)
      a.assignedAtMs = now
      a.moves++
      const move = moves.get(a.coordinator) ?? {
        entries: [],
        lazyAck: this.lazyAcksAllowed(m, []),
      }
      move.entries.push({ slot, value: a.value })
      move.lazyAck &&= a.origin !== this.ctx.self
      moves.set(a.coordinator, move)
    }
    for (const [coordinator, move] of moves) {
      if (this.master !== m) return
      this.delegate(m, coordinator, move.entries, move.lazyAck)
    }
  }

  /** The master's heartbeat; during recovery, the same timer resends prepares (a view change is urgent). */
  private onHeartbeatTimeout(): void {
    const rec = this.recovery
    if (rec !== null) {
      for (const peer of this.peers)
        if (!rec.promises.has(peer))
          this.ctx.send(peer, { type: 'prepare', ballot: rec.ballot, fromSlot: rec.fromSlot })
      this.ctx.setTimer(TIMER_HEARTBEAT, this.cfg.heartbeatIntervalMs)
      return
    }
    const m = this.master
    if (m === null) return
    this.broadcastHeartbeat(m)
    this.ctx.setTimer(TIMER_HEARTBEAT, this.cfg.heartbeatIntervalMs)
  }

  private broadcastHeartbeat(m: MasterState): void {
    const msg: HeartbeatMsg = { type: 'heartbeat', ballot: m.ballot, commitIndex: this.log.chosenPrefix }
    for (const peer of this.peers) this.ctx.send(peer, msg)
  }

  // ---------------------------------------------------------------- coordinator (phase 2 with q2)

  private onCoordinate(from: NodeId, msg: CoordinateMsg): void {
    if (compareBallots(msg.ballot, this.log.promised) < 0) {
      this.ctx.send(from, { type: 'nack', ballot: msg.ballot, promised: this.log.promised })
      return
    }
    if (msg.ballot.node !== from) return // only the view's master delegates
    this.adopt(msg.ballot)
    for (const e of msg.entries) this.coordinate(e.slot, msg.ballot, e.value, msg.lazyAck === true)
  }

  private coordinate(slot: number, ballot: Ballot, value: SlotValue, lazyAck: boolean): void {
    const chosen = this.log.chosen(slot)
    if (chosen !== undefined) {
      // Already chosen. A master that recovered after the choice assigns that same value: repeat the
      // commit. Another value comes from a superseded master (a later view chose the slot after this
      // master's recovery; its ballot can never gather q2 votes now): ignore it, the master learns.
      if (sameSlotValue(chosen, value)) this.broadcastCommit(ballot, [slot])
      return
    }
    const now = this.ctx.now()
    const c: Coordination = {
      ballot,
      value,
      votes: new VoteSet(this.quorums.commitVotes),
      startedAtMs: now,
      sentAtMs: now,
      retries: 0,
      lazyAck,
    }
    this.coordinating.set(slot, c)
    if (!this.acceptLocally(slot, ballot, value)) return
    const msg: AcceptMsg = { type: 'accept', ballot, slot, value, commitIndex: this.log.chosenPrefix }
    for (const peer of this.acceptorsFor(ballot)) this.ctx.send(peer, msg)
    this.countVote(slot, ballot, this.ctx.self)
  }

  /**
   * Who gets a slot's first accept: every peer but the master, when the others can make q2 without it
   * even with one of them down (the master's load is what delegation is for); otherwise every peer. A
   * retransmission asks every peer that has not voted, the master included, so a quorum that needs the
   * master still forms.
   */
  private acceptorsFor(ballot: Ballot): readonly NodeId[] {
    const master = ballot.node
    if (master === this.ctx.self) return this.peers
    const others = this.peers.filter((p) => p !== master)
    return others.length >= this.quorums.commitVotes ? others : this.peers
  }

  private onAccepted(from: NodeId, msg: AcceptedMsg): void {
    this.countVote(msg.slot, msg.ballot, from)
  }

  private countVote(slot: number, ballot: Ballot, from: NodeId): void {
    const c = this.coordinating.get(slot)
    if (c === undefined || !ballotEquals(c.ballot, ballot) || !c.votes.add(from)) return
    // q2 acceptors voted at the view's ballot: chosen. Tell every learner, the master among them.
    this.coordinating.delete(slot)
    this.phase2Latency.add(this.ctx.now() - c.startedAtMs)
    this.learnChosen(slot, c.value)
    this.executeReady()
    if (c.lazyAck) this.commitHoldingMastersCopy(ballot, slot)
    else this.broadcastCommit(ballot, [slot])
  }

  private broadcastCommit(ballot: Ballot, slots: number[]): void {
    const msg: CommitMsg = { type: 'commit', ballot, slots }
    for (const peer of this.peers) this.ctx.send(peer, msg)
  }

  /**
   * A commit every learner gets at once but the master, whose copy is only its acknowledgement (no client
   * waits there): held up to masterAckDelayMs, so one message (or the next forward's write) carries
   * several. The master wakes up about once per command instead of twice.
   */
  private commitHoldingMastersCopy(ballot: Ballot, slot: number): void {
    const master = ballot.node
    const msg: CommitMsg = { type: 'commit', ballot, slots: [slot] }
    for (const peer of this.peers) if (peer !== master) this.ctx.send(peer, msg)
    if (master === this.ctx.self) return
    if (this.heldAcks !== null && !ballotEquals(this.heldAcks.ballot, ballot)) this.sendHeldAcks()
    if (this.heldAcks === null) {
      this.heldAcks = { ballot, slots: [], chosenAtMs: [] }
      this.ctx.setTimer(TIMER_MASTER_ACK, this.cfg.masterAckDelayMs)
    }
    this.heldAcks.slots.push(slot)
    this.heldAcks.chosenAtMs.push(this.ctx.now())
    // Held commits keep the master's window slots taken: together the coordinators hold at most half of it.
    const maxHeld = Math.max(1, Math.floor(this.cfg.windowSize / (2 * this.peers.length)))
    if (this.heldAcks.slots.length >= maxHeld) this.sendHeldAcks()
  }

  /** The held commits as they go to the master (with each one's hold), none held afterwards. */
  private takeHeldAcks(): HeldAcks | null {
    const held = this.heldAcks
    if (held === null) return null
    this.heldAcks = null
    this.ctx.clearTimer(TIMER_MASTER_ACK)
    const now = this.ctx.now()
    return { ballot: held.ballot, slots: held.slots, heldMs: held.chosenAtMs.map((t) => now - t) }
  }

  private sendHeldAcks(): void {
    const acks = this.takeHeldAcks()
    if (acks !== null) this.ctx.send(acks.ballot.node, { type: 'commit', ...acks })
  }

  // ---------------------------------------------------------------- acceptor

  private onAccept(from: NodeId, msg: AcceptMsg): void {
    if (compareBallots(msg.ballot, this.log.promised) < 0) {
      this.ctx.send(from, { type: 'nack', ballot: msg.ballot, promised: this.log.promised })
      return
    }
    this.adopt(msg.ballot)
    if (this.acceptLocally(msg.slot, msg.ballot, msg.value)) {
      this.ctx.send(from, { type: 'accepted', ballot: msg.ballot, slot: msg.slot })
      const ahead = this.committedAhead.get(msg.slot)
      if (ahead !== undefined && ballotEquals(ahead, msg.ballot)) {
        this.learnChosen(msg.slot, msg.value)
        this.executeReady()
      }
    }
    this.learnCommitIndex(from, msg.commitIndex)
  }

  /** Votes for value at slot if allowed (the caller checked ballot >= promised); whether the vote stands. */
  private acceptLocally(slot: number, ballot: Ballot, value: SlotValue): boolean {
    const chosen = this.log.chosen(slot)
    if (chosen !== undefined) {
      this.log.promise(ballot)
      return sameSlotValue(chosen, value)
    }
    this.log.accept(slot, ballot, value)
    return true
  }

  private onNack(msg: NackMsg): void {
    if (!ballotGreater(msg.promised, this.log.promised)) {
      // our own coordination at an old ballot was refused: forget it
      for (const [slot, c] of this.coordinating)
        if (ballotEquals(c.ballot, msg.ballot)) this.coordinating.delete(slot)
      return
    }
    // A higher view exists: stop leading, recovering and coordinating below it; wait for its master.
    this.stepDown()
    this.log.promise(msg.promised)
    this.targetView = Math.max(this.targetView, viewOf(msg.promised))
    this.dropStaleCoordination()
    this.armElectionTimer()
  }

  // ---------------------------------------------------------------- learner

  private onCommit(msg: CommitMsg): void {
    const m = this.master
    for (const [i, slot] of msg.slots.entries()) {
      // a held commit: its hold is not the coordinator's latency (Delegation compares coordinators by it)
      const heldMs = msg.heldMs?.[i] ?? 0
      if (this.log.chosen(slot) !== undefined) {
        if (m !== null) this.masterLearned(m, slot, heldMs)
        continue
      }
      // One value per slot per view: the master's assignment, or our vote at the commit's ballot.
      const mine = m !== null && ballotEquals(m.ballot, msg.ballot) ? m.assigned.get(slot)?.value : undefined
      const vote = this.log.vote(slot)
      const value =
        mine ?? (vote !== undefined && ballotEquals(vote.ballot, msg.ballot) ? vote.value : undefined)
      if (value !== undefined) this.learnChosen(slot, value, heldMs)
      else {
        if (this.committedAhead.size < 2 * this.cfg.windowSize) this.committedAhead.set(slot, msg.ballot)
        this.knownCommitIndex = Math.max(this.knownCommitIndex, slot + 1)
      }
    }
    this.executeReady()
    if (this.master !== null && this.master === m) this.assignQueued(m, false)
    // The missing accepts are usually just behind the commit (committedAhead): catch up only if they
    // have not come within retransmitMs.
    if (this.log.chosenPrefix < this.knownCommitIndex) this.armCatchup()
  }

  private armCatchup(): void {
    if (this.catchupTimerSet) return
    this.catchupTimerSet = true
    this.ctx.setTimer(TIMER_CATCHUP, this.cfg.retransmitMs)
  }

  private onHeartbeat(from: NodeId, msg: HeartbeatMsg): void {
    if (compareBallots(msg.ballot, this.log.promised) < 0) {
      this.ctx.send(from, { type: 'nack', ballot: msg.ballot, promised: this.log.promised })
      return
    }
    if (msg.ballot.node !== from) return
    this.adopt(msg.ballot)
    this.learnCommitIndex(from, msg.commitIndex)
  }

  /**
   * A commit index above our chosen prefix: slots are missing here. Usually their accepts or commits are
   * in flight, so wait retransmitMs; a replica far behind (restarted, partitioned) asks `from` at once.
   */
  private learnCommitIndex(from: NodeId, commitIndex: number): void {
    this.knownCommitIndex = Math.max(this.knownCommitIndex, commitIndex)
    const behind = this.knownCommitIndex - this.log.chosenPrefix
    if (behind > this.cfg.windowSize) this.requestCatchup(from)
    else if (behind > 0) this.armCatchup()
  }

  private learnChosen(slot: number, value: SlotValue, heldMs = 0): void {
    if (!this.log.markChosen(slot, value)) return
    this.coordinating.delete(slot)
    this.committedAhead.delete(slot)
    const m = this.master
    if (m === null) return
    const a = m.assigned.get(slot)
    if (a !== undefined && !sameSlotValue(a.value, value)) {
      // Chosen in a later view whose master did not see our assignment: we are superseded.
      this.stepDown()
      this.armElectionTimer()
      return
    }
    this.masterLearned(m, slot, heldMs)
  }

  private executeReady(): void {
    while (this.executed < this.log.chosenPrefix) {
      const value = this.log.chosen(this.executed)
      if (value === undefined) throw new Error(`internal: chosen slot ${this.executed} has no value`)
      if (value.kind === 'batch') {
        for (const cmd of value.commands) {
          const result = this.ctx.execute(cmd)
          if (this.pending.delete(commandIdKey(cmd.id)))
            this.ctx.reply(cmd.id, { status: 'ok', value: result.value })
        }
      }
      this.executed++
      if (value.kind === 'batch') this.ctx.emit({ type: 'commit', commands: commandCount(value) })
    }
  }

  // ---------------------------------------------------------------- catch-up

  private requestCatchup(target: NodeId): void {
    if (target === this.ctx.self) return
    const now = this.ctx.now()
    if (this.catchupAskedAtMs !== null && now - this.catchupAskedAtMs < this.cfg.retransmitMs) return
    this.catchupAskedAtMs = now
    const fromSlot = this.log.chosenPrefix
    const toSlot = Math.min(this.knownCommitIndex, fromSlot + this.cfg.catchupBatchSlots)
    this.ctx.send(target, { type: 'catchup-request', fromSlot, toSlot })
    this.ctx.setTimer(TIMER_CATCHUP, this.cfg.retransmitMs)
    this.catchupTimerSet = true
  }

  private onCatchupRequest(from: NodeId, msg: CatchupRequestMsg): void {
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
      this.catchupTimerSet = false
    } else if (this.log.chosenPrefix > before) this.requestCatchup(from)
    if (this.master !== null) this.assignQueued(this.master, false)
  }

  private onCatchupTimeout(): void {
    this.catchupTimerSet = false
    this.catchupAskedAtMs = null
    if (this.log.chosenPrefix >= this.knownCommitIndex) return
    // The master learns every slot of its view: ask it half the time, a random peer otherwise.
    const view = this.view()
    const master = view >= 0 ? masterOf(this.ctx.nodes, view) : this.ctx.self
    const peer =
      master !== this.ctx.self && this.ctx.random() < 0.5
        ? master
        : this.peers[Math.floor(this.ctx.random() * this.peers.length)]
    if (peer !== undefined) this.requestCatchup(peer)
  }

  // ---------------------------------------------------------------- retransmission

  /**
   * Lost messages: prepares, coordinators' accepts, the master's late delegations, catch-up. An accept
   * is resent once its slot has waited slowFactor x this replica's phase-2 latency of the moment (at
   * least retransmitMs), doubled per resend: on a host slowed down as a whole, fixed 300 ms resends of
   * every slot in flight added load faster than it could be served.
   */
  private onRetransmitTimeout(): void {
    this.ctx.setTimer(TIMER_RETRANSMIT, this.cfg.retransmitMs)
    const now = this.ctx.now()
    for (const [slot, c] of this.coordinating) {
      const waitMs = Math.min(
        this.cfg.retransmitMsMax,
        adaptiveDeadlineMs(this.cfg.retransmitMs, this.cfg.slowFactor, this.phase2Latency, c.retries),
      )
      if (now - c.sentAtMs < waitMs) continue
      c.sentAtMs = now
      c.retries++
      const msg: AcceptMsg = {
        type: 'accept',
        ballot: c.ballot,
        slot,
        value: c.value,
        commitIndex: this.log.chosenPrefix,
      }
      for (const peer of this.peers) if (!c.votes.has(peer)) this.ctx.send(peer, msg)
    }
    if (this.master !== null) this.redelegateLate(this.master)
    if (this.log.chosenPrefix < this.knownCommitIndex) this.onCatchupTimeout()
  }
}
