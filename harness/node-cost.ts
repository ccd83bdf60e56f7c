/**
 * Per-node cost of a cell: every replica's GET /metrics is scraped when the measured window opens and
 * when it closes; from the deltas come messages, bytes, CPU microseconds and fsyncs per command for
 * each replica, the bottleneck replica, and the engine's fast/slow path counts.
 *
 * The denominator ("per op") is the cluster's work in the window as the clients saw it: the load
 * commands that completed with outcome ok between the two scrapes (reads and writes alike; reads go
 * through the protocol). It is the same number for every replica, so per-node figures compare
 * directly, and it does not depend on whether an engine emits commit events.
 *
 * Messages are network messages: sent plus received, minus messages a replica sends to itself (the
 * host counts those in `messages.self`; they never touch a socket).
 *
 * CPU per op is raw process CPU in the window divided by ops: it includes what a replica burns with no
 * load at all (heartbeats, timers, the runtime). When the run measured each replica's idle CPU before
 * the load (`idleBaselineMs`), `cpuUsPerOpAboveIdle` also gives the CPU per op beyond that baseline.
 */
import type { NodeId } from '../engines/core/command.ts'
import type { HistoryOp } from './check/history.ts'
import type { ReplicaHandle } from './launchers/types.ts'

/** One replica's cost per committed command in the window. */
export interface NodeCost {
  /** network messages sent + received per op */
  readonly msgsPerOp: number
  readonly msgsSentPerOp: number
  readonly msgsReceivedPerOp: number
  /** frame bytes sent + received per op */
  readonly bytesPerOp: number
  /** process CPU time (user + system) per op, microseconds */
  readonly cpuUsPerOp: number
  /** CPU this replica used with no load, microseconds per second; null when not measured */
  readonly idleCpuUsPerSec: number | null
  /** (CPU in the window - idle CPU over the window's length) per op, at least 0; null when idle was not measured */
  readonly cpuUsPerOpAboveIdle: number | null
  readonly fsyncsPerOp: number
  /** client commands this replica received over HTTP in the window (where the clients sent them) */
  readonly requests: number
}

export interface NodeCostResult {
  /** committed commands in the window: the denominator of every per-op figure */
  readonly ops: number
  /** the window between the two scrapes, on the cell clock */
  readonly windowStartUs: number
  readonly windowEndUs: number
  readonly nodes: Readonly<Record<NodeId, NodeCost>>
  /** replicas without two comparable scrapes (down, restarted, or no /metrics): not in `nodes` */
  readonly missing: readonly NodeId[]
  /** how long idle CPU was measured before the load; null when it was not */
  readonly idleWindowMs: number | null
  readonly bottleneckNode: NodeId | null
  /** what decided the bottleneck: CPU per op, or messages per op when CPU does not separate the top two;
   * null (and no bottleneckNode) when no command committed or a replica is missing */
  readonly bottleneckBy: 'cpu' | 'messages' | null
  /** fast/slow path events summed over replicas; null when no replica emitted either */
  readonly fastPath: number | null
  readonly slowPath: number | null
}

/** The part of /metrics this module reads (engines/host/metrics.ts MetricsSnapshot). */
interface Scrape {
  readonly uptimeMs: number
  readonly cpuUs: { readonly total: number }
  readonly messages: {
    readonly sent: Readonly<Record<string, { count: number; bytes: number }>>
    readonly received: Readonly<Record<string, { count: number; bytes: number }>>
    readonly self?: Readonly<Record<string, number>>
  }
  readonly events: Readonly<Record<string, number>>
  readonly requests: { readonly received: number }
  readonly storage: { readonly fsyncs: number }
}

/** A scrape of every replica at one moment: null for a replica that did not answer with usable metrics. */
export interface ScrapeRound {
  readonly atUs: number
  readonly replicas: ReadonlyMap<NodeId, Scrape | null>
}

/**
 * CPU per op separates the bottleneck only when the top replica leads the next by more than this
 * fraction; below it, process CPU on a shared machine is within noise and messages per op decide.
 */
export const CPU_SEPARATION_FRACTION = 0.1

function isScrape(x: unknown): x is Scrape {
  const m = x as Partial<Scrape> | null
  return (
    typeof m === 'object' &&
    m !== null &&
    typeof m.uptimeMs === 'number' &&
    typeof m.cpuUs?.total === 'number' &&
    typeof m.messages?.sent === 'object' &&
    typeof m.messages.received === 'object' &&
    typeof m.events === 'object' &&
    typeof m.requests?.received === 'number' &&
    typeof m.storage?.fsyncs === 'number'
  )
}

/** Scrapes every replica in parallel; `atUs` is the midpoint of the round on the cell clock. */
export async function scrapeReplicas(
  replicas: readonly ReplicaHandle[],
  nowUs: () => number,
  timeoutMs = 1000,
): Promise<ScrapeRound> {
  const beforeUs = nowUs()
  const answers = await Promise.all(
    replicas.map(async (r) => {
      if (!r.running()) return null
      const m = await r.metrics(timeoutMs).catch(() => null)
      return isScrape(m) ? m : null
    }),
  )
  const atUs = Math.round((beforeUs + nowUs()) / 2)
  return { atUs, replicas: new Map(replicas.map((r, i) => [r.id, answers[i]!])) }
}

interface MessageTotals {
  sent: number
  received: number
  bytes: number
  self: number
}

function messageTotals(s: Scrape): MessageTotals {
  const t: MessageTotals = { sent: 0, received: 0, bytes: 0, self: 0 }
  for (const c of Object.values(s.messages.sent)) {
    t.sent += c.count
    t.bytes += c.bytes
  }
  for (const c of Object.values(s.messages.received)) {
    t.received += c.count
    t.bytes += c.bytes
  }
  for (const n of Object.values(s.messages.self ?? {})) t.self += n
  return t
}

/** ok load commands that completed inside [startUs, endUs] */
export function committedBetween(history: readonly HistoryOp[], startUs: number, endUs: number): number {
  let n = 0
  for (const op of history) {
    if (op.outcome === 'ok' && op.completeUs !== null && op.completeUs >= startUs && op.completeUs <= endUs)
      n++
  }
  return n
}

const round2 = (x: number): number => Math.round(x * 100) / 100

/** Two scrapes of one replica that span the window: both taken, and no restart in between (a restart
 * resets every counter: its uptime would not cover the window). */
function spans(a: Scrape | null, b: Scrape | null, windowMs: number): [Scrape, Scrape] | null {
  return a === null || b === null || b.uptimeMs < a.uptimeMs + windowMs * 0.5 ? null : [a, b]
}

/** Each replica's CPU with no load running, over a window of `windowMs`. */
export interface IdleCpu {
  readonly windowMs: number
  /** microseconds of CPU per second; null for a replica without two comparable scrapes */
  readonly usPerSec: ReadonlyMap<NodeId, number | null>
}

/** The CPU rate of each replica between two scrape rounds taken with no load running. */
export function idleCpu(start: ScrapeRound, end: ScrapeRound): IdleCpu {
  if (!(end.atUs > start.atUs)) throw new Error(`idle cpu: window end ${end.atUs} is not after ${start.atUs}`)
  const windowMs = (end.atUs - start.atUs) / 1000
  const usPerSec = new Map<NodeId, number | null>()
  for (const [id, a] of start.replicas) {
    const pair = spans(a, end.replicas.get(id) ?? null, windowMs)
    const cpuUs = pair === null ? null : pair[1].cpuUs.total - pair[0].cpuUs.total
    usPerSec.set(id, cpuUs === null ? null : Math.round((cpuUs / windowMs) * 1000))
  }
  return { windowMs: Math.round(windowMs), usPerSec }
}

/**
 * The per-node cost from two scrape rounds and the number of commands committed between them; with
 * `idle` (idleCpu of the same replicas before the load), also the CPU per op above that baseline.
 */
export function nodeCost(
  start: ScrapeRound,
  end: ScrapeRound,
  ops: number,
  idle: IdleCpu | null = null,
): NodeCostResult {
  if (!(end.atUs > start.atUs))
    throw new Error(`node cost: window end ${end.atUs} is not after ${start.atUs}`)
  const nodes: Record<NodeId, NodeCost> = {}
  const missing: NodeId[] = []
  let fast = 0
  let slow = 0
  const windowMs = (end.atUs - start.atUs) / 1000
  for (const [id, first] of start.replicas) {
    const pair = spans(first, end.replicas.get(id) ?? null, windowMs)
    if (pair === null) {
      missing.push(id)
      continue
    }
    const [a, b] = pair
    const ma = messageTotals(a)
    const mb = messageTotals(b)
    const sent = mb.sent - mb.self - (ma.sent - ma.self)
    const received = mb.received - mb.self - (ma.received - ma.self)
    const per = (x: number): number => (ops > 0 ? round2(x / ops) : 0)
    const cpuUs = b.cpuUs.total - a.cpuUs.total
    const idleUsPerSec = idle?.usPerSec.get(id) ?? null
    nodes[id] = {
      msgsPerOp: per(sent + received),
      msgsSentPerOp: per(sent),
      msgsReceivedPerOp: per(received),
      bytesPerOp: per(mb.bytes - ma.bytes),
      cpuUsPerOp: per(cpuUs),
      idleCpuUsPerSec: idleUsPerSec,
      cpuUsPerOpAboveIdle:
        idleUsPerSec === null ? null : per(Math.max(0, cpuUs - (idleUsPerSec * windowMs) / 1000)),
      fsyncsPerOp: per(b.storage.fsyncs - a.storage.fsyncs),
      requests: b.requests.received - a.requests.received,
    }
    fast += (b.events['fast-path'] ?? 0) - (a.events['fast-path'] ?? 0)
    slow += (b.events['slow-path'] ?? 0) - (a.events['slow-path'] ?? 0)
  }
  // a replica with no figures may be the one too busy to answer: then the bottleneck is unknown
  const { node, by } = ops > 0 && missing.length === 0 ? bottleneck(nodes) : { node: null, by: null }
  return {
    ops,
    windowStartUs: start.atUs,
    windowEndUs: end.atUs,
    nodes,
    missing,
    idleWindowMs: idle?.windowMs ?? null,
    bottleneckNode: node,
    bottleneckBy: by,
    fastPath: fast + slow > 0 ? fast : null,
    slowPath: fast + slow > 0 ? slow : null,
  }
}

/**
 * The replica with the most CPU per op, when it leads the runner-up by more than
 * CPU_SEPARATION_FRACTION; otherwise the one with the most messages per op (CPU does not separate them).
 */
export function bottleneck(nodes: Readonly<Record<NodeId, NodeCost>>): {
  node: NodeId | null
  by: 'cpu' | 'messages' | null
} {
  const entries = Object.entries(nodes)
  if (entries.length === 0) return { node: null, by: null }
  if (entries.length === 1) return { node: entries[0]![0], by: 'cpu' }
  const byCpu = [...entries].sort((x, y) => y[1].cpuUsPerOp - x[1].cpuUsPerOp)
  const [top, second] = [byCpu[0]!, byCpu[1]!]
  if (top[1].cpuUsPerOp > second[1].cpuUsPerOp * (1 + CPU_SEPARATION_FRACTION))
    return { node: top[0], by: 'cpu' }
  const byMsgs = [...entries].sort((x, y) => y[1].msgsPerOp - x[1].msgsPerOp)
  return { node: byMsgs[0]![0], by: 'messages' }
}

/**
 * Scrapes at the measured window's start and end while the load runs (`schedule` sets the window once
 * the load's start is known: driver processes start later than the cell). `finish` waits for the end
 * scrape, or takes it at once when the load ended before the window did (so a later read-back never
 * counts), and computes the cost; it answers null when either round could not be taken.
 */
export class NodeCostMeter {
  #start: Promise<ScrapeRound> | null = null
  #end: Promise<ScrapeRound> | null = null
  #idle: IdleCpu | null = null
  readonly #timers: NodeJS.Timeout[] = []

  /** `scrapeTimeoutMs`: a replica that does not answer /metrics in time is missing from the figures */
  constructor(
    private readonly replicas: readonly ReplicaHandle[],
    private readonly nowUs: () => number,
    private readonly scrapeTimeoutMs = 1000,
  ) {}

  /**
   * Measures each replica's idle CPU over `ms` (call it before the load starts); the cost then carries
   * the CPU per op above it. A replica that does not answer both scrapes has no idle figure.
   */
  async measureIdle(ms: number): Promise<IdleCpu> {
    const before = await scrapeReplicas(this.replicas, this.nowUs, this.scrapeTimeoutMs)
    await new Promise((resolveWait) => setTimeout(resolveWait, ms))
    const after = await scrapeReplicas(this.replicas, this.nowUs, this.scrapeTimeoutMs)
    this.#idle = idleCpu(before, after)
    return this.#idle
  }

  /** sets the window (on the cell clock) once the load's start is known; later calls are ignored */
  schedule(windowStartUs: number, windowEndUs: number): void {
    if (this.#timers.length > 0) return
    const at = (us: number, take: () => void): void => {
      this.#timers.push(setTimeout(take, Math.max(0, Math.ceil((us - this.nowUs()) / 1000))))
    }
    at(windowStartUs, () => this.#takeStart())
    at(windowEndUs, () => this.#takeEnd())
  }

  #takeStart(): void {
    this.#start ??= scrapeReplicas(this.replicas, this.nowUs, this.scrapeTimeoutMs)
  }

  #takeEnd(): void {
    // an end taken before the start (a load that stopped during warm-up) leaves no window
    if (this.#start !== null) this.#end ??= scrapeReplicas(this.replicas, this.nowUs, this.scrapeTimeoutMs)
  }

  async finish(history: readonly HistoryOp[]): Promise<NodeCostResult | null> {
    for (const t of this.#timers) clearTimeout(t)
    this.#takeEnd()
    if (this.#start === null || this.#end === null) return null
    const [start, end] = await Promise.all([this.#start, this.#end])
    if (!(end.atUs > start.atUs)) return null
    return nodeCost(start, end, committedBetween(history, start.atUs, end.atUs), this.#idle)
  }

  /** stops the timers without scraping (an aborted cell) */
  cancel(): void {
    for (const t of this.#timers) clearTimeout(t)
  }
}

/** The fields a cell summary carries (results/README.md, "Per-node cost"). */
export interface NodeCostFields {
  readonly nodes: Readonly<Record<NodeId, NodeCost>>
  readonly bottleneckNode: NodeId | null
  readonly fastPath: number | null
  readonly slowPath: number | null
  /** how the per-node figures were measured; null when the window could not be scraped */
  readonly nodeCost: {
    /** the leader the replicas agreed on before the load (null for leaderless engines) */
    readonly leaderAtStart: NodeId | null
    readonly ops: number
    readonly windowStartUs: number
    readonly windowEndUs: number
    readonly bottleneckBy: 'cpu' | 'messages' | null
    readonly missing: readonly NodeId[]
    /** the idle window before the load that `idleCpuUsPerSec` comes from; null when not measured */
    readonly idleWindowMs: number | null
  } | null
}

export function nodeCostFields(cost: NodeCostResult | null, leaderAtStart: NodeId | null): NodeCostFields {
  if (cost === null)
    return { nodes: {}, bottleneckNode: null, fastPath: null, slowPath: null, nodeCost: null }
  return {
    nodes: cost.nodes,
    bottleneckNode: cost.bottleneckNode,
    fastPath: cost.fastPath,
    slowPath: cost.slowPath,
    nodeCost: {
      leaderAtStart,
      ops: cost.ops,
      windowStartUs: cost.windowStartUs,
      windowEndUs: cost.windowEndUs,
      bottleneckBy: cost.bottleneckBy,
      missing: cost.missing,
      idleWindowMs: cost.idleWindowMs,
    },
  }
}
