/**
 * The manual network: N replicas of one engine, each behind its own EngineContext, where nothing happens
 * unless a scenario command says so. Sent messages wait in one FIFO queue until delivered or dropped;
 * each node has its own clock, advanced only by `tick`, and its timers fire only when its clock passes
 * them. Durable storage (SimStorage) survives a crash; the KV state machine and the engine do not.
 *
 * Everything observable is written to an output transcript, one line per effect, indented under its
 * cause (a delivery, a timer, a request): sends, drops, executions, replies, engine events.
 */
import type { Command, CommandId, NodeId, Outcome } from '../../core/command.ts'
import type {
  Engine,
  EngineContext,
  EngineEvent,
  EngineMessage,
  EngineModule,
  EngineStatus,
} from '../../core/engine.ts'
import { KvStateMachine } from '../../core/kv.ts'
import { Rng } from '../../core/runtime/rng.ts'
import { copyPlain } from '../copy.ts'
import { SimStorage } from '../storage.ts'
import { formatCommand, formatCommandId, formatMessage, formatOutcome, formatValue } from './format.ts'

// biome-ignore lint/suspicious/noExplicitAny: a cluster runs any engine
type AnyEngineModule = EngineModule<any, any>

export interface QueuedMessage {
  readonly from: NodeId
  readonly to: NodeId
  readonly msg: EngineMessage
}

export interface MessageFilter {
  readonly from?: NodeId
  readonly to?: NodeId
  readonly type?: string
}

export interface ExecutedEntry {
  readonly cmd: Command
  readonly value: string | null
  readonly duplicate: boolean
}

export interface RecordedReply {
  readonly node: NodeId
  readonly id: CommandId
  readonly outcome: Outcome
}

interface Timer {
  readonly at: number
  readonly seq: number
}

class ManualNode {
  readonly storage = new SimStorage()
  kv = new KvStateMachine()
  engine: Engine<EngineMessage> | null = null
  /** start() was called on this incarnation's engine: only then are its invariants meaningful */
  started = false
  incarnation = 0
  nowMs = 0
  readonly timers = new Map<string, Timer>()
  executed: ExecutedEntry[] = []
  constructor(
    readonly id: NodeId,
    readonly rng: Rng,
  ) {}
}

/** An engine handler threw, or an invariant failed: a bug, reported with the node and the handler. */
export class EngineFailure extends Error {
  constructor(message: string, options?: { cause: unknown }) {
    super(message, options)
    this.name = 'EngineFailure'
  }
}

/** A bound of the runtime was reached (stabilize max, timers per tick): a message or timer loop. */
export class LimitReached extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'LimitReached'
  }
}

/** bound on deliveries by one `stabilize`: a protocol that never goes quiet fails instead of hanging */
export const DEFAULT_STABILIZE_MAX = 10_000
/** bound on timers fired by one `tick` */
const MAX_TIMERS_PER_TICK = 100_000

export class ManualCluster {
  readonly ids: readonly NodeId[]
  private readonly nodes: ReadonlyMap<NodeId, ManualNode>
  private queue: QueuedMessage[] = []
  readonly replies: RecordedReply[] = []
  /** node -> partition group; null when the network is whole */
  private groups: Map<NodeId, number> | null = null
  private timerSeq = 0
  private out: string[] = []
  private depth = 0

  constructor(
    private readonly module: AnyEngineModule,
    n: number,
    private readonly config: unknown,
    seed: number,
  ) {
    if (!Number.isInteger(n) || n < 1 || n > 99) throw new RangeError(`nodes must be in 1..99, got ${n}`)
    this.ids = Array.from({ length: n }, (_, i) => `r${i}`)
    const rng = new Rng(seed, 'interaction')
    this.nodes = new Map(this.ids.map((id) => [id, new ManualNode(id, rng.fork(id))]))
  }

  /** The transcript written since the last call. */
  takeOutput(): string[] {
    const out = this.out
    this.out = []
    return out
  }

  node(id: NodeId): ManualNode {
    const node = this.nodes.get(id)
    if (node === undefined) throw new RangeError(`no node '${id}'; nodes are ${this.ids.join(', ')}`)
    return node
  }

  isUp(id: NodeId): boolean {
    return this.node(id).engine !== null
  }

  queued(filter: MessageFilter = {}): QueuedMessage[] {
    return this.queue.filter((m) => matches(m, filter))
  }

  // ---- lifecycle ----------------------------------------------------------------------------------

  /** Boots (or reboots) a node on its kept storage: fresh KV, fresh engine, start(). */
  boot(id: NodeId): void {
    this.create(this.node(id))
    this.start(this.node(id))
  }

  /** First boot of every node: all engines exist before any starts, so no start-up message is lost. */
  bootAll(): void {
    for (const id of this.ids) this.create(this.node(id))
    for (const id of this.ids) this.start(this.node(id))
  }

  private start(node: ManualNode): void {
    node.started = true
    this.call(node, 'start', (e) => e.start())
  }

  private create(node: ManualNode): void {
    if (node.engine !== null) throw new RangeError(`${node.id} is running; crash it first`)
    node.incarnation++
    node.started = false
    node.kv = new KvStateMachine()
    node.executed = []
    node.timers.clear()
    node.engine = this.module.create(this.contextFor(node, node.incarnation))
  }

  /** Volatile state gone (engine, KV, timers), storage kept, messages queued to the node dropped. */
  crash(id: NodeId): void {
    const node = this.node(id)
    if (node.engine === null) throw new RangeError(`${id} is already down`)
    node.engine = null
    node.timers.clear()
    const lost = this.queue.filter((m) => m.to === id)
    this.queue = this.queue.filter((m) => m.to !== id)
    for (const m of lost) this.line(`dropped ${describe(m)} (${id} crashed)`)
  }

  // ---- inputs -------------------------------------------------------------------------------------

  request(id: NodeId, cmd: Command): void {
    const node = this.live(id)
    this.call(node, 'onRequest', (e) => e.onRequest(copyPlain(cmd)))
  }

  /** Delivers the queued messages that match, in queue order, at most `count`; returns how many. */
  deliver(filter: MessageFilter, count = Number.POSITIVE_INFINITY): number {
    let delivered = 0
    // messages sent while delivering wait for a later command (a snapshot of what is queued now)
    const batch = this.queue.filter((m) => matches(m, filter)).slice(0, count)
    for (const m of batch) {
      const index = this.queue.indexOf(m)
      if (index < 0) continue // dropped meanwhile (its receiver crashed)
      this.queue.splice(index, 1)
      this.deliverOne(m)
      delivered++
    }
    return delivered
  }

  /** Delivers until nothing is queued; throws after maxDeliveries. Returns the number delivered. */
  stabilize(maxDeliveries = DEFAULT_STABILIZE_MAX): number {
    let delivered = 0
    while (this.queue.length > 0) {
      if (delivered >= maxDeliveries)
        throw new LimitReached(
          `stabilize: still ${this.queue.length} messages queued after ${maxDeliveries} deliveries`,
        )
      this.deliverOne(this.queue.shift()!)
      delivered++
    }
    return delivered
  }

  drop(filter: MessageFilter): number {
    const dropped = this.queue.filter((m) => matches(m, filter))
    this.queue = this.queue.filter((m) => !matches(m, filter))
    for (const m of dropped) this.line(`dropped ${describe(m)}`)
    return dropped.length
  }

  /**
   * Advances the clocks of `ids` by ms each, firing due timers in time order (ties: node order, then
   * the order they were set). A crashed node's clock advances too (time passes while it is down).
   */
  tick(ids: readonly NodeId[], ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`tick: ms must be >= 0, got ${ms}`)
    const targets = new Map(ids.map((id) => [id, this.node(id).nowMs + ms]))
    for (let fired = 0; ; fired++) {
      if (fired > MAX_TIMERS_PER_TICK)
        throw new LimitReached(`tick: more than ${MAX_TIMERS_PER_TICK} timers fired; a timer loop?`)
      const next = this.nextDueTimer(targets)
      if (next === null) break
      const { node, name, timer } = next
      node.nowMs = Math.max(node.nowMs, timer.at)
      node.timers.delete(name)
      this.cause(`${node.id} timer ${name}`, () => this.call(node, 'onTimer', (e) => e.onTimer(name)))
    }
    for (const [id, target] of targets) this.node(id).nowMs = target
  }

  partition(groups: readonly (readonly NodeId[])[]): void {
    const map = new Map<NodeId, number>()
    groups.forEach((group, g) => {
      for (const id of group) {
        this.node(id)
        if (map.has(id)) throw new RangeError(`${id} is in two partition groups`)
        map.set(id, g)
      }
    })
    const missing = this.ids.filter((id) => !map.has(id))
    if (missing.length > 0) throw new RangeError(`partition leaves out ${missing.join(', ')}`)
    this.groups = map
  }

  heal(): void {
    this.groups = null
  }

  status(id: NodeId): EngineStatus | null {
    const node = this.node(id)
    return node.engine === null ? null : node.engine.status()
  }

  executed(id: NodeId): readonly ExecutedEntry[] {
    return this.node(id).executed
  }

  timers(id: NodeId): Array<{ name: string; inMs: number }> {
    const node = this.node(id)
    return [...node.timers.entries()]
      .sort((a, b) => a[1].at - b[1].at || a[1].seq - b[1].seq)
      .map(([name, t]) => ({ name, inMs: t.at - node.nowMs }))
  }

  nowMs(id: NodeId): number {
    return this.node(id).nowMs
  }

  // ---- internals ----------------------------------------------------------------------------------

  private live(id: NodeId): ManualNode {
    const node = this.node(id)
    if (node.engine === null) throw new RangeError(`${id} is down; restart it first`)
    return node
  }

  private nextDueTimer(
    targets: ReadonlyMap<NodeId, number>,
  ): { node: ManualNode; name: string; timer: Timer } | null {
    let best: { node: ManualNode; name: string; timer: Timer; order: number } | null = null
    for (const [id, target] of targets) {
      const node = this.node(id)
      const order = this.ids.indexOf(id)
      for (const [name, timer] of node.timers) {
        if (timer.at > target) continue
        if (
          best === null ||
          timer.at < best.timer.at ||
          (timer.at === best.timer.at &&
            (order < best.order || (order === best.order && timer.seq < best.timer.seq)))
        )
          best = { node, name, timer, order }
      }
    }
    return best
  }

  private deliverOne(m: QueuedMessage): void {
    const node = this.node(m.to)
    this.cause(describe(m), () => {
      if (node.engine === null) {
        this.line(`dropped (${m.to} is down)`)
        return
      }
      this.call(node, 'onMessage', (e) => e.onMessage(m.from, copyPlain(m.msg)))
    })
  }

  private call(node: ManualNode, handler: string, body: (engine: Engine<EngineMessage>) => void): void {
    const engine = node.engine!
    try {
      body(engine)
    } catch (err) {
      if (err instanceof EngineFailure) throw err
      throw new EngineFailure(`${node.id} threw in ${handler}: ${errorMessage(err)}`, { cause: err })
    }
    // invariants after every event, at every running node (an event at one node must not break another)
    for (const other of this.nodes.values()) {
      try {
        if (other.started) other.engine?.assertInvariants?.()
      } catch (err) {
        throw new EngineFailure(
          `${other.id} invariant failed after ${node.id} ${handler}: ${errorMessage(err)}`,
          {
            cause: err,
          },
        )
      }
    }
  }

  private cause(line: string, body: () => void): void {
    this.line(line)
    this.depth++
    try {
      body()
    } finally {
      this.depth--
    }
  }

  private line(text: string): void {
    this.out.push(`${'  '.repeat(this.depth)}${text}`)
  }

  private send(from: ManualNode, to: NodeId, msg: EngineMessage): void {
    if (!this.nodes.has(to)) throw new Error(`${from.id} sent ${msg.type} to unknown node '${to}'`)
    // the runtime encodes messages: the receiver never shares an object with the sender
    const queued: QueuedMessage = { from: from.id, to, msg: copyPlain(msg) }
    if (this.groups !== null && this.groups.get(from.id) !== this.groups.get(to)) {
      this.line(`${describe(queued)} (dropped: partition)`)
      return
    }
    if (this.node(to).engine === null) {
      this.line(`${describe(queued)} (dropped: ${to} is down)`)
      return
    }
    this.line(describe(queued))
    this.queue.push(queued)
  }

  private contextFor(node: ManualNode, incarnation: number): EngineContext<EngineMessage, unknown> {
    const live = (what: string): void => {
      if (node.engine === null || node.incarnation !== incarnation)
        throw new Error(`${node.id}: ${what} from a crashed incarnation ${incarnation}`)
    }
    return {
      self: node.id,
      nodes: this.ids,
      config: Object.freeze(copyPlain(this.config)),
      now: () => node.nowMs,
      random: () => node.rng.next(),
      send: (to, msg) => {
        live('send')
        this.send(node, to, msg)
      },
      setTimer: (name, afterMs) => {
        live('setTimer')
        if (!Number.isFinite(afterMs) || afterMs < 0)
          throw new RangeError(`setTimer(${name}, ${afterMs}): not a finite delay >= 0`)
        node.timers.set(name, { at: node.nowMs + afterMs, seq: this.timerSeq++ })
      },
      clearTimer: (name) => {
        live('clearTimer')
        node.timers.delete(name)
      },
      storage: node.storage,
      execute: (cmd) => {
        live('execute')
        const { result, duplicate } = node.kv.apply(cmd)
        node.executed.push({ cmd: copyPlain(cmd), value: result.value, duplicate })
        this.line(`${node.id} ${formatExecuted({ cmd, value: result.value, duplicate })}`)
        return result
      },
      snapshotState: () => {
        live('snapshotState')
        return node.kv.snapshot()
      },
      installState: (snapshot) => {
        live('installState')
        const snap = copyPlain(snapshot)
        node.kv.install(snap)
        const data = snap.data.map(([k, v]) => `${k}=${formatValue(v)}`).join(' ')
        this.line(`${node.id} install-state applied=${snap.applied} ${data === '' ? '(no data)' : data}`)
      },
      reply: (id, outcome) => {
        live('reply')
        this.replies.push({ node: node.id, id: copyPlain(id), outcome: copyPlain(outcome) })
        this.line(`${node.id} reply ${formatCommandId(id)} ${formatOutcome(outcome)}`)
      },
      emit: (event: EngineEvent) => {
        // commits are visible as `exec` lines; the other events are rare and worth a line
        if (event.type !== 'commit') this.line(`${node.id} event ${formatEvent(event)}`)
      },
    }
  }
}

function matches(m: QueuedMessage, filter: MessageFilter): boolean {
  return (
    (filter.from === undefined || m.from === filter.from) &&
    (filter.to === undefined || m.to === filter.to) &&
    (filter.type === undefined || m.msg.type === filter.type)
  )
}

export function describe(m: QueuedMessage): string {
  return `${m.from}->${m.to} ${formatMessage(m.msg)}`
}

export function formatExecuted(e: ExecutedEntry): string {
  const read = e.cmd.op === 'get' ? ` = ${formatValue(e.value)}` : ''
  return `exec ${formatCommand(e.cmd)}${read}${e.duplicate ? ' (duplicate)' : ''}`
}

function formatEvent(event: EngineEvent): string {
  const { type, ...rest } = event
  return [type, ...Object.entries(rest).map(([k, v]) => `${k}=${formatValue(v)}`)].join(' ')
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
