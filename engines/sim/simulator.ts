/**
 * The deterministic simulator (DESIGN.md, "Three runtimes, one engine").
 *
 * One seed drives everything: the topology, the fault profile and schedule, message delays and losses,
 * each node's clock skew and `random()`, and the clients' commands. A discrete-event loop pops events
 * in (time, insertion order) and hands each to one engine; after every event that engine's
 * `assertInvariants` runs. Time is integer microseconds of simulated time.
 *
 * A run has two phases. In the safety phase faults are on and clients issue commands. In the liveness
 * phase partitions heal, crashed nodes restart, drops and duplicates stop and clients issue nothing new:
 * every pending command must complete, and every replica must then hold the same per-key execution
 * order, within the liveness window.
 */
import { createHash, type Hash } from 'node:crypto'
import type { HistoryOp } from '../../harness/check/history.ts'
import { type Command, type CommandId, commandIdKey, type NodeId, type Outcome } from '../core/command.ts'
import type { Engine, EngineContext, EngineEvent, EngineMessage, EngineModule } from '../core/engine.ts'
import { KvStateMachine } from '../core/kv.ts'
import { Rng } from '../core/runtime/rng.ts'
import { copyPlain } from './copy.ts'
import { EventQueue } from './event-queue.ts'
import { type ExecutionOrder, ExecutionOrderLog } from './execution-order.ts'
import { describeProfile, type FaultProfile, resolveFaultProfile } from './faults.ts'
import { checkLinearizable } from './linearizability.ts'
import { SimStorage } from './storage.ts'
import { lanRttMatrix, validateRttMatrix } from './topology.ts'

export interface SimOptions {
  // biome-ignore lint/suspicious/noExplicitAny: the simulator runs any engine's messages and config
  readonly engine: EngineModule<any, any>
  /** raw config, validated by engine.parseConfig (undefined: the engine's defaults) */
  readonly engineConfig?: unknown
  /** replicas, named r0..r{n-1}; default 3 */
  readonly nodes?: number
  readonly seed: number
  /** sequential client sessions c0..c{n-1}, client i attached to node i mod nodes; default 8 (more load, more interleavings: finds more bugs per seed) */
  readonly clients?: number
  /** probability that a command targets the shared key pool instead of a client-private key; default 0.5 */
  readonly conflict?: number
  /** probability that a command is a get; default 0.5 */
  readonly readRatio?: number
  /** size of the shared key pool; default 2 */
  readonly sharedKeys?: number
  /** true (default): a fault profile derived from the seed; false: none; partial: derived, overridden */
  readonly faults?: boolean | Partial<FaultProfile>
  /**
   * Scripted faults on top of the profile: at `atMs` (safety phase), every link into `into` (a node id,
   * or whichever node then believes it leads) is blocked, one way, until the liveness phase heals every
   * partition. For tests of what an engine does under a given cut (check-quorum); default none.
   */
  readonly inboundCuts?: readonly InboundCut[]
  /** default 3000 */
  readonly safetyPhaseMs?: number
  /** default 10000 */
  readonly livenessPhaseMs?: number
  /** replica RTT matrix; default: LAN-like, 2-20 ms per pair, from the seed */
  readonly rttMs?: readonly (readonly number[])[]
  /** RTT between a client and any replica; default 1 */
  readonly clientRttMs?: number
  /** a client retries its command at the next replica after this long without a reply; default 200 */
  readonly clientTimeoutMs?: number
  /** bound on processed events; a run that needs more fails liveness; default 2,000,000 */
  readonly maxEvents?: number
  /**
   * After every pending command completed in the liveness phase, read back every written key once
   * (through the clients, spread over the replicas): every replica then executes a read after all the
   * writes it holds, so a replica that executed a write the others never will (a slot filled with
   * a no-op elsewhere) diverges in the execution-order check. Default true.
   */
  readonly finalReads?: boolean
  /** receives one line per handled event (the lines the trace hash covers), for debugging a seed */
  readonly trace?: (line: string) => void
  /** checks the history with the linearizability checker; default true */
  readonly checkLinearizability?: boolean
  /** the checker's time budget (wall clock); default 5000 */
  readonly checkTimeBudgetMs?: number
}

export interface InboundCut {
  readonly atMs: number
  /** a node id, or 'leader': the node whose status() says it leads at atMs (none leading: no cut) */
  readonly into: NodeId | 'leader'
}

export type LinearizabilityVerdict = 'linearizable' | 'violation' | 'unknown' | 'not-checked'

export interface SimResult {
  readonly seed: number
  readonly engine: string
  readonly nodes: readonly NodeId[]
  readonly history: HistoryOp[]
  /** per replica incarnation, per key, the command ids in the order executed */
  readonly executionOrders: ExecutionOrder[]
  /** sha256 over every delivered event: same seed, same code, same hash */
  readonly traceHash: string
  readonly safety: { readonly ok: boolean; readonly problems: string[] }
  readonly linearizability: { readonly verdict: LinearizabilityVerdict; readonly message?: string }
  /** evaluated: false when the run stopped early at a safety failure */
  readonly liveness: {
    readonly ok: boolean
    readonly evaluated: boolean
    readonly pending: number
    readonly problems: string[]
  }
  readonly stats: SimStats
  readonly faultProfile: FaultProfile
  /** the profile in words, then every injected fault with its time */
  readonly faultsApplied: string[]
}

export interface SimStats {
  readonly events: number
  readonly messagesSent: number
  readonly messagesDelivered: number
  readonly messagesDropped: number
  readonly messagesDuplicated: number
  readonly messagesByType: Record<string, number>
  readonly simulatedMs: number
  /** client commands answered ok */
  readonly committed: number
  readonly failed: number
  readonly unknown: number
  readonly retries: number
  readonly crashes: number
  readonly engineEvents: Record<string, number>
  readonly latencyMsP50?: number
  readonly latencyMsP99?: number
}

type SimEvent =
  | {
      readonly kind: 'message'
      readonly from: number
      readonly to: number
      /** the receiver's incarnation at send time: a message to a crashed incarnation is lost */
      readonly toIncarnation: number
      readonly msg: EngineMessage
    }
  | { readonly kind: 'timer'; readonly node: number; readonly name: string; readonly token: number }
  | {
      readonly kind: 'request'
      readonly node: number
      /** the replica's incarnation at send time: like a peer message, lost if that incarnation crashed */
      readonly toIncarnation: number
      readonly cmd: Command
    }
  | {
      readonly kind: 'reply'
      readonly client: number
      readonly node: number
      readonly id: CommandId
      readonly outcome: Outcome
    }
  /** the client issues its next command, if it has none outstanding */
  | { readonly kind: 'client-next'; readonly client: number }
  /** the client resends its outstanding command (seq), unless it was answered or resent since */
  | { readonly kind: 'client-retry'; readonly client: number; readonly seq: number; readonly attempt: number }
  | {
      readonly kind: 'client-timeout'
      readonly client: number
      readonly seq: number
      readonly attempt: number
    }
  | { readonly kind: 'fault' }
  | { readonly kind: 'restart'; readonly node: number }
  | { readonly kind: 'heal'; readonly partition: number }
  | { readonly kind: 'cut'; readonly into: NodeId | 'leader' }
  | { readonly kind: 'liveness' }

interface SimNode {
  readonly id: NodeId
  readonly index: number
  readonly storage: SimStorage
  readonly clockOffsetMs: number
  readonly clockDrift: number
  readonly rng: Rng
  up: boolean
  incarnation: number
  engine: Engine<EngineMessage> | null
  kv: KvStateMachine | null
  /** timer name -> token of the live timer; a fired timer whose token differs was replaced or cleared */
  readonly timers: Map<string, number>
}

/** A history entry the simulator fills in as the command progresses. */
type MutableHistoryOp = { -readonly [K in keyof HistoryOp]: HistoryOp[K] }

interface PendingCommand {
  readonly cmd: Command
  readonly op: MutableHistoryOp
  attempts: number
  readonly nodesTried: number[]
  /** the key this command reads back in the liveness phase (undefined: a workload command) */
  readonly finalReadKey?: string
}

interface SimClient {
  readonly name: string
  readonly index: number
  readonly origin: number
  readonly rng: Rng
  nextSeq: number
  pending: PendingCommand | null
  /** keys this client reads back at the end of the liveness phase */
  readonly finalReads: string[]
}

class SafetyStop extends Error {}

const US_PER_MS = 1000
const PRIVATE_KEYS_PER_CLIENT = 3

export function simulate(options: SimOptions): SimResult {
  return new Simulation(options).run()
}

class Simulation {
  private readonly module: EngineModule<EngineMessage, unknown>
  private readonly config: unknown
  private readonly seed: number
  private readonly nodeIds: NodeId[]
  private readonly nodes: SimNode[]
  private readonly clients: SimClient[]
  private readonly rttMs: readonly (readonly number[])[]
  private readonly profile: FaultProfile
  private readonly queue: EventQueue<SimEvent>
  private readonly log = new ExecutionOrderLog()
  private readonly history: MutableHistoryOp[] = []
  private readonly hash: Hash = createHash('sha256')
  private readonly netRng: Rng
  private readonly faultRng: Rng
  private readonly faultsApplied: string[] = []
  private readonly safetyProblems: string[] = []
  /** blocked[from][to]: how many active partitions block the directed link */
  private readonly blocked: number[][]
  private readonly partitions = new Map<number, Array<[number, number]>>()
  private readonly clientOneWayUs: number
  private readonly clientTimeoutUs: number
  private readonly safetyEndUs: number
  private readonly livenessEndUs: number
  private readonly conflict: number
  private readonly readRatio: number
  private readonly sharedKeys: number
  private readonly maxEvents: number
  private nowUs = 0
  private phase: 'safety' | 'liveness' = 'safety'
  private finalReadsStarted = false
  private finalReadsRejected = 0
  private dropRate: number
  private duplicateRate: number
  private nextTimerToken = 1
  private nextPartitionId = 1
  private stats = {
    events: 0,
    messagesSent: 0,
    messagesDelivered: 0,
    messagesDropped: 0,
    messagesDuplicated: 0,
    retries: 0,
    crashes: 0,
  }
  private readonly messagesByType: Record<string, number> = {}
  private readonly engineEvents: Record<string, number> = {}

  constructor(private readonly options: SimOptions) {
    const n = options.nodes ?? 3
    if (!Number.isInteger(n) || n < 1 || n > 64) throw new RangeError(`nodes must be 1..64, got ${n}`)
    const clientCount = options.clients ?? 8
    if (!Number.isInteger(clientCount) || clientCount < 0 || clientCount > 1000)
      throw new RangeError(`clients must be 0..1000, got ${clientCount}`)
    this.conflict = checkProbability('conflict', options.conflict ?? 0.5)
    this.readRatio = checkProbability('readRatio', options.readRatio ?? 0.5)
    this.sharedKeys = options.sharedKeys ?? 2
    if (!Number.isInteger(this.sharedKeys) || this.sharedKeys < 1)
      throw new RangeError(`sharedKeys must be a positive integer, got ${this.sharedKeys}`)
    this.seed = options.seed
    this.module = options.engine as EngineModule<EngineMessage, unknown>
    this.config = this.module.parseConfig(options.engineConfig)
    this.nodeIds = Object.freeze(Array.from({ length: n }, (_, i) => `r${i}`)) as NodeId[]
    if (options.rttMs !== undefined) validateRttMatrix(options.rttMs, n)
    this.rttMs = options.rttMs ?? lanRttMatrix(this.seed, n)
    this.profile = resolveFaultProfile(options.faults, this.seed, n)
    this.dropRate = this.profile.dropRate
    this.duplicateRate = this.profile.duplicateRate
    this.netRng = new Rng(this.seed, 'network')
    this.faultRng = new Rng(this.seed, 'faults')
    this.maxEvents = options.maxEvents ?? 2_000_000
    this.queue = new EventQueue(Math.max(100_000, this.maxEvents))
    this.blocked = Array.from({ length: n }, () => new Array<number>(n).fill(0))
    this.clientOneWayUs = Math.round(((options.clientRttMs ?? 1) * US_PER_MS) / 2)
    this.clientTimeoutUs = Math.round((options.clientTimeoutMs ?? 200) * US_PER_MS)
    this.safetyEndUs = Math.round((options.safetyPhaseMs ?? 3000) * US_PER_MS)
    this.livenessEndUs = this.safetyEndUs + Math.round((options.livenessPhaseMs ?? 10_000) * US_PER_MS)

    const clockRng = new Rng(this.seed, 'clocks')
    this.nodes = this.nodeIds.map((id, index) => {
      const skew = this.profile.clockSkew
      return {
        id,
        index,
        storage: new SimStorage(),
        clockOffsetMs: skew ? clockRng.between(0, this.profile.clockOffsetMsMax) : 0,
        clockDrift: skew ? clockRng.between(-this.profile.clockDriftMax, this.profile.clockDriftMax) : 0,
        rng: new Rng(this.seed, `node:${id}`),
        up: false,
        incarnation: 0,
        engine: null,
        kv: null,
        timers: new Map(),
      }
    })
    this.clients = Array.from({ length: clientCount }, (_, index) => ({
      name: `c${index}`,
      index,
      origin: index % n,
      rng: new Rng(this.seed, `client:c${index}`),
      nextSeq: 1,
      pending: null,
      finalReads: [],
    }))
    this.faultsApplied.push(...describeProfile(this.profile))
    if (this.profile.clockSkew) {
      for (const node of this.nodes) {
        this.faultsApplied.push(
          `clock ${node.id}: offset +${node.clockOffsetMs.toFixed(1)} ms, drift ${(node.clockDrift * 1e6).toFixed(0)} ppm`,
        )
      }
    }
  }

  run(): SimResult {
    let stoppedBy: 'quiescent' | 'time' | 'budget' | 'safety' | 'empty' = 'empty'
    try {
      for (const node of this.nodes) this.boot(node)
      for (const client of this.clients) {
        this.queue.push(Math.round(client.rng.between(0, 10 * US_PER_MS)), {
          kind: 'client-next',
          client: client.index,
        })
      }
      if (this.profile.crashes || this.profile.partitions || this.profile.oneWayPartitions) {
        this.queue.push(this.nextFaultDelayUs(), { kind: 'fault' })
      }
      for (const cut of this.options.inboundCuts ?? []) {
        const atUs = Math.round(cut.atMs * US_PER_MS)
        if (!(atUs >= 0 && atUs < this.safetyEndUs))
          throw new RangeError(`inboundCuts: atMs ${cut.atMs} is not within the safety phase`)
        if (cut.into !== 'leader' && !this.nodeIds.includes(cut.into))
          throw new RangeError(`inboundCuts: '${cut.into}' is not a node (use r0..r${this.nodes.length - 1})`)
        this.queue.push(atUs, { kind: 'cut', into: cut.into })
      }
      this.queue.push(this.safetyEndUs, { kind: 'liveness' })
      for (;;) {
        const next = this.queue.pop()
        if (next === undefined) {
          stoppedBy = 'empty'
          break
        }
        if (next.timeUs > this.livenessEndUs) {
          this.nowUs = this.livenessEndUs
          stoppedBy = 'time'
          break
        }
        if (this.stats.events >= this.maxEvents) {
          stoppedBy = 'budget'
          break
        }
        if (next.timeUs < this.nowUs) throw new Error(`time went backwards: ${next.timeUs} < ${this.nowUs}`)
        this.nowUs = next.timeUs
        this.dispatch(next.item)
        if (this.phase === 'liveness' && this.quiescent()) {
          stoppedBy = 'quiescent'
          break
        }
      }
    } catch (err: unknown) {
      if (!(err instanceof SafetyStop)) throw err
      stoppedBy = 'safety'
    }
    return this.finish(stoppedBy)
  }

  // ---- events -------------------------------------------------------------------------------------

  private dispatch(event: SimEvent): void {
    switch (event.kind) {
      case 'message': {
        const node = this.nodes[event.to]!
        if (!node.up || node.engine === null || node.incarnation !== event.toIncarnation) return
        // a partition that started while the message was in flight cuts it too
        if (this.blocked[event.from]![event.to]! > 0) {
          this.stats.messagesDropped++
          return
        }
        this.count(`${this.nowUs} ${node.id} msg ${this.nodeIds[event.from]} ${JSON.stringify(event.msg)}`)
        this.stats.messagesDelivered++
        this.callEngine(node, 'onMessage', (e) => e.onMessage(this.nodeIds[event.from]!, event.msg))
        return
      }
      case 'timer': {
        const node = this.nodes[event.node]!
        if (!node.up || node.engine === null || node.timers.get(event.name) !== event.token) return
        node.timers.delete(event.name)
        this.count(`${this.nowUs} ${node.id} timer ${event.name}`)
        this.callEngine(node, `onTimer(${event.name})`, (e) => e.onTimer(event.name))
        return
      }
      case 'request': {
        const node = this.nodes[event.node]!
        if (!node.up || node.engine === null || node.incarnation !== event.toIncarnation) return
        this.count(`${this.nowUs} ${node.id} request ${JSON.stringify(event.cmd)}`)
        this.callEngine(node, 'onRequest', (e) => e.onRequest(copyPlain(event.cmd)))
        return
      }
      case 'reply':
        this.count(`${this.nowUs} c${event.client} reply ${JSON.stringify(event)}`)
        this.onReply(event.client, event.id, event.outcome)
        return
      case 'client-next': {
        const client = this.clients[event.client]!
        if (client.pending !== null) return
        this.count(`${this.nowUs} c${event.client} next`)
        this.onClientNext(client)
        return
      }
      case 'client-retry': {
        const client = this.clients[event.client]!
        const pending = client.pending
        if (pending === null || pending.cmd.id.seq !== event.seq || pending.attempts !== event.attempt) return
        this.count(`${this.nowUs} c${event.client} retry ${event.seq}`)
        // round robin from the origin
        this.stats.retries++
        this.sendAttempt(client, (client.origin + pending.attempts) % this.nodes.length)
        return
      }
      case 'client-timeout': {
        const client = this.clients[event.client]!
        const pending = client.pending
        if (pending === null || pending.cmd.id.seq !== event.seq || pending.attempts !== event.attempt) return
        this.count(`${this.nowUs} c${event.client} timeout ${event.seq}`)
        // back off before retrying, so a cluster in the middle of an election is not flooded
        const backoffUs = Math.round(client.rng.between(10, 50) * US_PER_MS)
        this.queue.push(this.nowUs + backoffUs, { ...event, kind: 'client-retry' })
        return
      }
      case 'fault':
        this.count(`${this.nowUs} fault`)
        this.onFault()
        return
      case 'restart': {
        const node = this.nodes[event.node]!
        if (node.up) return
        this.count(`${this.nowUs} ${node.id} restart`)
        this.note(`restart ${node.id}`)
        this.boot(node)
        return
      }
      case 'heal':
        if (!this.partitions.has(event.partition)) return
        this.count(`${this.nowUs} heal ${event.partition}`)
        this.note(`heal partition #${event.partition}`)
        this.heal(event.partition)
        return
      case 'cut':
        this.count(`${this.nowUs} cut into ${event.into}`)
        this.cutInbound(event.into)
        return
      case 'liveness':
        this.count(`${this.nowUs} liveness`)
        this.startLiveness()
        return
    }
  }

  private count(line: string): void {
    this.options.trace?.(line)
    this.stats.events++
    this.hash.update(line)
    this.hash.update('\n')
  }

  private callEngine(node: SimNode, handler: string, call: (e: Engine<EngineMessage>) => void): void {
    const engine = node.engine!
    try {
      call(engine)
      engine.assertInvariants?.()
    } catch (err: unknown) {
      if (err instanceof SafetyStop) throw err
      const message = err instanceof Error ? err.message : String(err)
      this.safetyProblems.push(`${node.id} threw in ${handler} at ${fmtMs(this.nowUs)}: ${message}`)
      throw new SafetyStop()
    }
  }

  // ---- nodes --------------------------------------------------------------------------------------

  private boot(node: SimNode): void {
    node.incarnation++
    node.up = true
    node.kv = new KvStateMachine()
    node.timers.clear()
    this.log.beginIncarnation(node.id, node.incarnation)
    node.engine = this.module.create(this.contextFor(node, node.incarnation))
    this.count(`${this.nowUs} ${node.id} start ${node.incarnation}`)
    this.callEngine(node, 'start', (e) => e.start())
  }

  private crash(node: SimNode): void {
    node.up = false
    node.engine = null
    node.kv = null
    node.timers.clear()
    this.stats.crashes++
  }

  private contextFor(node: SimNode, incarnation: number): EngineContext<EngineMessage, unknown> {
    const live = (what: string): void => {
      if (!node.up || node.incarnation !== incarnation)
        throw new Error(`${node.id}: ${what} from a crashed incarnation ${incarnation}`)
    }
    return {
      self: node.id,
      nodes: this.nodeIds,
      // each replica gets its own copy: an engine that mutates its config cannot reach another's
      config: Object.freeze(copyPlain(this.config)),
      now: () => node.clockOffsetMs + (this.nowUs / US_PER_MS) * (1 + node.clockDrift),
      random: () => node.rng.next(),
      send: (to, msg) => {
        live('send')
        this.send(node, to, msg)
      },
      setTimer: (name, afterMs) => {
        live('setTimer')
        if (!Number.isFinite(afterMs))
          throw new RangeError(`setTimer(${name}, ${afterMs}): not a finite delay`)
        // afterMs is in the node's local (drifting) time
        const delayUs = Math.max(0, Math.ceil((afterMs * US_PER_MS) / (1 + node.clockDrift)))
        const token = this.nextTimerToken++
        node.timers.set(name, token)
        this.queue.push(this.nowUs + delayUs, { kind: 'timer', node: node.index, name, token })
      },
      clearTimer: (name) => {
        live('clearTimer')
        node.timers.delete(name)
      },
      storage: node.storage,
      execute: (cmd) => {
        live('execute')
        const outcome = node.kv!.apply(cmd)
        if (!outcome.duplicate) this.checkOrder(this.log.record(node.id, cmd))
        return outcome.result
      },
      snapshotState: () => {
        live('snapshotState')
        const snap = node.kv!.snapshot()
        this.checkOrder(this.log.snapshotTaken(node.id, snap))
        return snap
      },
      installState: (snapshot) => {
        live('installState')
        // what the engine passes is plain data it may keep: install a copy, as an encoded store would
        const snap = copyPlain(snapshot)
        node.kv!.install(snap)
        this.checkOrder(this.log.installed(node.id, snap))
      },
      reply: (id, outcome) => {
        live('reply')
        const client = this.clientIndex(id.client)
        if (this.netRng.chance(this.dropRate)) return
        this.queue.push(this.nowUs + this.clientOneWayUs, {
          kind: 'reply',
          client,
          node: node.index,
          id,
          outcome,
        })
      },
      emit: (event: EngineEvent) => {
        this.engineEvents[event.type] = (this.engineEvents[event.type] ?? 0) + 1
      },
    }
  }

  /** An execution-order problem stops the run as a safety violation. */
  private checkOrder(problem: string | null): void {
    if (problem === null) return
    this.safetyProblems.push(`${problem} (at ${fmtMs(this.nowUs)})`)
    throw new SafetyStop()
  }

  private clientIndex(name: string): number {
    const index = /^c(\d+)$/.exec(name) === null ? -1 : Number(name.slice(1))
    if (!(index >= 0 && index < this.clients.length)) throw new Error(`reply to unknown client '${name}'`)
    return index
  }

  // ---- network ------------------------------------------------------------------------------------

  private send(from: SimNode, to: NodeId, msg: EngineMessage): void {
    const toIndex = this.nodeIds.indexOf(to)
    if (toIndex < 0) throw new Error(`${from.id} sent ${msg.type} to unknown node '${to}'`)
    this.stats.messagesSent++
    const toIncarnation = this.nodes[toIndex]!.incarnation
    this.messagesByType[msg.type] = (this.messagesByType[msg.type] ?? 0) + 1
    // the runtime encodes messages: the receiver never shares an object with the sender
    const copy = copyPlain(msg)
    if (toIndex === from.index) {
      this.queue.push(this.nowUs, {
        kind: 'message',
        from: from.index,
        to: toIndex,
        toIncarnation,
        msg: copy,
      })
      return
    }
    if (this.blocked[from.index]![toIndex]! > 0 || this.netRng.chance(this.dropRate)) {
      this.stats.messagesDropped++
      return
    }
    this.queue.push(this.nowUs + this.linkDelayUs(from.index, toIndex), {
      kind: 'message',
      from: from.index,
      to: toIndex,
      toIncarnation,
      msg: copy,
    })
    if (this.netRng.chance(this.duplicateRate)) {
      this.stats.messagesDuplicated++
      this.queue.push(this.nowUs + this.linkDelayUs(from.index, toIndex), {
        kind: 'message',
        from: from.index,
        to: toIndex,
        toIncarnation,
        msg: copyPlain(msg),
      })
    }
  }

  private linkDelayUs(from: number, to: number): number {
    const oneWayMs = this.rttMs[from]![to]! / 2
    const jitterMs = this.profile.jitterMsMax > 0 ? this.netRng.between(0, this.profile.jitterMsMax) : 0
    return Math.max(1, Math.round((oneWayMs + jitterMs) * US_PER_MS))
  }

  // ---- clients ------------------------------------------------------------------------------------

  private onClientNext(client: SimClient): void {
    if (this.phase === 'safety' && this.nowUs < this.safetyEndUs) {
      client.pending = this.newCommand(client)
    } else {
      const key = client.finalReads.shift()
      if (key === undefined) return
      client.pending = this.newCommand(client, key)
    }
    this.sendAttempt(client, client.origin)
  }

  /** A workload command, or a get of finalReadKey. */
  private newCommand(client: SimClient, finalReadKey?: string): PendingCommand {
    const seq = client.nextSeq++
    const rng = client.rng
    const isRead = finalReadKey !== undefined || rng.chance(this.readRatio)
    const key =
      finalReadKey ??
      (rng.chance(this.conflict)
        ? `k${rng.int(this.sharedKeys)}`
        : `${client.name}-k${rng.int(PRIVATE_KEYS_PER_CLIENT)}`)
    const id = { client: client.name, seq }
    const value = `${client.name}:${seq}`
    const cmd: Command = isRead ? { id, op: 'get', key } : { id, op: 'put', key, value }
    const op: MutableHistoryOp = {
      client: client.name,
      seq,
      key,
      op: cmd.op,
      value: isRead ? null : value,
      invokeUs: this.nowUs,
      completeUs: null,
      outcome: 'unknown',
    }
    this.history.push(op)
    return { cmd, op, attempts: 0, nodesTried: [], ...(finalReadKey === undefined ? {} : { finalReadKey }) }
  }

  private sendAttempt(client: SimClient, node: number): void {
    const pending = client.pending!
    pending.attempts++
    if (!pending.nodesTried.includes(node)) pending.nodesTried.push(node)
    if (!this.netRng.chance(this.dropRate)) {
      this.queue.push(this.nowUs + this.clientOneWayUs, {
        kind: 'request',
        node,
        toIncarnation: this.nodes[node]!.incarnation,
        cmd: pending.cmd,
      })
    }
    this.queue.push(this.nowUs + this.clientTimeoutUs, {
      kind: 'client-timeout',
      client: client.index,
      seq: pending.cmd.id.seq,
      attempt: pending.attempts,
    })
  }

  private onReply(clientIndex: number, id: CommandId, outcome: Outcome): void {
    const client = this.clients[clientIndex]!
    const pending = client.pending
    if (pending === null || pending.cmd.id.seq !== id.seq) return // late or duplicate answer
    if (outcome.status === 'rejected') {
      // the engine promises the command was not and will never be executed, anywhere (command.ts);
      // if that is false, the checker sees the write take effect and reports a violation
      pending.op.outcome = 'fail'
    } else {
      pending.op.outcome = 'ok'
      if (pending.cmd.op === 'get') pending.op.value = outcome.value
    }
    pending.op.completeUs = this.nowUs
    client.pending = null
    if (outcome.status === 'rejected' && pending.finalReadKey !== undefined) {
      // A rejected read-back checks nothing: read the key again (a new command) after a back-off, so an
      // engine that keeps rejecting in a healed cluster fails liveness instead of skipping the check.
      this.finalReadsRejected++
      client.finalReads.unshift(pending.finalReadKey)
      const backoffUs = Math.round(client.rng.between(10, 50) * US_PER_MS)
      this.queue.push(this.nowUs + backoffUs, { kind: 'client-next', client: client.index })
      return
    }
    const thinkUs = Math.round(client.rng.between(0, 2) * US_PER_MS)
    this.queue.push(this.nowUs + thinkUs, { kind: 'client-next', client: client.index })
  }

  // ---- faults -------------------------------------------------------------------------------------

  private nextFaultDelayUs(): number {
    return Math.max(1, Math.round(this.faultRng.exponential(this.profile.faultIntervalMsMean) * US_PER_MS))
  }

  private onFault(): void {
    if (this.phase !== 'safety') return
    const kinds: Array<'crash' | 'partition' | 'one-way'> = []
    const down = this.nodes.filter((n) => !n.up).length
    if (this.profile.crashes && down < this.profile.maxCrashed) kinds.push('crash')
    if (this.profile.partitions && this.nodes.length > 1) kinds.push('partition')
    if (this.profile.oneWayPartitions && this.nodes.length > 1) kinds.push('one-way')
    if (kinds.length > 0) {
      const rng = this.faultRng
      const durationUs = Math.round(rng.between(20, this.profile.faultDurationMsMax) * US_PER_MS)
      const kind = rng.pick(kinds)
      if (kind === 'crash') {
        // half the crashes hit a replica that believes it leads: takeover is where protocols break
        const leaders = this.believedLeaders()
        const targetLeader = leaders.length > 0 && rng.chance(0.5)
        const node = rng.pick(targetLeader ? leaders : this.nodes.filter((n) => n.up))
        this.crash(node)
        this.note(`crash ${node.id}${targetLeader ? ' (a leader)' : ''} for ${fmtMs(durationUs)}`)
        this.queue.push(this.nowUs + durationUs, { kind: 'restart', node: node.index })
      } else {
        const links = kind === 'partition' ? this.symmetricCut(rng) : this.oneWayCut(rng)
        const id = this.nextPartitionId++
        this.partitions.set(id, links)
        for (const [a, b] of links) this.blocked[a]![b]!++
        const shown = links.map(([a, b]) => `${this.nodeIds[a]}->${this.nodeIds[b]}`).join(' ')
        this.note(
          `${kind === 'partition' ? 'partition' : 'one-way partition'} #${id} for ${fmtMs(durationUs)}: ${shown}`,
        )
        this.queue.push(this.nowUs + durationUs, { kind: 'heal', partition: id })
      }
    }
    this.queue.push(this.nowUs + this.nextFaultDelayUs(), { kind: 'fault' })
  }

  /** a random non-empty proper subset cut off from the rest, both ways */
  private symmetricCut(rng: Rng): Array<[number, number]> {
    const n = this.nodes.length
    let side: boolean[]
    const leaders = this.believedLeaders()
    if (leaders.length > 0 && rng.chance(0.5)) {
      // isolate a leader from everyone else (a minority leader keeps believing it leads)
      const leader = rng.pick(leaders).index
      side = this.nodes.map((node) => node.index === leader)
    } else {
      do side = this.nodes.map(() => rng.chance(0.5))
      while (side.every((s) => s) || side.every((s) => !s))
    }
    const links: Array<[number, number]> = []
    for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) if (side[a] !== side[b]) links.push([a, b])
    return links
  }

  /** up replicas whose status() says they lead (engines without leaders: none) */
  private believedLeaders(): SimNode[] {
    return this.nodes.filter((node) => {
      if (!node.up || node.engine === null) return false
      try {
        return node.engine.status().role === 'leader'
      } catch (err: unknown) {
        this.safetyProblems.push(
          `${node.id} threw in status(): ${err instanceof Error ? err.message : String(err)}`,
        )
        throw new SafetyStop()
      }
    })
  }

  /** a random non-empty set of directed links */
  private oneWayCut(rng: Rng): Array<[number, number]> {
    const n = this.nodes.length
    const all: Array<[number, number]> = []
    for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) if (a !== b) all.push([a, b])
    const links = all.filter(() => rng.chance(0.3))
    return links.length > 0 ? links : [rng.pick(all)]
  }

  /** a scripted one-way cut of every link into a node, kept until the liveness phase */
  private cutInbound(into: NodeId | 'leader'): void {
    const target = into === 'leader' ? this.believedLeaders()[0] : this.nodes[this.nodeIds.indexOf(into)]
    if (target === undefined) {
      this.note(`inbound cut into ${into}: nobody leads, no cut`)
      return
    }
    const links: Array<[number, number]> = []
    for (const node of this.nodes) if (node !== target) links.push([node.index, target.index])
    const id = this.nextPartitionId++
    this.partitions.set(id, links)
    for (const [a, b] of links) this.blocked[a]![b]!++
    this.note(`inbound cut #${id} into ${target.id} until the liveness phase`)
  }

  private heal(partition: number): void {
    for (const [a, b] of this.partitions.get(partition) ?? []) this.blocked[a]![b]!--
    this.partitions.delete(partition)
  }

  private startLiveness(): void {
    this.phase = 'liveness'
    this.note('liveness phase: heal partitions, restart crashed nodes, stop drops and duplicates')
    for (const id of [...this.partitions.keys()]) this.heal(id)
    this.dropRate = 0
    this.duplicateRate = 0
    for (const node of this.nodes) {
      if (!node.up) {
        this.note(`restart ${node.id}`)
        this.boot(node)
      }
    }
  }

  private note(what: string): void {
    this.faultsApplied.push(`${fmtMs(this.nowUs)} ${what}`)
  }

  // ---- end ----------------------------------------------------------------------------------------

  private quiescent(): boolean {
    if (!this.clients.every((c) => c.pending === null && c.finalReads.length === 0)) return false
    if (!this.finalReadsStarted && (this.options.finalReads ?? true) && this.clients.length > 0) {
      this.startFinalReads()
      return false
    }
    return this.log.converged(this.nodeIds)
  }

  private startFinalReads(): void {
    this.finalReadsStarted = true
    const written = [...new Set(this.history.filter((op) => op.op === 'put').map((op) => op.key))].sort()
    this.note(`every command answered: reading back ${written.length} written keys`)
    // a private key is read back by its own client (private keys stay private); shared ones round robin
    let next = 0
    for (const key of written) {
      const owner = /^(c\d+)-/.exec(key)?.[1]
      const client =
        owner === undefined
          ? this.clients[next++ % this.clients.length]!
          : this.clients[this.clientIndex(owner)]!
      client.finalReads.push(key)
    }
    for (const client of this.clients) {
      if (client.finalReads.length > 0)
        this.queue.push(this.nowUs, { kind: 'client-next', client: client.index })
    }
  }

  private finish(stoppedBy: 'quiescent' | 'time' | 'budget' | 'safety' | 'empty'): SimResult {
    const history: HistoryOp[] = this.history.map((op) => ({ ...op }))
    const pendingClients = this.clients.filter((c) => c.pending !== null)
    const livenessProblems: string[] = []
    const evaluated = stoppedBy !== 'safety'
    if (!evaluated) {
      livenessProblems.push('not evaluated: the run stopped at a safety failure')
    } else if (stoppedBy !== 'quiescent') {
      if (stoppedBy === 'budget')
        livenessProblems.push(`event budget exhausted: ${this.maxEvents} events by ${fmtMs(this.nowUs)}`)
      if (pendingClients.length > 0) {
        const shown = pendingClients.slice(0, 5).map((c) => {
          const p = c.pending!
          const tried = p.nodesTried.map((i) => this.nodeIds[i]).join(',')
          return `${commandIdKey(p.cmd.id)} (${p.cmd.op} ${p.cmd.key}, invoked at ${fmtMs(p.op.invokeUs)}, tried ${tried})`
        })
        livenessProblems.push(
          `${pendingClients.length} command(s) still pending when the run ended at ${fmtMs(this.nowUs)}: ${shown.join('; ')}`,
        )
      }
      const unread = this.clients.reduce((sum, c) => sum + c.finalReads.length, 0)
      if (unread > 0 || this.finalReadsRejected > 0)
        livenessProblems.push(
          `read-back incomplete: ${unread} key(s) left to read, ${this.finalReadsRejected} read-back(s) rejected`,
        )
      const down = this.nodes.filter((n) => !n.up)
      if (down.length > 0) livenessProblems.push(`nodes down at the end: ${down.map((n) => n.id).join(', ')}`)
      const lagging = this.log.lagging(this.nodeIds)
      if (lagging.length > 0) livenessProblems.push(`replicas did not converge: ${lagging.join('; ')}`)
      const lost = this.log.heldByNone(this.nodeIds)
      if (lost.length > 0) {
        livenessProblems.push(
          `${lost.length} command(s) executed by a crashed incarnation are held by no replica now: ` +
            `${lost.slice(0, 5).join(', ')} (executed before they were agreed, or lost)`,
        )
      }
      if (livenessProblems.length === 0)
        livenessProblems.push(`the run ended (${stoppedBy}) before quiescence`)
    }

    let linearizability: SimResult['linearizability'] = { verdict: 'not-checked' }
    if (this.options.checkLinearizability ?? true) {
      linearizability = checkLinearizable(history, this.options.checkTimeBudgetMs ?? 5000)
      if (linearizability.verdict === 'violation')
        this.safetyProblems.push(`linearizability violation: ${linearizability.message ?? ''}`)
    }

    const latenciesMs = history
      .filter((op) => op.outcome === 'ok' && op.completeUs !== null)
      .map((op) => (op.completeUs! - op.invokeUs) / US_PER_MS)
      .sort((a, b) => a - b)
    const stats: SimStats = {
      ...this.stats,
      messagesByType: this.messagesByType,
      simulatedMs: this.nowUs / US_PER_MS,
      committed: history.filter((op) => op.outcome === 'ok').length,
      failed: history.filter((op) => op.outcome === 'fail').length,
      unknown: history.filter((op) => op.outcome === 'unknown').length,
      engineEvents: this.engineEvents,
      ...(latenciesMs.length > 0
        ? { latencyMsP50: quantile(latenciesMs, 0.5), latencyMsP99: quantile(latenciesMs, 0.99) }
        : {}),
    }
    return {
      seed: this.seed,
      engine: this.module.name,
      nodes: this.nodeIds,
      history,
      executionOrders: this.log.snapshot(),
      traceHash: this.hash.digest('hex'),
      safety: { ok: this.safetyProblems.length === 0, problems: this.safetyProblems },
      linearizability,
      liveness: {
        ok: evaluated && livenessProblems.length === 0,
        evaluated,
        pending: pendingClients.length,
        problems: livenessProblems,
      },
      stats,
      faultProfile: this.profile,
      faultsApplied: this.faultsApplied,
    }
  }
}

function checkProbability(name: string, p: number): number {
  if (!(p >= 0 && p <= 1)) throw new RangeError(`${name} must be in [0, 1], got ${p}`)
  return p
}

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
}

function fmtMs(us: number): string {
  return `${(us / US_PER_MS).toFixed(3)}ms`
}
