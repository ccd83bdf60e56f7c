/**
 * One classic Paxos replica (Lamport, "Paxos Made Simple", 2001; Heidi Howard's talk): every replica is
 * a proposer, an acceptor and a learner. Each client command is decided in its own single-decree
 * instance by the replica that received it, which runs phase 1 (prepare/promise) and phase 2
 * (accept/accepted) every time: two round trips, with no leader and no phase-1 reuse.
 *
 * Instances are numbered per key: a key's commands form the sequence key[0], key[1], ..., and the
 * replicas execute each key's sequence in order, different keys independently. Commands conflict only
 * on one key (engines/core/command.ts), so every replica applies the same per-key order, and a command
 * never waits for an instance of another key (README.md, "Why per-key instance sequences").
 *
 * - Proposer (2.2, "Choosing a value"): startInstance, sendPrepare, onPromise / countPromise,
 *   sendAccept, onAccepted / countAccepted, onNack / preempted (randomised backoff against dueling
 *   proposers, 2.4's "progress" remark), onProposerTimeout (retransmit and retry).
 * - Acceptor (2.2): onPrepare, onAccept, backed by the durable PaxosState.
 * - Learner (2.3, "Learning a chosen value"): the proposer that saw a majority accept tells every
 *   learner (decide); learners that missed it find out from the periodic sync and ask (catch-up);
 *   an instance nobody finishes is filled by any replica with a no-op instance (holes, onSyncTimeout).
 * - Replica / state machine (2.4, "Implementing a state machine"): executeReady runs a key's decided
 *   instances in idx order and answers the clients whose commands arrived here.
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
  type SyncEntry,
  type SyncMsg,
  type Vote,
} from './messages.ts'
import { instanceId, PaxosState } from './state.ts'

export type PaxosContext = EngineContext<PaxosMessage, PaxosConfig>

const TIMER_PROPOSER = 'proposer'
const TIMER_SYNC = 'sync'

/** One single-decree instance this replica runs as proposer. */
interface Instance {
  readonly key: string
  readonly idx: number
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

/** A key whose decided prefix has stalled below a decided instance: since when, and how long to wait. */
interface HoleWatch {
  prefix: number
  sinceMs: number
  waitMs: number
}

export class PaxosReplica implements Engine<PaxosMessage> {
  private readonly quorum: number
  private readonly peers: readonly NodeId[]
  private readonly cfg: PaxosConfig

  private state!: PaxosState
  /** the instances this replica runs as proposer, by instanceId */
  private readonly instances = new Map<string, Instance>()
  /** client commands that arrived here and are not yet executed here, by id */
  private readonly pending = new Map<string, Command>()
  /** pending commands waiting for an instance (the inflight limit was reached) */
  private readonly queue: Command[] = []
  /** per key, the instances executed (the state machine's position in the key's sequence) */
  private readonly executedPerKey = new Map<string, number>()
  /** instances executed, every key together (status) */
  private executedCount = 0
  /** per key, the highest idx this replica has heard of: a fresh instance goes above it */
  private readonly maxSeen = new Map<string, number>()
  /** per key, the highest idx known decided anywhere (from decides and syncs) */
  private readonly maxDecidedKnown = new Map<string, number>()
  /** keys known decided somewhere above their prefix here (a hole, or a decision on its way) */
  private readonly behind = new Map<string, HoleWatch | null>()
  /** the highest ballot round this replica has proposed with (status epoch) */
  private maxRound = 0
  private proposerTimerDueMs: number | null = null
  private proposing = false
  /** where the next sync message starts in the list of keys */
  private syncCursor = 0
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

  /** First boot and every restart (2.4's stable storage): reload, re-execute the decided prefixes. */
  start(): void {
    this.state = PaxosState.load(this.ctx.storage)
    for (const { key, idx } of this.state.openInstances()) this.seeIdx(key, idx)
    for (const key of this.state.keys()) {
      this.seeIdx(key, this.state.maxDecidedOf(key))
      this.noteDecidedKnown(key, this.state.maxDecidedOf(key))
      this.executeReady(key)
    }
    this.ctx.setTimer(TIMER_SYNC, this.cfg.syncIntervalMs)
  }

  status(): EngineStatus {
    return { role: 'peer', leader: null, epoch: this.maxRound, executed: this.executedCount }
  }

  assertInvariants(): void {
    this.state.assertInvariants()
    for (const key of this.state.keys())
      if (this.executedOf(key) !== this.state.prefixOf(key))
        throw new Error(
          `${key}: executed ${this.executedOf(key)} != decided prefix ${this.state.prefixOf(key)}`,
        )
    if (this.instances.size > this.cfg.maxInflightInstances)
      throw new Error(`${this.instances.size} instances exceed maxInflightInstances`)
    if (this.pending.size > this.cfg.maxPendingCommands)
      throw new Error(`${this.pending.size} pending commands exceed maxPendingCommands`)
    if (this.queue.length > this.pending.size) throw new Error('more queued commands than pending ones')
    for (const inst of this.instances.values()) {
      if (this.state.decidedValue(inst.key, inst.idx) !== undefined)
        throw new Error(`an instance runs for decided ${inst.key}[${inst.idx}]`)
      if (inst.phase !== 'backoff' && inst.ballot.node !== this.ctx.self)
        throw new Error(`${inst.key}[${inst.idx}]: proposing with another node's ballot`)
      if (inst.phase === 'accept' && inst.value === null)
        throw new Error(`${inst.key}[${inst.idx}]: phase 2 without a value`)
      if (inst.own !== null && inst.own.key !== inst.key)
        throw new Error(`${inst.key}[${inst.idx}]: runs a command on key ${inst.own.key}`)
    }
  }

  // ---------------------------------------------------------------- inputs

  onRequest(cmd: Command): void {
    const id = commandIdKey(cmd.id)
    if (this.pending.has(id)) return // a retry of a command already in progress here
    // over the limit the command is dropped as if lost: 'rejected' would promise it never executes,
    // and a retry of the same id may be in progress at another replica
    if (this.pending.size >= this.cfg.maxPendingCommands) return
    this.pending.set(id, cmd)
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
        if (this.pending.has(commandIdKey(cmd.id))) this.startInstance(cmd.key, this.freshIdx(cmd.key), cmd)
      }
    } finally {
      this.proposing = false
    }
  }

  /**
   * Instance choice: the lowest idx of the key above every idx of it this replica has heard of (in
   * prepares, accepts, promises, nacks, decides, syncs) that is neither decided here nor used by one of
   * its instances. Two replicas that pick concurrently on one key may pick the same idx: they duel, one
   * value is decided there and the other command moves on (finishInstance, yieldSlot).
   */
  private freshIdx(key: string): number {
    let idx = Math.max(this.state.prefixOf(key), (this.maxSeen.get(key) ?? -1) + 1)
    while (this.state.decidedValue(key, idx) !== undefined || this.instances.has(instanceId(key, idx))) idx++
    this.seeIdx(key, idx)
    return idx
  }

  private startInstance(key: string, idx: number, own: Command | null): void {
    const inst: Instance = {
      key,
      idx,
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
    this.instances.set(instanceId(key, idx), inst)
    this.sendPrepare(inst)
  }

  /** Phase 1a with a ballot above any this replica's acceptor promised or a nack reported in the instance. */
  private sendPrepare(inst: Instance): void {
    // Above our own acceptor's promise: every ballot this replica ever proposed with in this instance
    // was first promised by its own acceptor (durably), so after a restart it never reuses one.
    const promised = this.state.slot(inst.key, inst.idx).promised
    inst.ballot = nextBallot(maxBallot(maxBallot(inst.ballot, inst.preemptedBy), promised), this.ctx.self)
    this.maxRound = Math.max(this.maxRound, inst.ballot.round)
    inst.phase = 'prepare'
    inst.promises = new VoteSet(this.quorum)
    inst.highest = null
    inst.value = null
    inst.dueAtMs = this.ctx.now() + this.cfg.retransmitMs
    inst.phaseStartMs = this.ctx.now()
    const prepare: PrepareMsg = { type: 'prepare', key: inst.key, idx: inst.idx, ballot: inst.ballot }
    for (const peer of this.peers) this.ctx.send(peer, prepare)
    const local = this.state.promise(inst.key, inst.idx, inst.ballot)
    if (local === null) throw new Error(`internal: own acceptor refused a ballot above its promise`)
    this.countPromise(inst, this.ctx.self, local.accepted)
    this.armProposerTimer()
  }

  private onPromise(from: NodeId, msg: PromiseMsg): void {
    this.seeIdx(msg.key, msg.maxIdx)
    const inst = this.instances.get(instanceId(msg.key, msg.idx))
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
    const accept: AcceptMsg = {
      type: 'accept',
      key: inst.key,
      idx: inst.idx,
      ballot: inst.ballot,
      value: inst.value!,
    }
    for (const peer of this.peers) this.ctx.send(peer, accept)
    // our own acceptor may have promised a higher ballot to another proposer since phase 1
    if (this.state.accept(inst.key, inst.idx, inst.ballot, inst.value!))
      this.countAccepted(inst, this.ctx.self)
    else this.preempted(inst, this.state.slot(inst.key, inst.idx).promised)
    this.armProposerTimer()
  }

  private onAccepted(from: NodeId, msg: AcceptedMsg): void {
    const inst = this.instances.get(instanceId(msg.key, msg.idx))
    if (inst === undefined || inst.phase !== 'accept' || !ballotEquals(inst.ballot, msg.ballot)) return
    this.countAccepted(inst, from)
  }

  /** Phase 2b counted; with a majority the value is chosen: tell every learner, learn it here. */
  private countAccepted(inst: Instance, from: NodeId): void {
    if (inst.phase !== 'accept' || !inst.accepts.add(from)) return
    this.sampleRoundTrip(inst)
    const decide: DecideMsg = { type: 'decide', key: inst.key, idx: inst.idx, value: inst.value! }
    for (const peer of this.peers) this.ctx.send(peer, decide)
    this.learn(inst.key, inst.idx, inst.value!)
  }

  /** A higher ballot exists in the instance: back off for a random time, then retry phase 1 above it. */
  private onNack(msg: NackMsg): void {
    this.seeIdx(msg.key, msg.maxIdx)
    const inst = this.instances.get(instanceId(msg.key, msg.idx))
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
    for (const [id, inst] of [...this.instances]) {
      if (inst.dueAtMs > now || this.instances.get(id) !== inst) continue
      if (inst.phase === 'backoff') {
        this.sendPrepare(inst)
        continue
      }
      inst.dueAtMs = now + this.cfg.retransmitMs
      const msg: PaxosMessage =
        inst.phase === 'prepare'
          ? { type: 'prepare', key: inst.key, idx: inst.idx, ballot: inst.ballot }
          : { type: 'accept', key: inst.key, idx: inst.idx, ballot: inst.ballot, value: inst.value! }
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

  /** The instance is decided (by us or anyone): it ends; its command, if not decided there, moves on. */
  private finishInstance(inst: Instance, value: SlotValue): void {
    this.instances.delete(instanceId(inst.key, inst.idx))
    const own = inst.own
    if (own === null) return
    const decidedHere = value.kind === 'cmd' && sameCommandId(value.cmd.id, own.id)
    // the command lost its instance (to another proposer's value or a no-op): a later idx of its key
    if (!decidedHere && this.pending.has(commandIdKey(own.id))) this.queue.unshift(own)
  }

  // ---------------------------------------------------------------- acceptor (2.2)

  /** An acceptor message about a decided instance is answered with the decision (the sender is behind). */
  private answeredAsDecided(to: NodeId, key: string, idx: number): boolean {
    this.seeIdx(key, idx)
    const decided = this.state.decidedValue(key, idx)
    if (decided === undefined) return false
    this.ctx.send(to, { type: 'decide', key, idx, value: decided })
    return true
  }

  private onPrepare(from: NodeId, msg: PrepareMsg): void {
    if (this.answeredAsDecided(from, msg.key, msg.idx)) return
    const granted = this.state.promise(msg.key, msg.idx, msg.ballot)
    if (granted === null) {
      this.nack(from, msg.key, msg.idx, msg.ballot)
      return
    }
    this.ctx.send(from, {
      type: 'promise',
      key: msg.key,
      idx: msg.idx,
      ballot: msg.ballot,
      accepted: granted.accepted,
      maxIdx: this.maxSeen.get(msg.key) ?? -1,
    })
    this.yieldSlot(msg.key, msg.idx)
  }

  /**
   * Our acceptor just promised another proposer a higher ballot in an instance where our own has not
   * reached phase 2: its accept would be refused here anyway. Abandon it (a proposer may abandon a
   * proposal at any time, Paxos Made Simple 2.2) and move its command to a fresh idx at once, leaving
   * the instance to the higher ballot. Dueling (and the backoff) remains for proposers that learn of
   * each other only through nacks.
   */
  private yieldSlot(key: string, idx: number): void {
    const id = instanceId(key, idx)
    const inst = this.instances.get(id)
    if (inst === undefined || inst.phase === 'accept') return
    if (!ballotGreater(this.state.slot(key, idx).promised, inst.ballot)) return
    this.instances.delete(id)
    if (inst.own !== null && this.pending.has(commandIdKey(inst.own.id))) this.queue.unshift(inst.own)
    this.proposeQueued()
    this.armProposerTimer()
  }

  private onAccept(from: NodeId, msg: AcceptMsg): void {
    if (this.answeredAsDecided(from, msg.key, msg.idx)) return
    if (this.state.accept(msg.key, msg.idx, msg.ballot, msg.value))
      this.ctx.send(from, { type: 'accepted', key: msg.key, idx: msg.idx, ballot: msg.ballot })
    else this.nack(from, msg.key, msg.idx, msg.ballot)
  }

  private nack(to: NodeId, key: string, idx: number, ballot: Ballot): void {
    const promised = this.state.slot(key, idx).promised
    this.ctx.send(to, { type: 'nack', key, idx, ballot, promised, maxIdx: this.maxSeen.get(key) ?? -1 })
  }

  // ---------------------------------------------------------------- learner (2.3) and catch-up

  private onDecide(msg: DecideMsg): void {
    this.seeIdx(msg.key, msg.idx)
    this.learn(msg.key, msg.idx, msg.value)
  }

  private learn(key: string, idx: number, value: SlotValue): void {
    if (!this.state.decide(key, idx, value)) return
    this.noteDecidedKnown(key, idx)
    const inst = this.instances.get(instanceId(key, idx))
    if (inst !== undefined) this.finishInstance(inst, value)
    this.executeReady(key)
    this.proposeQueued()
    this.armProposerTimer()
  }

  /** Periodic: tell peers how far some keys are decided (a cursor walks them); fill holes. */
  private onSyncTimeout(): void {
    const keys = this.state.keys()
    if (keys.length > 0) {
      const count = Math.min(keys.length, this.cfg.syncBatchKeys)
      const entries: SyncEntry[] = []
      for (let i = 0; i < count; i++) {
        const key = keys[(this.syncCursor + i) % keys.length]!
        entries.push([key, this.state.prefixOf(key), this.state.maxDecidedOf(key)])
      }
      this.syncCursor = (this.syncCursor + count) % keys.length
      const sync: SyncMsg = { type: 'sync', entries }
      for (const peer of this.peers) this.ctx.send(peer, sync)
    }
    this.checkHoles()
    this.ctx.setTimer(TIMER_SYNC, this.cfg.syncIntervalMs)
  }

  private onSync(from: NodeId, msg: SyncMsg): void {
    for (const [key, prefix, maxDecided] of msg.entries) {
      this.seeIdx(key, maxDecided)
      this.noteDecidedKnown(key, maxDecided)
      // ask only when the peer has something we lack: our first undecided idx (its prefix is beyond
      // ours) or decisions above our highest; other gaps are found by the hole instances (checkHoles)
      if (prefix > this.state.prefixOf(key) || maxDecided > this.state.maxDecidedOf(key))
        this.requestCatchup(from, key, maxDecided + 1)
    }
  }

  private requestCatchup(to: NodeId, key: string, toIdx: number): void {
    const request: CatchupRequestMsg = {
      type: 'catchup-request',
      key,
      fromIdx: this.state.prefixOf(key),
      toIdx,
    }
    this.ctx.send(to, request)
  }

  private onCatchupRequest(from: NodeId, msg: CatchupRequestMsg): void {
    const entries = this.state.decidedIn(msg.key, msg.fromIdx, msg.toIdx, this.cfg.catchupBatchInstances)
    if (entries.length > 0) this.ctx.send(from, { type: 'catchup-reply', key: msg.key, entries })
  }

  private onCatchupReply(from: NodeId, msg: CatchupReplyMsg): void {
    const before = this.state.prefixOf(msg.key)
    for (const entry of msg.entries) {
      this.seeIdx(msg.key, entry.idx)
      this.noteDecidedKnown(msg.key, entry.idx)
      this.learn(msg.key, entry.idx, entry.value)
    }
    // a reply that made progress while more is known decided: ask for the next batch at once
    const known = this.maxDecidedKnown.get(msg.key) ?? -1
    if (this.state.prefixOf(msg.key) > before && this.state.prefixOf(msg.key) <= known)
      this.requestCatchup(from, msg.key, known + 1)
  }

  /** Some replica decided `key[idx]`: if that is above our prefix, the key is behind here until it catches up. */
  private noteDecidedKnown(key: string, idx: number): void {
    if (idx > (this.maxDecidedKnown.get(key) ?? -1)) this.maxDecidedKnown.set(key, idx)
    if (idx >= this.state.prefixOf(key) && !this.behind.has(key)) this.behind.set(key, null)
  }

  /**
   * A hole: an instance below a decided one of its key that stays undecided (its proposer crashed, or
   * gave up its messages to a partition). Once a key's decided prefix has not moved for a random time
   * in [holeTimeoutMs, 2 holeTimeoutMs], run an instance for every such idx: phase 1 adopts any vote
   * (or learns the decision), and proposes a no-op otherwise.
   */
  private checkHoles(): void {
    const now = this.ctx.now()
    for (const [key, watch] of [...this.behind]) {
      const prefix = this.state.prefixOf(key)
      const known = this.maxDecidedKnown.get(key) ?? -1
      if (prefix > known) {
        this.behind.delete(key)
        continue
      }
      if (watch === null || watch.prefix !== prefix) {
        const waitMs = this.cfg.holeTimeoutMs * (1 + this.ctx.random())
        this.behind.set(key, { prefix, sinceMs: now, waitMs })
        continue
      }
      if (now - watch.sinceMs < watch.waitMs) continue
      this.behind.set(key, null)
      for (let idx = prefix; idx < known; idx++) {
        if (this.instances.size >= this.cfg.maxInflightInstances) return
        if (this.state.decidedValue(key, idx) === undefined && !this.instances.has(instanceId(key, idx)))
          this.startInstance(key, idx, null)
      }
    }
  }

  // ---------------------------------------------------------------- state machine (2.4)

  /** Executes a key's decided instances in idx order; answers the clients whose commands arrived here. */
  private executeReady(key: string): void {
    let executed = this.executedOf(key)
    const prefix = this.state.prefixOf(key)
    while (executed < prefix) {
      const value = this.state.decidedValue(key, executed)!
      executed++
      this.executedPerKey.set(key, executed)
      this.executedCount++
      if (value.kind === 'noop') continue
      const result = this.ctx.execute(value.cmd)
      this.ctx.emit({ type: 'commit', commands: 1 })
      const id = commandIdKey(value.cmd.id)
      if (!this.pending.delete(id)) continue
      this.ctx.reply(value.cmd.id, { status: 'ok', value: result.value })
      // executed through another proposer's instance while still waiting for one here
      const queued = this.queue.findIndex((c) => sameCommandId(c.id, value.cmd.id))
      if (queued >= 0) this.queue.splice(queued, 1)
    }
  }

  private executedOf(key: string): number {
    return this.executedPerKey.get(key) ?? 0
  }

  private seeIdx(key: string, idx: number): void {
    if (idx > (this.maxSeen.get(key) ?? -1)) this.maxSeen.set(key, idx)
  }
}
