/**
 * One Fast Paxos replica (Lamport, "Fast Paxos", Distributed Computing 19(2), 2006; MSR-TR-2005-112).
 * Every replica is a proposer, an acceptor, a learner, and the coordinator of the keys that hash to it.
 *
 * A key's commands form one sequence of single-decree instances (idx 0, 1, ...); commands on different
 * keys never meet in an instance. The KV's conflict relation is per key, so executing each key's
 * instances in idx order, and different keys in any order, gives every replica the same per-key order.
 *
 * - Proposer (3.1 fast rounds): onRequest, proposeQueued / propose (straight to the acceptors, FAST0),
 *   retransmitted on timeout; a command that loses its instance moves to the next idx.
 * - Acceptor (2.2, 3.1): onPropose, onPrepare, onAccept over the durable FastPaxosState; every vote
 *   goes to every learner.
 * - Learner (2.3): onVote tallies the votes of the highest ballot per instance: a fast quorum of
 *   equal votes in a fast round, or a classic quorum in a classic round, decides.
 * - Collision detection and coordinated recovery (3.3, 3.4): the key's coordinator sees that no value
 *   can still reach a fast quorum (or the instance stays undecided for recoveryTimeoutMs) and proposes,
 *   in round 1.<self>, the value selectValue picks from the fast votes, which serve as phase 1b.
 * - Uncoordinated recovery (3.4): with recovery 'uncoordinated', each acceptor that sees the collision
 *   votes the rule's value in the second fast round FAST1 itself.
 * - Coordinator failover (2.2 classic rounds): any replica that watches an instance undecided for
 *   failoverTimeoutMs x [1, 2] runs a classic phase 1 at a ballot >= 2 and then phase 2 with the rule;
 *   preemption backs off randomly. The same round fills holes (no-op) and catches a learner up.
 * - Catch-up: periodic sync of per-key decided prefixes, catch-up request/reply.
 */
import {
  type Ballot,
  ballotEquals,
  ballotGreater,
  compareBallots,
  maxBallot,
  nextBallot,
} from '../core/ballot.ts'
import { type Command, commandIdKey, type NodeId } from '../core/command.ts'
import type { Engine, EngineContext, EngineStatus } from '../core/engine.ts'
import { type FastPaxosQuorums, fastPaxosQuorums } from '../core/quorum.ts'
import { NOOP, type SlotValue, type Vote } from '../paxos/messages.ts'
import type { FastPaxosConfig } from './config.ts'
import type {
  AcceptMsg,
  CatchupReplyMsg,
  CatchupRequestMsg,
  FastPaxosMessage,
  NackMsg,
  PrepareMsg,
  PromiseMsg,
  ProposeMsg,
  SyncEntry,
  SyncMsg,
  VoteMsg,
} from './messages.ts'
import { FAST_NODE, FAST0, FAST1, isFastBallot, type Selection, selectValue, valueKey } from './rule.ts'
import { FastPaxosState, instanceId } from './state.ts'

export type FastPaxosContext = EngineContext<FastPaxosMessage, FastPaxosConfig>

const TIMER_MAIN = 'fp'
const TIMER_SYNC = 'sync'
/** the most hole watches one learned decision adds (the rest follow from later decisions and syncs) */
const HOLE_WATCH_BATCH = 64

/** This replica's own command in a fast round. */
interface Proposal {
  readonly key: string
  readonly idx: number
  readonly cmd: Command
  /** instances this command has been proposed in (1: its first) */
  readonly attempt: number
  dueAtMs: number
}

/** The votes this learner has seen in an instance, for its highest ballot only. */
interface Tally {
  ballot: Ballot
  readonly votes: Map<NodeId, SlotValue>
}

/** A recovery round this replica coordinates (coordinated round 1, or a failover round >= 2). */
interface Recovery {
  readonly key: string
  readonly idx: number
  ballot: Ballot
  phase: 'prepare' | 'accept' | 'backoff'
  promises: Map<NodeId, Vote | null>
  value: SlotValue | null
  preemptedBy: Ballot
  preemptions: number
  dueAtMs: number
}

/** An undecided instance this replica knows of and will recover if it stays undecided. */
interface Watch {
  readonly key: string
  readonly idx: number
  dueAtMs: number
}

export class FastPaxosReplica implements Engine<FastPaxosMessage> {
  readonly quorums: FastPaxosQuorums
  private readonly peers: readonly NodeId[]
  private readonly cfg: FastPaxosConfig

  private state!: FastPaxosState
  private readonly pending = new Map<string, Command>()
  private readonly queues = new Map<string, Command[]>()
  private readonly proposals = new Map<string, Proposal>()
  private readonly tallies = new Map<string, Tally>()
  private readonly recoveries = new Map<string, Recovery>()
  private readonly watches = new Map<string, Watch>()
  /** per key, the highest idx this replica has heard of */
  private readonly maxSeen = new Map<string, number>()
  private executedCount = 0
  private maxRound = 0
  private timerDueMs: number | null = null
  private syncCursor = 0
  private proposing = false

  constructor(private readonly ctx: FastPaxosContext) {
    this.cfg = ctx.config
    if (!ctx.nodes.includes(ctx.self)) throw new Error(`self ${ctx.self} is not among the nodes`)
    if (new Set(ctx.nodes).size !== ctx.nodes.length) throw new Error('node ids must be distinct')
    for (const n of ctx.nodes)
      if (n === '' || n >= FAST_NODE) throw new Error(`node id ${JSON.stringify(n)} must sort below '~'`)
    this.quorums = fastPaxosQuorums(ctx.nodes.length, this.cfg.quorumChoice)
    this.peers = ctx.nodes.filter((n) => n !== ctx.self)
  }

  // ---------------------------------------------------------------- lifecycle

  start(): void {
    this.state = FastPaxosState.load(this.ctx.storage)
    for (const key of this.state.keys()) {
      this.seeIdx(key, this.state.log(key)!.maxDecided)
      this.executeReady(key)
    }
    for (const { key, idx } of this.state.openInstances()) {
      this.seeIdx(key, idx)
      this.watch(key, idx)
    }
    this.ctx.setTimer(TIMER_SYNC, this.cfg.syncIntervalMs)
    this.armTimer()
  }

  status(): EngineStatus {
    return { role: 'peer', leader: null, epoch: this.maxRound, executed: this.executedCount }
  }

  assertInvariants(): void {
    this.state.assertInvariants()
    for (const key of this.state.keys())
      if (this.executedOf(key) !== this.state.log(key)!.prefix)
        throw new Error(
          `key ${key}: executed ${this.executedOf(key)} != decided prefix ${this.state.log(key)!.prefix}`,
        )
    if (this.pending.size > this.cfg.maxPendingCommands) throw new Error('pending commands over the limit')
    if (this.proposals.size > this.cfg.maxInflightInstances) throw new Error('proposals over the limit')
    for (const [name, size] of [
      ['tallies', this.tallies.size],
      ['watches', this.watches.size],
      ['recoveries', this.recoveries.size],
    ] as const)
      if (size > this.cfg.maxOpenInstances) throw new Error(`${name} (${size}) over maxOpenInstances`)
    for (const p of this.proposals.values()) {
      if (this.state.decidedValue(p.key, p.idx) !== undefined)
        throw new Error(`a proposal waits on decided instance ${p.key}[${p.idx}]`)
    }
    for (const r of this.recoveries.values()) {
      if (this.state.decidedValue(r.key, r.idx) !== undefined)
        throw new Error(`a recovery runs for decided instance ${r.key}[${r.idx}]`)
      if (r.phase === 'accept' && r.value === null) throw new Error('recovery phase 2 without a value')
    }
  }

  // ---------------------------------------------------------------- inputs

  onRequest(cmd: Command): void {
    const id = commandIdKey(cmd.id)
    if (this.pending.has(id)) return // a retry of a command in progress here
    // over the limit the command is dropped as if lost ('rejected' would promise it never executes)
    if (this.pending.size >= this.cfg.maxPendingCommands) return
    this.pending.set(id, cmd)
    const queue = this.queues.get(cmd.key)
    if (queue === undefined) this.queues.set(cmd.key, [cmd])
    else queue.push(cmd)
    this.proposeQueued()
  }

  onMessage(from: NodeId, msg: FastPaxosMessage): void {
    switch (msg.type) {
      case 'propose':
        this.onPropose(from, msg)
        break
      case 'vote':
        this.onVote(from, msg.key, msg.idx, msg.ballot, msg.value)
        break
      case 'prepare':
        this.onPrepare(from, msg)
        break
      case 'promise':
        this.onPromise(from, msg)
        break
      case 'accept':
        this.onAccept(from, msg)
        break
      case 'nack':
        this.onNack(msg)
        break
      case 'decide':
        this.seeIdx(msg.key, msg.idx)
        this.learn(msg.key, msg.idx, msg.value, false)
        break
      case 'sync':
        this.onSync(from, msg)
        break
      case 'catchup-request':
        this.onCatchupRequest(from, msg)
        break
      case 'catchup-reply':
        this.onCatchupReply(msg)
        break
    }
    this.armTimer()
  }

  onTimer(name: string): void {
    if (name === TIMER_MAIN) {
      this.timerDueMs = null
      this.onMainTimeout()
    } else if (name === TIMER_SYNC) this.onSyncTimeout()
    this.armTimer()
  }

  // ---------------------------------------------------------------- proposer (fast rounds, 3.1)

  /** Proposes the head of every key queue that has no proposal in flight, up to the inflight limit. */
  private proposeQueued(): void {
    // with one node a proposal decides inside propose() and learn() calls back here: loop, not recurse
    if (this.proposing) return
    this.proposing = true
    try {
      for (const [key, queue] of this.queues) {
        if (this.proposals.size >= this.cfg.maxInflightInstances) break
        if (this.proposals.has(key)) continue
        let cmd = queue.shift()
        while (cmd !== undefined && !this.pending.has(commandIdKey(cmd.id))) cmd = queue.shift()
        if (queue.length === 0) this.queues.delete(key)
        if (cmd !== undefined) this.propose(cmd, 1)
      }
    } finally {
      this.proposing = false
    }
    this.armTimer()
  }

  /** The lowest idx above everything heard of on the key that is not decided here. */
  private freshIdx(key: string): number {
    const log = this.state.log(key)
    let idx = Math.max(log?.prefix ?? 0, (this.maxSeen.get(key) ?? -1) + 1)
    while (this.state.decidedValue(key, idx) !== undefined) idx++
    return idx
  }

  private propose(cmd: Command, attempt: number): void {
    const idx = this.freshIdx(cmd.key)
    this.seeIdx(cmd.key, idx)
    const proposal: Proposal = {
      key: cmd.key,
      idx,
      cmd,
      attempt,
      dueAtMs: this.ctx.now() + this.cfg.retransmitMs,
    }
    this.proposals.set(cmd.key, proposal)
    this.watch(cmd.key, idx)
    const msg: ProposeMsg = { type: 'propose', key: cmd.key, idx, cmd }
    for (const peer of this.peers) this.ctx.send(peer, msg)
    this.onPropose(this.ctx.self, msg)
  }

  /** The instance of a proposal was decided: done, or the command moves on to the next idx. */
  private finishProposal(p: Proposal, value: SlotValue, viaFastQuorum: boolean): void {
    this.proposals.delete(p.key)
    const mine = value.kind === 'cmd' && commandIdKey(value.cmd.id) === commandIdKey(p.cmd.id)
    if (mine) {
      this.ctx.emit({ type: viaFastQuorum && p.attempt === 1 ? 'fast-path' : 'slow-path' })
      return
    }
    if (this.pending.has(commandIdKey(p.cmd.id))) this.propose(p.cmd, p.attempt + 1)
  }

  // ---------------------------------------------------------------- acceptor

  private onPropose(from: NodeId, msg: ProposeMsg): void {
    if (this.answeredAsDecided(from, msg.key, msg.idx)) return
    const value: SlotValue = { kind: 'cmd', cmd: msg.cmd }
    const result = this.state.vote(msg.key, msg.idx, FAST0, value)
    if (result === 'voted') {
      this.broadcastVote(msg.key, msg.idx, FAST0, value)
      return
    }
    if (from === this.ctx.self) return // our own tally already has our vote
    // tell the proposer what this acceptor did vote for (a collision, or a retransmission): a 2b resent
    const slot = this.state.slot(msg.key, msg.idx)
    if (slot.accepted !== null)
      this.ctx.send(from, { type: 'vote', key: msg.key, idx: msg.idx, ...slot.accepted })
    else
      this.ctx.send(from, {
        type: 'nack',
        key: msg.key,
        idx: msg.idx,
        ballot: FAST0,
        promised: slot.promised,
      })
  }

  /**
   * Every acceptor message names an instance: note it, and when it is decided here answer with the
   * decision instead (the sender is behind); otherwise watch it until it is decided.
   */
  private answeredAsDecided(from: NodeId, key: string, idx: number): boolean {
    this.seeIdx(key, idx)
    const decided = this.state.decidedValue(key, idx)
    if (decided === undefined) {
      this.watch(key, idx)
      return false
    }
    if (from !== this.ctx.self) this.ctx.send(from, { type: 'decide', key, idx, value: decided })
    return true
  }

  private broadcastVote(key: string, idx: number, ballot: Ballot, value: SlotValue): void {
    const msg: VoteMsg = { type: 'vote', key, idx, ballot, value }
    for (const peer of this.peers) this.ctx.send(peer, msg)
    this.onVote(this.ctx.self, key, idx, ballot, value)
  }

  private onPrepare(from: NodeId, msg: PrepareMsg): void {
    if (this.answeredAsDecided(from, msg.key, msg.idx)) return
    const granted = this.state.promise(msg.key, msg.idx, msg.ballot)
    if (granted === null) {
      this.nack(from, msg.key, msg.idx, msg.ballot)
      return
    }
    const promise: PromiseMsg = {
      type: 'promise',
      key: msg.key,
      idx: msg.idx,
      ballot: msg.ballot,
      vote: granted.accepted,
    }
    this.ctx.send(from, promise)
    // our own recovery below this ballot would be refused here: leave the instance to the higher one
    // (our watch stays, and takes over again if that recovery stalls)
    const id = instanceId(msg.key, msg.idx)
    const own = this.recoveries.get(id)
    if (own !== undefined && ballotGreater(msg.ballot, own.ballot)) this.recoveries.delete(id)
  }

  private onAccept(from: NodeId, msg: AcceptMsg): void {
    if (this.answeredAsDecided(from, msg.key, msg.idx)) return
    const result = this.state.vote(msg.key, msg.idx, msg.ballot, msg.value)
    // the round's coordinator voted (durably) before it sent phase 2a: the accept is its vote too
    this.onVote(from, msg.key, msg.idx, msg.ballot, msg.value)
    if (result === 'voted') this.broadcastVote(msg.key, msg.idx, msg.ballot, msg.value)
    else if (result === 'same')
      this.ctx.send(from, { type: 'vote', key: msg.key, idx: msg.idx, ballot: msg.ballot, value: msg.value })
    else this.nack(from, msg.key, msg.idx, msg.ballot)
  }

  private nack(to: NodeId, key: string, idx: number, ballot: Ballot): void {
    const msg: NackMsg = { type: 'nack', key, idx, ballot, promised: this.state.slot(key, idx).promised }
    this.ctx.send(to, msg)
  }

  // ---------------------------------------------------------------- learner and collision detection

  private onVote(from: NodeId, key: string, idx: number, ballot: Ballot, value: SlotValue): void {
    this.seeIdx(key, idx)
    if (this.state.decidedValue(key, idx) !== undefined) return
    this.watch(key, idx)
    const id = instanceId(key, idx)
    let tally = this.tallies.get(id)
    if (tally === undefined || ballotGreater(ballot, tally.ballot)) {
      if (tally === undefined && this.tallies.size >= this.cfg.maxOpenInstances) return
      tally = { ballot, votes: new Map() }
      this.tallies.set(id, tally)
    } else if (!ballotEquals(ballot, tally.ballot)) return // a vote of a round the tally has moved past
    tally.votes.set(from, value)
    const fast = isFastBallot(ballot)
    const needed = fast ? this.quorums.fastQuorum : this.quorums.classicQuorum
    const target = valueKey(value)
    let count = 0
    for (const v of tally.votes.values()) if (valueKey(v) === target) count++
    if (count >= needed) {
      this.learn(key, idx, value, ballotEquals(ballot, FAST0))
      return
    }
    if (fast && this.collided(tally)) this.onCollision(key, idx, tally)
  }

  /** No value can still reach a fast quorum in the tally's fast round, and a classic quorum has voted. */
  private collided(tally: Tally): boolean {
    if (tally.votes.size < this.quorums.classicQuorum) return false
    const missing = this.ctx.nodes.length - tally.votes.size
    const counts = new Map<string, number>()
    for (const v of tally.votes.values()) counts.set(valueKey(v), (counts.get(valueKey(v)) ?? 0) + 1)
    for (const c of counts.values()) if (c + missing >= this.quorums.fastQuorum) return false
    return true
  }

  private onCollision(key: string, idx: number, tally: Tally): void {
    if (this.cfg.recovery === 'coordinated') {
      if (ballotEquals(tally.ballot, FAST0) && this.coordinatorOf(key) === this.ctx.self)
        this.coordinatedRecovery(key, idx)
      return
    }
    // uncoordinated (3.4): every acceptor applies the rule to the first fast round's votes and votes
    // the result in the second fast round; a collision there too is left to the failover timeout
    if (!ballotEquals(tally.ballot, FAST0)) return
    const value = this.pick(key, this.select(tally))
    if (this.state.vote(key, idx, FAST1, value) === 'voted') {
      this.ctx.emit({ type: 'recovery', detail: 'uncoordinated' })
      this.broadcastVote(key, idx, FAST1, value)
    }
  }

  private learn(key: string, idx: number, value: SlotValue, viaFastQuorum: boolean): void {
    if (!this.state.decide(key, idx, value)) return
    const id = instanceId(key, idx)
    this.tallies.delete(id)
    this.recoveries.delete(id)
    this.watches.delete(id)
    this.executeReady(key)
    const p = this.proposals.get(key)
    if (p !== undefined && p.idx === idx) this.finishProposal(p, value, viaFastQuorum)
    this.watchHoles(key)
    this.proposeQueued()
  }

  /** Instances below a decided one that are still undecided here: watch them (catch-up or no-op). */
  private watchHoles(key: string): void {
    const log = this.state.log(key)
    if (log === undefined) return
    let added = 0
    for (let idx = log.prefix; idx < log.maxDecided && added < HOLE_WATCH_BATCH; idx++) {
      if (log.decided.has(idx) || this.watches.has(instanceId(key, idx))) continue
      this.watch(key, idx)
      added++
    }
  }

  /** Executes a key's decided instances in idx order; answers the clients whose commands arrived here. */
  private executeReady(key: string): void {
    const log = this.state.log(key)
    if (log === undefined) return
    let executed = this.executedOf(key)
    while (executed < log.prefix) {
      const value = log.decided.get(executed)!
      executed++
      this.executedCount++
      if (value.kind === 'noop') continue
      const result = this.ctx.execute(value.cmd)
      this.ctx.emit({ type: 'commit', commands: 1 })
      const id = commandIdKey(value.cmd.id)
      if (!this.pending.delete(id)) continue
      this.ctx.reply(value.cmd.id, { status: 'ok', value: result.value })
    }
    this.executedPerKey.set(key, executed)
  }

  private readonly executedPerKey = new Map<string, number>()
  private executedOf(key: string): number {
    return this.executedPerKey.get(key) ?? 0
  }

  // ---------------------------------------------------------------- recovery (3.3, 3.4) and failover

  /** The key's coordinator: a fixed hash of the key over the node list, the same at every replica. */
  coordinatorOf(key: string): NodeId {
    let h = 2166136261
    for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 16777619)
    return this.ctx.nodes[(h >>> 0) % this.ctx.nodes.length]!
  }

  private select(tally: Tally): Selection {
    return selectValue(
      [...tally.votes.values()].map((value) => ({ ballot: tally.ballot, value })),
      this.quorums.e,
    )
  }

  /**
   * The value a recovery round proposes: the rule's forced value, else (free choice) the value with
   * the most votes so a proposed command makes progress, else a no-op. The test-only fault ignores the
   * rule and proposes this replica's own command for the key (or a no-op).
   */
  private pick(key: string, selection: Selection): SlotValue {
    if (this.cfg.testFault === 'recovery-ignores-selection-rule') {
      const own = this.proposals.get(key)?.cmd ?? this.queues.get(key)?.[0]
      return own !== undefined ? { kind: 'cmd', cmd: own } : NOOP
    }
    if (selection.kind === 'forced') return selection.value
    return selection.candidates[0] ?? NOOP
  }

  /**
   * Coordinated recovery (3.4): the fast round's votes from a classic quorum serve as phase 1b of round
   * 1.<self>, so the coordinator goes straight to phase 2a: two message delays after the collision.
   * Our own acceptor votes first (durably), so a restarted coordinator never reuses the round.
   */
  private coordinatedRecovery(key: string, idx: number): boolean {
    const id = instanceId(key, idx)
    const tally = this.tallies.get(id)
    if (tally === undefined || !ballotEquals(tally.ballot, FAST0)) return false
    if (tally.votes.size < this.quorums.classicQuorum || this.recoveries.has(id)) return false
    if (this.recoveries.size >= this.cfg.maxOpenInstances) return false
    const ballot: Ballot = { round: 1, node: this.ctx.self }
    if (compareBallots(this.state.slot(key, idx).promised, ballot) >= 0) return false
    const value = this.pick(key, this.select(tally))
    if (this.state.vote(key, idx, ballot, value) !== 'voted') return false
    this.maxRound = Math.max(this.maxRound, 1)
    this.ctx.emit({ type: 'recovery', detail: 'coordinated' })
    const rec: Recovery = {
      key,
      idx,
      ballot,
      phase: 'accept',
      promises: new Map(),
      value,
      preemptedBy: ballot,
      preemptions: 0,
      dueAtMs: this.ctx.now() + this.cfg.retransmitMs,
    }
    this.recoveries.set(id, rec)
    const msg: AcceptMsg = { type: 'accept', key, idx, ballot, value }
    for (const peer of this.peers) this.ctx.send(peer, msg)
    this.onVote(this.ctx.self, key, idx, ballot, value)
    return true
  }

  /** Failover: a classic round >= 2 with a phase 1 of its own (any replica, after a timeout). */
  private startFailover(key: string, idx: number): void {
    const id = instanceId(key, idx)
    if (this.recoveries.size >= this.cfg.maxOpenInstances) return
    const rec: Recovery = {
      key,
      idx,
      ballot: FAST1,
      phase: 'backoff',
      promises: new Map(),
      value: null,
      preemptedBy: FAST1,
      preemptions: 0,
      dueAtMs: this.ctx.now(),
    }
    this.recoveries.set(id, rec)
    this.sendPrepare(rec)
  }

  private sendPrepare(rec: Recovery): void {
    const above = maxBallot(
      maxBallot(maxBallot(rec.ballot, rec.preemptedBy), FAST1),
      this.state.slot(rec.key, rec.idx).promised,
    )
    rec.ballot = nextBallot(above, this.ctx.self)
    this.maxRound = Math.max(this.maxRound, rec.ballot.round)
    rec.phase = 'prepare'
    rec.promises = new Map()
    rec.value = null
    rec.dueAtMs = this.ctx.now() + this.cfg.retransmitMs
    const msg: PrepareMsg = { type: 'prepare', key: rec.key, idx: rec.idx, ballot: rec.ballot }
    for (const peer of this.peers) this.ctx.send(peer, msg)
    const local = this.state.promise(rec.key, rec.idx, rec.ballot)
    if (local === null) throw new Error('internal: own acceptor refused a ballot above its promise')
    this.countPromise(rec, this.ctx.self, local.accepted)
  }

  private onPromise(from: NodeId, msg: PromiseMsg): void {
    const rec = this.recoveries.get(instanceId(msg.key, msg.idx))
    if (rec === undefined || rec.phase !== 'prepare' || !ballotEquals(rec.ballot, msg.ballot)) return
    this.countPromise(rec, from, msg.vote)
  }

  private countPromise(rec: Recovery, from: NodeId, vote: Vote | null): void {
    if (rec.promises.has(from)) return
    rec.promises.set(from, vote)
    if (rec.promises.size !== this.quorums.classicQuorum) return
    this.ctx.emit({ type: 'elected', epoch: rec.ballot.round })
    this.ctx.emit({ type: 'recovery', detail: 'failover' })
    rec.value = this.pick(rec.key, selectValue([...rec.promises.values()], this.quorums.e))
    rec.phase = 'accept'
    rec.dueAtMs = this.ctx.now() + this.cfg.retransmitMs
    // our own vote first (durable), since the accept tells the learners we voted
    if (this.state.vote(rec.key, rec.idx, rec.ballot, rec.value) !== 'voted') {
      this.preempted(rec, this.state.slot(rec.key, rec.idx).promised)
      return
    }
    const msg: AcceptMsg = {
      type: 'accept',
      key: rec.key,
      idx: rec.idx,
      ballot: rec.ballot,
      value: rec.value,
    }
    for (const peer of this.peers) this.ctx.send(peer, msg)
    this.onVote(this.ctx.self, rec.key, rec.idx, rec.ballot, rec.value)
  }

  private onNack(msg: NackMsg): void {
    this.seeIdx(msg.key, msg.idx)
    const rec = this.recoveries.get(instanceId(msg.key, msg.idx))
    if (rec === undefined || rec.phase === 'backoff' || !ballotEquals(rec.ballot, msg.ballot)) return
    this.preempted(rec, msg.promised)
  }

  /** A higher ballot exists: back off for a random time in [min, upper], upper doubling per preemption. */
  private preempted(rec: Recovery, promised: Ballot): void {
    rec.preemptedBy = maxBallot(rec.preemptedBy, promised)
    rec.preemptions++
    rec.phase = 'backoff'
    const { backoffMsMin, backoffMsMax } = this.cfg
    const upper = Math.min(backoffMsMax, backoffMsMin * 2 ** Math.min(rec.preemptions, 30))
    rec.dueAtMs = this.ctx.now() + backoffMsMin + this.ctx.random() * (upper - backoffMsMin)
  }

  private watch(key: string, idx: number): void {
    const id = instanceId(key, idx)
    if (this.watches.has(id) || this.state.decidedValue(key, idx) !== undefined) return
    if (this.watches.size >= this.cfg.maxOpenInstances) return
    this.watches.set(id, { key, idx, dueAtMs: this.ctx.now() + this.watchDelayMs(key) })
  }

  /** The coordinator recovers first; the others wait longer, and randomly, so they rarely duel. */
  private watchDelayMs(key: string): number {
    if (this.cfg.recovery === 'coordinated' && this.coordinatorOf(key) === this.ctx.self)
      return this.cfg.recoveryTimeoutMs
    return this.cfg.failoverTimeoutMs * (1 + this.ctx.random())
  }

  private onMainTimeout(): void {
    const now = this.ctx.now()
    for (const p of [...this.proposals.values()]) {
      if (p.dueAtMs > now || this.proposals.get(p.key) !== p) continue
      p.dueAtMs = now + this.cfg.retransmitMs
      const tally = this.tallies.get(instanceId(p.key, p.idx))
      const msg: ProposeMsg = { type: 'propose', key: p.key, idx: p.idx, cmd: p.cmd }
      for (const peer of this.peers)
        if (tally === undefined || !ballotEquals(tally.ballot, FAST0) || !tally.votes.has(peer))
          this.ctx.send(peer, msg)
    }
    for (const rec of [...this.recoveries.values()]) {
      const id = instanceId(rec.key, rec.idx)
      if (rec.dueAtMs > now || this.recoveries.get(id) !== rec) continue
      if (rec.phase === 'backoff') {
        this.sendPrepare(rec)
        continue
      }
      rec.dueAtMs = now + this.cfg.retransmitMs
      if (rec.phase === 'prepare') {
        const msg: PrepareMsg = { type: 'prepare', key: rec.key, idx: rec.idx, ballot: rec.ballot }
        for (const peer of this.peers) if (!rec.promises.has(peer)) this.ctx.send(peer, msg)
      } else {
        const tally = this.tallies.get(id)
        const msg: AcceptMsg = {
          type: 'accept',
          key: rec.key,
          idx: rec.idx,
          ballot: rec.ballot,
          value: rec.value!,
        }
        for (const peer of this.peers)
          if (tally === undefined || !ballotEquals(tally.ballot, rec.ballot) || !tally.votes.has(peer))
            this.ctx.send(peer, msg)
      }
    }
    for (const w of [...this.watches.values()]) {
      const id = instanceId(w.key, w.idx)
      if (w.dueAtMs > now || this.watches.get(id) !== w) continue
      w.dueAtMs = now + this.cfg.failoverTimeoutMs * (1 + this.ctx.random())
      if (this.state.decidedValue(w.key, w.idx) !== undefined) {
        this.watches.delete(id)
        continue
      }
      if (this.recoveries.has(id)) continue
      const coordinated =
        this.cfg.recovery === 'coordinated' &&
        this.coordinatorOf(w.key) === this.ctx.self &&
        this.coordinatedRecovery(w.key, w.idx)
      if (!coordinated) this.startFailover(w.key, w.idx)
    }
  }

  /** One timer for every deadline: due at the earliest. */
  private armTimer(): void {
    let due = Number.POSITIVE_INFINITY
    for (const p of this.proposals.values()) due = Math.min(due, p.dueAtMs)
    for (const r of this.recoveries.values()) due = Math.min(due, r.dueAtMs)
    for (const w of this.watches.values()) due = Math.min(due, w.dueAtMs)
    if (due === Number.POSITIVE_INFINITY) {
      if (this.timerDueMs !== null) this.ctx.clearTimer(TIMER_MAIN)
      this.timerDueMs = null
      return
    }
    if (this.timerDueMs === due) return
    this.timerDueMs = due
    this.ctx.setTimer(TIMER_MAIN, Math.max(0, due - this.ctx.now()))
  }

  // ---------------------------------------------------------------- catch-up

  /** Periodic: describe up to syncBatchKeys per-key logs to every peer (a cursor walks all keys). */
  private onSyncTimeout(): void {
    const keys = this.state.keys()
    const entries: SyncEntry[] = []
    if (keys.length > 0) {
      const count = Math.min(keys.length, this.cfg.syncBatchKeys)
      for (let i = 0; i < count; i++) {
        const key = keys[(this.syncCursor + i) % keys.length]!
        const log = this.state.log(key)!
        entries.push([key, log.prefix, log.maxDecided])
      }
      this.syncCursor = (this.syncCursor + count) % keys.length
      const msg: SyncMsg = { type: 'sync', entries }
      for (const peer of this.peers) this.ctx.send(peer, msg)
    }
    this.ctx.setTimer(TIMER_SYNC, this.cfg.syncIntervalMs)
  }

  private onSync(from: NodeId, msg: SyncMsg): void {
    for (const [key, prefix, maxDecided] of msg.entries) {
      this.seeIdx(key, maxDecided)
      const log = this.state.log(key)
      if (prefix > (log?.prefix ?? 0) || maxDecided > (log?.maxDecided ?? -1)) {
        const request: CatchupRequestMsg = { type: 'catchup-request', key, fromIdx: log?.prefix ?? 0 }
        this.ctx.send(from, request)
      }
    }
  }

  private onCatchupRequest(from: NodeId, msg: CatchupRequestMsg): void {
    const entries = this.state.decidedIn(
      msg.key,
      msg.fromIdx,
      Number.POSITIVE_INFINITY,
      this.cfg.catchupBatchInstances,
    )
    if (entries.length > 0) this.ctx.send(from, { type: 'catchup-reply', key: msg.key, entries })
  }

  private onCatchupReply(msg: CatchupReplyMsg): void {
    for (const { idx, value } of msg.entries) {
      this.seeIdx(msg.key, idx)
      this.learn(msg.key, idx, value, false)
    }
  }

  private seeIdx(key: string, idx: number): void {
    if (idx > (this.maxSeen.get(key) ?? -1)) this.maxSeen.set(key, idx)
  }
}
