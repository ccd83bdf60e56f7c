/**
 * One classic Paxos replica (Lamport, "Paxos Made Simple", 2001; Heidi Howard's talk): every replica is
 * a proposer, an acceptor and a learner. Each client command is decided in its own single-decree
 * instance (a log slot) by the replica that received it, which runs phase 1 (prepare/promise) and
 * phase 2 (accept/accepted) every time: two round trips, with no leader and no phase-1 reuse.
 *
 * - Proposer (2.2, "Choosing a value"): startInstance, sendPrepare, onPromise / countPromise,
 *   sendAccept, onAccepted / countAccepted, onNack / preempted (randomised backoff against dueling
 *   proposers, 2.4's "progress" remark), onProposerTimeout (retransmit and retry).
 * - Acceptor (2.2): onPrepare, onAccept, backed by the durable PaxosState.
 * - Learner (2.3, "Learning a chosen value"): the proposer that saw a majority accept tells every
 *   learner (decide); learners that missed it find out from the periodic sync and ask (catch-up);
 *   a slot nobody finishes is filled by any replica with a no-op instance (holes, onSyncTimeout).
 * - Replica / state machine (2.4, "Implementing a state machine"): executeReady runs decided slots in
 *   log order and answers the clients whose commands arrived here.
 */
import {
  type Ballot,
  ballotEquals,
  ballotGreater,
  maxBallot,
  nextBallot,
  ZERO_BALLOT,
} from '../core/ballot.ts'
import { type Command, commandIdKey, type NodeId, sameCommandId } from '../core/command.ts'
import type { Engine, EngineContext, EngineStatus } from '../core/engine.ts'
import { majority, VoteSet } from '../core/quorum.ts'
import type { PaxosConfig } from './config.ts'
import {
  type AcceptedMsg,
  type AcceptMsg,
  type CatchupReplyMsg,
  type CatchupRequestMsg,
  type DecideMsg,
  type NackMsg,
  NOOP,
  type PaxosMessage,
  type PrepareMsg,
  type PromiseMsg,
  type SlotValue,
  type SyncMsg,
  type Vote,
} from './messages.ts'
import { PaxosState } from './state.ts'

export type PaxosContext = EngineContext<PaxosMessage, PaxosConfig>

const TIMER_PROPOSER = 'proposer'
const TIMER_SYNC = 'sync'

/** One single-decree instance this replica runs as proposer. */
interface Instance {
  readonly slot: number
  /** the client command it was started for; null for a hole-filling instance (proposes a no-op) */
  readonly own: Command | null
  ballot: Ballot
  /** 'backoff': preempted, waiting to retry phase 1 with a higher ballot */
  phase: 'prepare' | 'accept' | 'backoff'
  promises: VoteSet
  /** the vote with the highest ballot among the promises (2.2: "the highest-numbered proposal") */
  highest: Vote | null
  /** phase 2 value; set when phase 1 completes */
  value: SlotValue | null
  accepts: VoteSet
  /** the highest ballot a nack reported: the retry goes above it */
  preemptedBy: Ballot
  /** consecutive preemptions: the backoff's upper bound doubles with each */
  preemptions: number
  /** when the proposer timer must look at it again (retransmit, or end of backoff) */
  dueAtMs: number
  /** when the current phase's first messages went out (for the round-trip estimate) */
  phaseStartMs: number
}

export class PaxosReplica implements Engine<PaxosMessage> {
  private readonly quorum: number
  private readonly peers: readonly NodeId[]
  private readonly cfg: PaxosConfig

  private state!: PaxosState
  private readonly instances = new Map<number, Instance>()
  /** client commands that arrived here and are not yet executed here, by id */
  private readonly pending = new Map<string, Command>()
  /** pending commands waiting for an instance (the inflight limit was reached) */
  private readonly queue: Command[] = []
  /** executed slots (the state machine's log position) */
  private executed = 0
  /** the highest slot this replica has heard of: a fresh instance goes above it */
  private maxSlotSeen = -1
  /** the highest slot known decided anywhere (from decides and syncs) */
  private maxDecidedKnown = -1
  /** the chosen prefix that has stalled below a decided slot, since when, and how long to wait */
  private holeWatch: { prefix: number; sinceMs: number; waitMs: number } | null = null
  /** the highest ballot round this replica has proposed with (status epoch) */
  private maxRound = 0
  private proposerTimerDueMs: number | null = null
  private proposing = false
  /** smoothed duration of a phase (a round trip to the nearest majority), the backoff's base */
  private roundTripMsEstimate = 0

  constructor(private readonly ctx: PaxosContext) {
    this.cfg = ctx.config
    if (!ctx.nodes.includes(ctx.self)) throw new Error(`self ${ctx.self} is not among the nodes`)
    if (new Set(ctx.nodes).size !== ctx.nodes.length) throw new Error('node ids must be distinct')
    this.quorum = majority(ctx.nodes.length)
    this.peers = ctx.nodes.filter((n) => n !== ctx.self)
  }

  // ---------------------------------------------------------------- lifecycle

  /** First boot and every restart (2.4's stable storage): reload, re-execute the decided prefix. */
  start(): void {
    this.state = PaxosState.load(this.ctx.storage)
    this.maxSlotSeen = this.state.maxSlot
    this.maxDecidedKnown = this.state.maxDecided
    this.executeReady()
    this.ctx.setTimer(TIMER_SYNC, this.cfg.syncIntervalMs)
  }

  status(): EngineStatus {
    return { role: 'peer', leader: null, epoch: this.maxRound, executed: this.executed }
  }

  assertInvariants(): void {
    this.state.assertInvariants()
    if (this.executed !== this.state.chosenPrefix)
      throw new Error(`executed ${this.executed} != chosen prefix ${this.state.chosenPrefix}`)
    if (this.instances.size > this.cfg.maxInflightInstances)
      throw new Error(`${this.instances.size} instances exceed maxInflightInstances`)
    if (this.pending.size > this.cfg.maxPendingCommands)
      throw new Error(`${this.pending.size} pending commands exceed maxPendingCommands`)
    if (this.queue.length > this.pending.size) throw new Error('more queued commands than pending ones')
    for (const inst of this.instances.values()) {
      if (this.state.decidedValue(inst.slot) !== undefined)
        throw new Error(`an instance runs for decided slot ${inst.slot}`)
      if (inst.phase !== 'backoff' && inst.ballot.node !== this.ctx.self)
        throw new Error(`slot ${inst.slot}: proposing with another node's ballot`)
      if (inst.phase === 'accept' && inst.value === null)
        throw new Error(`slot ${inst.slot}: phase 2 without a value`)
    }
  }

  // ---------------------------------------------------------------- inputs

  onRequest(cmd: Command): void {
    const key = commandIdKey(cmd.id)
    if (this.pending.has(key)) return // a retry of a command already in progress here
    // over the limit the command is dropped as if lost: 'rejected' would promise it never executes,
    // and a retry of the same id may be in progress at another replica
    if (this.pending.size >= this.cfg.maxPendingCommands) return
    this.pending.set(key, cmd)
    this.queue.push(cmd)
    this.proposeQueued()
  }

  onMessage(from: NodeId, msg: PaxosMessage): void {
    switch (msg.type) {
      case 'prepare':
        this.onPrepare(from, msg)
        break
      case 'promise':
        this.onPromise(from, msg)
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
      case 'decide':
        this.onDecide(msg)
        break
      case 'sync':
        this.onSync(from, msg)
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
    if (name === TIMER_PROPOSER) this.onProposerTimeout()
    else if (name === TIMER_SYNC) this.onSyncTimeout()
  }

  // ---------------------------------------------------------------- proposer (Paxos Made Simple 2.2)

  /** Starts an instance for every queued command, up to the inflight limit. */
  private proposeQueued(): void {
    // with one node an instance decides inside startInstance and learn() calls back here: loop, not recurse
    if (this.proposing) return
    this.proposing = true
    try {
      while (this.queue.length > 0 && this.instances.size < this.cfg.maxInflightInstances) {
        const cmd = this.queue.shift()!
        if (this.pending.has(commandIdKey(cmd.id))) this.startInstance(this.freshSlot(), cmd)
      }
    } finally {
      this.proposing = false
    }
  }

  /**
   * Slot choice: the lowest slot above every slot this replica has heard of (in prepares, accepts,
   * promises, nacks, decides, syncs) that is neither decided here nor used by one of its instances.
   * Two replicas that pick concurrently may pick the same slot: they duel, one value is decided there
   * and the other command moves on to a later slot.
   */
  private freshSlot(): number {
    let slot = Math.max(this.maxSlotSeen + 1, this.state.chosenPrefix)
    while (this.state.decidedValue(slot) !== undefined || this.instances.has(slot)) slot++
    this.seeSlot(slot)
    return slot
  }

  private startInstance(slot: number, own: Command | null): void {
    const inst: Instance = {
      slot,
      own,
      ballot: ZERO_BALLOT,
      phase: 'backoff',
      promises: new VoteSet(this.quorum),
      highest: null,
      value: null,
      accepts: new VoteSet(this.quorum),
      preemptedBy: ZERO_BALLOT,
      preemptions: 0,
      dueAtMs: this.ctx.now(),
      phaseStartMs: this.ctx.now(),
    }
    this.instances.set(slot, inst)
    this.sendPrepare(inst)
  }

  /** Phase 1a with a ballot above any this replica's acceptor promised or a nack reported in the slot. */
  private sendPrepare(inst: Instance): void {
    // Above our own acceptor's promise: every ballot this replica ever proposed with in this slot was
    // first promised by its own acceptor (durably), so after a restart it never reuses one.
    const above = maxBallot(maxBallot(inst.ballot, inst.preemptedBy), this.state.slot(inst.slot).promised)
    inst.ballot = nextBallot(above, this.ctx.self)
    this.maxRound = Math.max(this.maxRound, inst.ballot.round)
    inst.phase = 'prepare'
    inst.promises = new VoteSet(this.quorum)
    inst.highest = null
    inst.value = null
    inst.dueAtMs = this.ctx.now() + this.cfg.retransmitMs
    inst.phaseStartMs = this.ctx.now()
    const prepare: PrepareMsg = { type: 'prepare', slot: inst.slot, ballot: inst.ballot }
    for (const peer of this.peers) this.ctx.send(peer, prepare)
    const local = this.state.promise(inst.slot, inst.ballot)
    if (local === null) throw new Error(`internal: own acceptor refused a ballot above its promise`)
    this.countPromise(inst, this.ctx.self, local.accepted)
    this.armProposerTimer()
  }

  private onPromise(from: NodeId, msg: PromiseMsg): void {
    this.seeSlot(msg.maxSlot)
    const inst = this.instances.get(msg.slot)
    if (inst === undefined || inst.phase !== 'prepare' || !ballotEquals(inst.ballot, msg.ballot)) return
    this.countPromise(inst, from, msg.accepted)
  }

  /** Phase 1b counted; with a majority, phase 2 proposes the highest-ballot vote's value, else our own. */
  private countPromise(inst: Instance, from: NodeId, accepted: Vote | null): void {
    if (inst.promises.has(from)) return
    if (accepted !== null && (inst.highest === null || ballotGreater(accepted.ballot, inst.highest.ballot)))
      inst.highest = accepted
    if (!inst.promises.add(from)) return
    this.sampleRoundTrip(inst)
    const ownValue: SlotValue =
      inst.own !== null && this.pending.has(commandIdKey(inst.own.id)) ? { kind: 'cmd', cmd: inst.own } : NOOP
    const ignoreVotes = this.cfg.testFault === 'ignore-promise-values'
    inst.value = inst.highest === null || ignoreVotes ? ownValue : inst.highest.value
    this.sendAccept(inst)
  }

  /** Phase 2a. */
  private sendAccept(inst: Instance): void {
    inst.phase = 'accept'
    inst.accepts = new VoteSet(this.quorum)
    inst.dueAtMs = this.ctx.now() + this.cfg.retransmitMs
    inst.phaseStartMs = this.ctx.now()
    const accept: AcceptMsg = { type: 'accept', slot: inst.slot, ballot: inst.ballot, value: inst.value! }
    for (const peer of this.peers) this.ctx.send(peer, accept)
    // our own acceptor may have promised a higher ballot to another proposer since phase 1
    if (this.state.accept(inst.slot, inst.ballot, inst.value!)) this.countAccepted(inst, this.ctx.self)
    else this.preempted(inst, this.state.slot(inst.slot).promised)
    this.armProposerTimer()
  }

  private onAccepted(from: NodeId, msg: AcceptedMsg): void {
    const inst = this.instances.get(msg.slot)
    if (inst === undefined || inst.phase !== 'accept' || !ballotEquals(inst.ballot, msg.ballot)) return
    this.countAccepted(inst, from)
  }

  /** Phase 2b counted; with a majority the value is chosen: tell every learner, learn it here. */
  private countAccepted(inst: Instance, from: NodeId): void {
    if (inst.phase !== 'accept' || !inst.accepts.add(from)) return
    this.sampleRoundTrip(inst)
    const decide: DecideMsg = { type: 'decide', slot: inst.slot, value: inst.value! }
    for (const peer of this.peers) this.ctx.send(peer, decide)
    this.learn(inst.slot, inst.value!)
  }

  /** A higher ballot exists in the slot: back off for a random time, then retry phase 1 above it. */
  private onNack(msg: NackMsg): void {
    this.seeSlot(msg.maxSlot)
    const inst = this.instances.get(msg.slot)
    if (inst === undefined || inst.phase === 'backoff' || !ballotEquals(inst.ballot, msg.ballot)) return
    this.preempted(inst, msg.promised)
  }

  /**
   * Randomised backoff against dueling proposers (Paxos Made Simple 2.4 names the livelock; randomised
   * delays are the usual cure). The wait is uniform in [base, 2 base 2^(k-1)], capped at backoffMsMax,
   * where k counts consecutive preemptions and base is at least backoffMsMin and at least one measured
   * phase round trip: a shorter wait would preempt the winner's phase 2 before its accepts come back.
   */
  private preempted(inst: Instance, promised: Ballot): void {
    inst.preemptedBy = maxBallot(inst.preemptedBy, promised)
    inst.preemptions++
    inst.phase = 'backoff'
    const { backoffMsMin, backoffMsMax } = this.cfg
    const base = Math.min(backoffMsMax, Math.max(backoffMsMin, this.roundTripMsEstimate))
    const upper = Math.min(backoffMsMax, 2 * base * 2 ** Math.min(inst.preemptions - 1, 30))
    inst.dueAtMs = this.ctx.now() + base + this.ctx.random() * (upper - base)
    this.armProposerTimer()
  }

  /** A phase reached its quorum: fold its duration into the round-trip estimate (EWMA, 1/8). */
  private sampleRoundTrip(inst: Instance): void {
    const sampleMs = this.ctx.now() - inst.phaseStartMs
    if (sampleMs < 0) return
    this.roundTripMsEstimate += (sampleMs - this.roundTripMsEstimate) / 8
  }

  /** Retransmit unanswered prepares and accepts (same ballot); retry preempted instances after backoff. */
  private onProposerTimeout(): void {
    this.proposerTimerDueMs = null
    const now = this.ctx.now()
    for (const inst of [...this.instances.values()]) {
      if (inst.dueAtMs > now || !this.instances.has(inst.slot)) continue
      if (inst.phase === 'backoff') {
        this.sendPrepare(inst)
        continue
      }
      inst.dueAtMs = now + this.cfg.retransmitMs
      const msg: PaxosMessage =
        inst.phase === 'prepare'
          ? { type: 'prepare', slot: inst.slot, ballot: inst.ballot }
          : { type: 'accept', slot: inst.slot, ballot: inst.ballot, value: inst.value! }
      const answered = inst.phase === 'prepare' ? inst.promises : inst.accepts
      for (const peer of this.peers) if (!answered.has(peer)) this.ctx.send(peer, msg)
    }
    this.armProposerTimer()
  }

  /** One timer for every instance: due at the earliest instance deadline. */
  private armProposerTimer(): void {
    let due = Number.POSITIVE_INFINITY
    for (const inst of this.instances.values()) due = Math.min(due, inst.dueAtMs)
    if (due === Number.POSITIVE_INFINITY) {
      if (this.proposerTimerDueMs !== null) this.ctx.clearTimer(TIMER_PROPOSER)
      this.proposerTimerDueMs = null
      return
    }
    if (this.proposerTimerDueMs === due) return
    this.proposerTimerDueMs = due
    this.ctx.setTimer(TIMER_PROPOSER, Math.max(0, due - this.ctx.now()))
  }

  /** The slot is decided (by us or anyone): the instance ends; its command, if not decided there, moves on. */
  private finishInstance(inst: Instance, value: SlotValue): void {
    this.instances.delete(inst.slot)
    const own = inst.own
    if (own === null) return
    const decidedHere = value.kind === 'cmd' && sameCommandId(value.cmd.id, own.id)
    // the command lost its slot (to another proposer's value or a no-op): a later slot
    if (!decidedHere && this.pending.has(commandIdKey(own.id))) this.queue.unshift(own)
  }

  // ---------------------------------------------------------------- acceptor (2.2)

  private onPrepare(from: NodeId, msg: PrepareMsg): void {
    this.seeSlot(msg.slot)
    const decided = this.state.decidedValue(msg.slot)
    if (decided !== undefined) {
      this.ctx.send(from, { type: 'decide', slot: msg.slot, value: decided })
      return
    }
    const granted = this.state.promise(msg.slot, msg.ballot)
    if (granted === null) {
      this.nack(from, msg.slot, msg.ballot)
      return
    }
    this.ctx.send(from, {
      type: 'promise',
      slot: msg.slot,
      ballot: msg.ballot,
      accepted: granted.accepted,
      maxSlot: this.maxSlotSeen,
    })
    this.yieldSlot(msg.slot)
  }

  /**
   * Our acceptor just promised another proposer a higher ballot in a slot where our own instance has
   * not reached phase 2: its accept would be refused here anyway. Abandon it (a proposer may abandon a
   * proposal at any time, Paxos Made Simple 2.2) and move its command to a fresh slot at once, leaving
   * the slot to the higher ballot. Dueling (and the backoff) remains for proposers that learn of each
   * other only through nacks.
   */
  private yieldSlot(slot: number): void {
    const inst = this.instances.get(slot)
    if (inst === undefined || inst.phase === 'accept') return
    if (!ballotGreater(this.state.slot(slot).promised, inst.ballot)) return
    this.instances.delete(slot)
    if (inst.own !== null && this.pending.has(commandIdKey(inst.own.id))) this.queue.unshift(inst.own)
    this.proposeQueued()
    this.armProposerTimer()
  }

  private onAccept(from: NodeId, msg: AcceptMsg): void {
    this.seeSlot(msg.slot)
    const decided = this.state.decidedValue(msg.slot)
    if (decided !== undefined) {
      this.ctx.send(from, { type: 'decide', slot: msg.slot, value: decided })
      return
    }
    if (this.state.accept(msg.slot, msg.ballot, msg.value))
      this.ctx.send(from, { type: 'accepted', slot: msg.slot, ballot: msg.ballot })
    else this.nack(from, msg.slot, msg.ballot)
  }

  private nack(to: NodeId, slot: number, ballot: Ballot): void {
    const promised = this.state.slot(slot).promised
    this.ctx.send(to, { type: 'nack', slot, ballot, promised, maxSlot: this.maxSlotSeen })
  }

  // ---------------------------------------------------------------- learner (2.3) and catch-up

  private onDecide(msg: DecideMsg): void {
    this.seeSlot(msg.slot)
    this.learn(msg.slot, msg.value)
  }

  private learn(slot: number, value: SlotValue): void {
    if (!this.state.decide(slot, value)) return
    this.maxDecidedKnown = Math.max(this.maxDecidedKnown, slot)
    const inst = this.instances.get(slot)
    if (inst !== undefined) this.finishInstance(inst, value)
    this.executeReady()
    this.proposeQueued()
    this.armProposerTimer()
  }

  /** Periodic: tell peers how far we are decided; fill holes that stall execution. */
  private onSyncTimeout(): void {
    const sync: SyncMsg = {
      type: 'sync',
      chosenPrefix: this.state.chosenPrefix,
      maxChosen: this.state.maxDecided,
    }
    for (const peer of this.peers) this.ctx.send(peer, sync)
    this.checkHoles()
    this.ctx.setTimer(TIMER_SYNC, this.cfg.syncIntervalMs)
  }

  private onSync(from: NodeId, msg: SyncMsg): void {
    this.seeSlot(msg.maxChosen)
    this.maxDecidedKnown = Math.max(this.maxDecidedKnown, msg.maxChosen)
    // ask only when the peer has something we lack: our first undecided slot (its prefix is beyond
    // ours) or decisions above our highest; other gaps are found by the hole instances (checkHoles)
    if (msg.chosenPrefix > this.state.chosenPrefix || msg.maxChosen > this.state.maxDecided)
      this.requestCatchup(from, msg.maxChosen + 1)
  }

  private requestCatchup(to: NodeId, toSlot: number): void {
    const request: CatchupRequestMsg = { type: 'catchup-request', fromSlot: this.state.chosenPrefix, toSlot }
    this.ctx.send(to, request)
  }

  private onCatchupRequest(from: NodeId, msg: CatchupRequestMsg): void {
    const entries = this.state.decidedIn(msg.fromSlot, msg.toSlot, this.cfg.catchupBatchSlots)
    if (entries.length > 0) this.ctx.send(from, { type: 'catchup-reply', entries })
  }

  private onCatchupReply(from: NodeId, msg: CatchupReplyMsg): void {
    const before = this.state.chosenPrefix
    for (const entry of msg.entries) {
      this.seeSlot(entry.slot)
      this.maxDecidedKnown = Math.max(this.maxDecidedKnown, entry.slot)
      this.learn(entry.slot, entry.value)
    }
    // a full batch that made progress: ask for the next one at once instead of waiting for a sync
    const last = msg.entries[msg.entries.length - 1]
    if (
      this.state.chosenPrefix > before &&
      last !== undefined &&
      this.state.chosenPrefix <= this.maxDecidedKnown
    )
      this.requestCatchup(from, this.maxDecidedKnown + 1)
  }

  /**
   * A hole: a slot below a decided one that stays undecided (its proposer crashed, or gave up its
   * messages to a partition). Once the chosen prefix has not moved for a random time in
   * [holeTimeoutMs, 2 holeTimeoutMs], run an instance for every such slot: phase 1 adopts any vote
   * (or learns the decision), and proposes a no-op otherwise.
   */
  private checkHoles(): void {
    const prefix = this.state.chosenPrefix
    if (prefix > this.maxDecidedKnown) {
      this.holeWatch = null
      return
    }
    const now = this.ctx.now()
    if (this.holeWatch === null || this.holeWatch.prefix !== prefix) {
      const waitMs = this.cfg.holeTimeoutMs * (1 + this.ctx.random())
      this.holeWatch = { prefix, sinceMs: now, waitMs }
      return
    }
    if (now - this.holeWatch.sinceMs < this.holeWatch.waitMs) return
    this.holeWatch = null
    for (let slot = prefix; slot < this.maxDecidedKnown; slot++) {
      if (this.instances.size >= this.cfg.maxInflightInstances) break
      if (this.state.decidedValue(slot) === undefined && !this.instances.has(slot))
        this.startInstance(slot, null)
    }
  }

  // ---------------------------------------------------------------- state machine (2.4)

  /** Executes decided slots in log order; answers the clients whose commands arrived here. */
  private executeReady(): void {
    while (this.executed < this.state.chosenPrefix) {
      const value = this.state.decidedValue(this.executed)!
      this.executed++
      if (value.kind === 'noop') continue
      const result = this.ctx.execute(value.cmd)
      this.ctx.emit({ type: 'commit', commands: 1 })
      const key = commandIdKey(value.cmd.id)
      if (!this.pending.delete(key)) continue
      this.ctx.reply(value.cmd.id, { status: 'ok', value: result.value })
      // executed through another proposer's slot while still waiting for an instance here
      const queued = this.queue.findIndex((c) => sameCommandId(c.id, value.cmd.id))
      if (queued >= 0) this.queue.splice(queued, 1)
    }
  }

  private seeSlot(slot: number): void {
    if (slot > this.maxSlotSeen) this.maxSlotSeen = slot
  }
}
