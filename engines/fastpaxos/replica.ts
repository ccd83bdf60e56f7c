/**
 * One Fast Paxos replica (Lamport, "Fast Paxos", Distributed Computing 19(2), 2006; MSR-TR-2005-112).
 * Every replica is a proposer, an acceptor, a learner, and the coordinator of the keys that hash to it.
 *
 * A key's commands form one sequence of single-decree instances (idx 0, 1, ...); commands on different
 * keys never meet in an instance. The KV's conflict relation is per key, so executing each key's
 * instances in idx order, and different keys in any order, gives every replica the same per-key order.
 *
 * - Proposer (3.1 fast rounds): onRequest, proposeQueued / propose (straight to the acceptors, FAST0),
 *   retransmitted on timeout. The value is a batch: one batch per key in flight, the commands queued
 *   meanwhile form the next; commands not in the value decided for their instance go to the next idx.
 * - Acceptor (2.2, 3.1): onPropose, onPrepare, onAccept over the durable FastPaxosState; every vote
 *   goes to every learner.
 * - Learner (2.3): onVote tallies the votes of the highest ballot per instance: a fast quorum of
 *   equal votes in a fast round, or a classic quorum in a classic round, decides.
 * - Collision detection and coordinated recovery (3.3, 3.4): the key's coordinator sees that no value
 *   can still reach a fast quorum (or the instance stays undecided for recoveryTimeoutMs plus the
 *   slowest measured round trip) and proposes, in round 1.<self>, the value selectValue picks from the
 *   fast votes, which serve as phase 1b; a free choice is the union of the collided batches and the
 *   commands carried over from earlier instances (pick).
 * - Uncoordinated recovery (3.4): with recovery 'uncoordinated', each acceptor that sees the collision
 *   and every vote of the fast round votes the rule's value in the second fast round FAST1 itself.
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
import type { FastPaxosConfig } from './config.ts'
import {
  type AcceptMsg,
  type CatchupReplyMsg,
  type CatchupRequestMsg,
  type FastPaxosMessage,
  type FpValue,
  type FpVote,
  type NackMsg,
  NOOP,
  type PrepareMsg,
  type PromiseMsg,
  type ProposeMsg,
  type SyncEntry,
  type SyncMsg,
  type VoteMsg,
} from './messages.ts'
import {
  FAST_NODE,
  FAST0,
  FAST1,
  isFastBallot,
  type Selection,
  selectValue,
  unionOf,
  valueKey,
} from './rule.ts'
import { FastPaxosState, instanceId } from './state.ts'

export type FastPaxosContext = EngineContext<FastPaxosMessage, FastPaxosConfig>

const TIMER_MAIN = 'fp'
const TIMER_SYNC = 'sync'
/** the most hole watches one learned decision adds (the rest follow from later decisions and syncs) */
const HOLE_WATCH_BATCH = 64

/** A client command waiting here to be proposed (again). */
interface Queued {
  readonly cmd: Command
  /** instances this command has been proposed in before (0: none yet) */
  readonly attempts: number
}

/** This replica's own batch of commands on a key, in a fast round of one instance. */
interface Proposal {
  readonly key: string
  readonly idx: number
  readonly batch: readonly Queued[]
  /** valueKey of the batch: a fast vote for it answers this proposal */
  readonly valueId: string
  readonly sentAtMs: number
  /** sent again: its votes no longer time a round trip (Karn's rule) */
  retransmitted: boolean
  dueAtMs: number
}

/** The votes this learner has seen in an instance, for its highest ballot only. */
interface Tally {
  ballot: Ballot
  readonly votes: Map<NodeId, FpValue>
}

/** A recovery round this replica coordinates (coordinated round 1, or a failover round >= 2). */
interface Recovery {
  readonly key: string
  readonly idx: number
  ballot: Ballot
  phase: 'prepare' | 'accept' | 'backoff'
  promises: Map<NodeId, FpVote | null>
  value: FpValue | null
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
  private readonly queues = new Map<string, Queued[]>()
  private readonly proposals = new Map<string, Proposal>()
  private readonly tallies = new Map<string, Tally>()
  private readonly recoveries = new Map<string, Recovery>()
  private readonly watches = new Map<string, Watch>()
  /** per key, the highest idx this replica has heard of */
  private readonly maxSeen = new Map<string, number>()
  /**
   * per key, the commands this replica has seen proposed (in proposes and fast votes) and not yet seen
   * decided, in arrival order, with the highest idx they were proposed for: a recovery round's free
   * choice includes them (see pick)
   */
  private readonly undecided = new Map<string, Map<string, { readonly cmd: Command; idx: number }>>()
  private undecidedCount = 0
  /** per peer, the smoothed round trip measured by our fast proposals (timeRoundTrip) */
  private readonly rttMsEstimates = new Map<NodeId, number>()
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
    let undecided = 0
    for (const seen of this.undecided.values()) {
      if (seen.size === 0 || seen.size > this.cfg.maxBatchCommands * this.ctx.nodes.length)
        throw new Error(`a key's carried-over commands: ${seen.size}, empty or over the limit`)
      undecided += seen.size
    }
    if (undecided !== this.undecidedCount || undecided > this.cfg.maxPendingCommands)
      throw new Error(`carried-over commands ${undecided} (counted ${this.undecidedCount}) over the limit`)
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
    if (queue === undefined) this.queues.set(cmd.key, [{ cmd, attempts: 0 }])
    else queue.push({ cmd, attempts: 0 })
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

  /**
   * For every key with commands queued and no proposal in flight (up to the inflight limit), proposes
   * the queue's head as one batch of at most maxBatchCommands: while an instance (and any collision in
   * it) resolves, the key's later commands gather here and go together into the next instance.
   */
  private proposeQueued(): void {
    // with one node a proposal decides inside propose() and learn() calls back here: loop, not recurse
    if (this.proposing) return
    this.proposing = true
    try {
      for (const [key, queue] of this.queues) {
        if (this.proposals.size >= this.cfg.maxInflightInstances) break
        if (this.proposals.has(key)) continue
        const batch: Queued[] = []
        while (batch.length < this.cfg.maxBatchCommands && queue.length > 0) {
          const q = queue.shift()!
          if (this.pending.has(commandIdKey(q.cmd.id))) batch.push(q)
        }
        if (queue.length === 0) this.queues.delete(key)
        if (batch.length > 0) this.propose(key, batch)
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

  private propose(key: string, batch: readonly Queued[]): void {
    const idx = this.freshIdx(key)
    this.seeIdx(key, idx)
    const msg: ProposeMsg = { type: 'propose', key, idx, cmds: batch.map((q) => q.cmd) }
    const now = this.ctx.now()
    this.proposals.set(key, {
      key,
      idx,
      batch,
      valueId: valueKey({ kind: 'cmds', cmds: msg.cmds }),
      sentAtMs: now,
      retransmitted: false,
      dueAtMs: now + this.cfg.retransmitMs,
    })
    this.watch(key, idx)
    for (const peer of this.peers) this.ctx.send(peer, msg)
    this.onPropose(this.ctx.self, msg)
  }

  /**
   * The instance of a proposal was decided. Its commands in the decided value are done (fast path when
   * decided by a fast quorum in the first instance they were proposed in); the others go back to the
   * head of the key's queue, ahead of later arrivals, and proposeQueued sends them to the next idx.
   */
  private finishProposal(p: Proposal, value: FpValue, viaFastQuorum: boolean): void {
    this.proposals.delete(p.key)
    const decided = new Set(value.kind === 'cmds' ? value.cmds.map((c) => commandIdKey(c.id)) : [])
    const left: Queued[] = []
    for (const q of p.batch) {
      const id = commandIdKey(q.cmd.id)
      if (decided.has(id))
        this.ctx.emit({ type: viaFastQuorum && q.attempts === 0 ? 'fast-path' : 'slow-path' })
      else if (this.pending.has(id)) left.push({ cmd: q.cmd, attempts: q.attempts + 1 })
    }
    if (left.length > 0) this.queues.set(p.key, [...left, ...(this.queues.get(p.key) ?? [])])
  }

  // ---------------------------------------------------------------- acceptor

  private onPropose(from: NodeId, msg: ProposeMsg): void {
    if (this.answeredAsDecided(from, msg.key, msg.idx)) return
    // a batch is never empty and holds only the instance's key (proposeQueued): ignore anything else
    if (msg.cmds.length === 0 || msg.cmds.some((c) => c.key !== msg.key)) return
    const value: FpValue = { kind: 'cmds', cmds: msg.cmds }
    this.noteProposed(msg.key, msg.idx, value)
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

  private broadcastVote(key: string, idx: number, ballot: Ballot, value: FpValue): void {
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

  private onVote(from: NodeId, key: string, idx: number, ballot: Ballot, value: FpValue): void {
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
    if (!tally.votes.has(from)) this.timeRoundTrip(from, key, idx, ballot, value)
    tally.votes.set(from, value)
    const fast = isFastBallot(ballot)
    if (fast) this.noteProposed(key, idx, value)
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
    // the result in the second fast round; a collision there too is left to the failover timeout.
    // Each acceptor waits for every vote of the fast round, so that all apply the rule to the same
    // votes and pick the same union (with a replica down, the failover timeout takes over).
    if (!ballotEquals(tally.ballot, FAST0) || tally.votes.size < this.ctx.nodes.length) return
    const value = this.pick(key, idx, this.select(tally), false)
    if (this.state.vote(key, idx, FAST1, value) === 'voted') {
      this.ctx.emit({ type: 'recovery', detail: 'uncoordinated' })
      this.broadcastVote(key, idx, FAST1, value)
    }
  }

  private learn(key: string, idx: number, value: FpValue, viaFastQuorum: boolean): void {
    if (!this.state.decide(key, idx, value)) return
    this.noteDecided(key, value)
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
      for (const cmd of value.cmds) {
        const result = this.ctx.execute(cmd)
        if (!this.pending.delete(commandIdKey(cmd.id))) continue
        this.ctx.reply(cmd.id, { status: 'ok', value: result.value })
      }
      this.ctx.emit({ type: 'commit', commands: value.cmds.length })
    }
    this.executedPerKey.set(key, executed)
  }

  private readonly executedPerKey = new Map<string, number>()
  private executedOf(key: string): number {
    return this.executedPerKey.get(key) ?? 0
  }

  // ---------------------------------------------------------------- recovery (3.3, 3.4) and failover

  /**
   * Remembers the commands of a proposed value until a decision holding them is learned. Bounded: per
   * key at most what one union holds (the oldest is forgotten first: its proposer still re-proposes
   * it), and over all keys maxPendingCommands.
   */
  private noteProposed(key: string, idx: number, value: FpValue): void {
    if (value.kind !== 'cmds') return
    const perKeyMax = this.cfg.maxBatchCommands * this.ctx.nodes.length
    let seen = this.undecided.get(key)
    for (const cmd of value.cmds) {
      const id = commandIdKey(cmd.id)
      const known = seen?.get(id)
      if (known !== undefined) {
        known.idx = Math.max(known.idx, idx)
        continue
      }
      if (seen === undefined) {
        if (this.undecidedCount >= this.cfg.maxPendingCommands) return
        seen = new Map()
        this.undecided.set(key, seen)
      }
      if (seen.size >= perKeyMax || this.undecidedCount >= this.cfg.maxPendingCommands) {
        const oldest = seen.keys().next()
        if (oldest.done === true) return
        seen.delete(oldest.value)
        this.undecidedCount--
      }
      seen.set(id, { cmd, idx })
      this.undecidedCount++
    }
  }

  /**
   * Commands seen proposed on the key for instances up to idx and not seen decided: a batch that lost
   * an earlier instance (or was refused in this one). Those proposed for a later instance are left
   * there (they are in flight; adding them here would only decide them twice).
   */
  private carriedOver(key: string, idx: number): FpValue[] {
    const cmds: Command[] = []
    for (const seen of this.undecided.get(key)?.values() ?? []) if (seen.idx <= idx) cmds.push(seen.cmd)
    return cmds.length === 0 ? [] : [{ kind: 'cmds', cmds }]
  }

  private noteDecided(key: string, value: FpValue): void {
    const seen = this.undecided.get(key)
    if (seen === undefined || value.kind !== 'cmds') return
    for (const cmd of value.cmds) if (seen.delete(commandIdKey(cmd.id))) this.undecidedCount--
    if (seen.size === 0) this.undecided.delete(key)
  }

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
   * The value a recovery round proposes: the rule's forced value, else (free choice: nothing can have
   * been chosen, so any value is safe) the union of the candidates, most votes first, and with
   * carryOver the commands carriedOver from earlier instances; a no-op when there is nothing. The
   * test-only fault ignores the rule and proposes this replica's own batch for the key (or a no-op).
   */
  private pick(key: string, idx: number, selection: Selection, carryOver: boolean): FpValue {
    if (this.cfg.testFault === 'recovery-ignores-selection-rule') {
      const own = this.proposals.get(key)?.batch ?? this.queues.get(key)?.slice(0, 1) ?? []
      return own.length > 0 ? { kind: 'cmds', cmds: own.map((q) => q.cmd) } : NOOP
    }
    if (selection.kind === 'forced') return selection.value
    return unionOf(
      carryOver ? [...selection.candidates, ...this.carriedOver(key, idx)] : selection.candidates,
      this.cfg.maxBatchCommands * this.ctx.nodes.length,
    )
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
    const value = this.pick(key, idx, this.select(tally), true)
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

  private countPromise(rec: Recovery, from: NodeId, vote: FpVote | null): void {
    if (rec.promises.has(from)) return
    rec.promises.set(from, vote)
    if (rec.promises.size !== this.quorums.classicQuorum) return
    this.ctx.emit({ type: 'elected', epoch: rec.ballot.round })
    this.ctx.emit({ type: 'recovery', detail: 'failover' })
    rec.value = this.pick(rec.key, rec.idx, selectValue([...rec.promises.values()], this.quorums.e), true)
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
      return this.cfg.recoveryTimeoutMs + this.slowestRttMs()
    return this.failoverDelayMs()
  }

  private failoverDelayMs(): number {
    return this.cfg.failoverTimeoutMs * (1 + this.ctx.random()) + 2 * this.slowestRttMs()
  }

  /**
   * A peer's first fast vote for our own proposal's batch (not retransmitted) times the round trip to
   * it: the acceptor votes our batch only on receiving our propose. Smoothed as TCP's SRTT (RFC 6298,
   * gain 1/8). The watches add the slowest estimate to their timeouts, so an instance whose fast round
   * is merely slow (a WAN round trip above recoveryTimeoutMs) is not recovered by timeout.
   */
  private timeRoundTrip(from: NodeId, key: string, idx: number, ballot: Ballot, value: FpValue): void {
    if (from === this.ctx.self || !ballotEquals(ballot, FAST0)) return
    const p = this.proposals.get(key)
    if (p === undefined || p.idx !== idx || p.retransmitted || valueKey(value) !== p.valueId) return
    const sampleMs = Math.max(0, this.ctx.now() - p.sentAtMs)
    const prior = this.rttMsEstimates.get(from)
    this.rttMsEstimates.set(from, prior === undefined ? sampleMs : prior + (sampleMs - prior) / 8)
  }

  /** The highest smoothed round trip to any peer (0 before any sample). */
  private slowestRttMs(): number {
    let max = 0
    for (const rtt of this.rttMsEstimates.values()) max = Math.max(max, rtt)
    return max
  }

  private onMainTimeout(): void {
    const now = this.ctx.now()
    for (const p of [...this.proposals.values()]) {
      if (p.dueAtMs > now || this.proposals.get(p.key) !== p) continue
      p.dueAtMs = now + this.cfg.retransmitMs
      p.retransmitted = true
      const tally = this.tallies.get(instanceId(p.key, p.idx))
      const msg: ProposeMsg = { type: 'propose', key: p.key, idx: p.idx, cmds: p.batch.map((q) => q.cmd) }
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
      w.dueAtMs = now + this.failoverDelayMs()
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
