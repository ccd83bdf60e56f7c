/**
 * Per-node cost of a cell: every replica's GET /metrics is scraped when the measured window opens and
 * when it closes; from the deltas come messages, bytes, CPU microseconds and fsyncs per command for
 * each replica, the bottleneck replica, and the engine's fast/slow path counts.
 *
 * The denominator ("per op") is the cluster's work as the clients saw it: the load commands that
 * completed with outcome ok (reads and writes alike; reads go through the protocol), counted over the
 * same interval as the replica's own counters. A busy replica may answer a scrape seconds late, its
 * counters read when it got to the request: its interval is placed on the cell clock from its own
 * uptime (replicaInterval), so a late answer neither stretches nor shifts its window against the
 * commands. The figures do not depend on whether an engine emits commit events.
 *
 * A scrape round asks every replica at once and waits for each at most SCRAPE_POLICY.deadlineMs,
 * retries included (scrapeReplicas); a replica without two usable answers is missing, with the reason.
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
import { describeRequestError } from './launchers/http-json.ts'
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
  /** the denominator: ok load commands completed over this replica's own interval (replicaInterval) */
  readonly ops: number
  /** how long after each round began this replica's answer arrived (retries included), ms */
  readonly answeredAfterMs: { readonly start: number; readonly end: number }
}

export interface NodeCostResult {
  /** committed commands between the two rounds' starts (each node's own denominator: NodeCost.ops) */
  readonly ops: number
  /** when the two scrape rounds began, on the cell clock */
  readonly windowStartUs: number
  readonly windowEndUs: number
  readonly nodes: Readonly<Record<NodeId, NodeCost>>
  /** replicas without two comparable scrapes (down, restarted, or no /metrics): not in `nodes` */
  readonly missing: readonly NodeId[]
  /** why each missing replica is missing: 'timeout after 5000 ms at the window end', ... */
  readonly missingReasons: Readonly<Record<NodeId, string>>
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

/** One replica's answer to a scrape round: its metrics and when they arrived, or why there are none. */
export type ScrapeAnswer =
  | {
      readonly state: 'ok'
      readonly scrape: Scrape
      /** when the answer arrived, on the cell clock; the replica read its counters before that */
      readonly answeredUs: number
    }
  | { readonly state: 'missing'; readonly reason: string }

/** A scrape of every replica, begun at `atUs` on the cell clock. */
export interface ScrapeRound {
  readonly atUs: number
  readonly replicas: ReadonlyMap<NodeId, ScrapeAnswer>
}

/** How long a scrape round waits for a replica, and how often it asks again. */
export interface ScrapePolicy {
  /** a replica's answer must arrive within this of the round's start, retries included: the bound on
   * how long a dead or stopped replica holds the round (and, at the window's end, the run) */
  readonly deadlineMs: number
  /** requests per replica and round: a failure before the deadline (refused, closed, bad answer) is
   * asked again after `retryPauseMs`; a timeout is not (the deadline is spent) */
  readonly attempts: number
  readonly retryPauseMs: number
}

/**
 * 5 s: on a 2-core box at load average 14 a busy leader answered /metrics after more than 1 s (the old
 * timeout); a replica that cannot answer in 5 s is stopped or dead, and the run waits at most this long
 * for it after the load (less by the cool-down: the end round begins at the window's end).
 */
export const SCRAPE_POLICY: ScrapePolicy = { deadlineMs: 5000, attempts: 3, retryPauseMs: 100 }

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

/** Scrapes every replica in parallel; resolves within `policy.deadlineMs` (plus a timer's lateness). */
export async function scrapeReplicas(
  replicas: readonly ReplicaHandle[],
  nowUs: () => number,
  policy: ScrapePolicy = SCRAPE_POLICY,
): Promise<ScrapeRound> {
  const atUs = nowUs()
  const answers = await Promise.all(replicas.map((r) => scrapeOne(r, nowUs, atUs, policy)))
  return { atUs, replicas: new Map(replicas.map((r, i) => [r.id, answers[i]!])) }
}

type Attempt =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly reason: string }

async function scrapeOne(
  r: ReplicaHandle,
  nowUs: () => number,
  roundUs: number,
  policy: ScrapePolicy,
): Promise<ScrapeAnswer> {
  if (!(policy.deadlineMs > 0 && policy.attempts >= 1))
    throw new Error('scrape policy: no time or no attempt')
  const timeout = `timeout after ${policy.deadlineMs} ms`
  let reason = timeout
  let attempt = 0
  while (attempt < policy.attempts) {
    if (!r.running()) return { state: 'missing', reason: 'not running' }
    const leftMs = Math.floor(policy.deadlineMs - (nowUs() - roundUs) / 1000)
    if (leftMs <= 0) break
    attempt++
    const answer = await withinMs(r.metrics(leftMs), leftMs)
    if (answer.ok && isScrape(answer.value)) return { state: 'ok', scrape: answer.value, answeredUs: nowUs() }
    if (!answer.ok && answer.reason === 'timeout') return { state: 'missing', reason: timeout }
    // the handle's word that there is nothing to scrape (an external system): asking again will not help
    if (answer.ok && answer.value === null) return { state: 'missing', reason: 'no /metrics of ours' }
    reason = answer.ok ? 'no usable /metrics in the answer' : answer.reason
    if (attempt < policy.attempts)
      await new Promise((resolveWait) => setTimeout(resolveWait, policy.retryPauseMs))
  }
  return { state: 'missing', reason: attempt > 1 ? `${reason} (${attempt} attempts)` : reason }
}

/** the request's outcome, or a timeout once `ms` have passed (whatever the handle does with its own) */
async function withinMs(request: Promise<unknown>, ms: number): Promise<Attempt> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<Attempt>((resolveLate) => {
    timer = setTimeout(() => resolveLate({ ok: false, reason: 'timeout' }), ms)
  })
  const answered = request.then(
    (value): Attempt => ({ ok: true, value }),
    (err: unknown): Attempt => ({ ok: false, reason: describeRequestError(err) }),
  )
  try {
    return await Promise.race([answered, late])
  } finally {
    clearTimeout(timer)
  }
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

type Answered = Extract<ScrapeAnswer, { state: 'ok' }>

/** uptime is whole milliseconds, read on the replica's clock: a same-process check allows this much */
const RESTART_SLACK_MS = 2

/**
 * Two answers of one replica that span the window: both taken, and no restart in between; else why
 * not. A restart resets every counter, uptime included. One process read its first counters before the
 * first answer arrived and its second after the second round began, so its uptime grew by at least the
 * time between those two (less a millisecond or two of rounding); a new process has grown less.
 */
function spans(
  a: ScrapeAnswer | undefined,
  b: ScrapeAnswer | undefined,
  endRoundUs: number,
): { pair: [Answered, Answered] } | { reason: string } {
  const ra = a === undefined ? 'not scraped' : a.state === 'missing' ? a.reason : null
  const rb = b === undefined ? 'not scraped' : b.state === 'missing' ? b.reason : null
  if (ra !== null && rb !== null)
    return { reason: ra === rb ? `${ra} at both edges` : `${ra} at the window start, ${rb} at the end` }
  if (ra !== null) return { reason: `${ra} at the window start` }
  if (rb !== null) return { reason: `${rb} at the window end` }
  const [x, y] = [a as Answered, b as Answered]
  if (y.scrape.uptimeMs < x.scrape.uptimeMs + (endRoundUs - x.answeredUs) / 1000 - RESTART_SLACK_MS)
    return {
      reason: `restarted in the window (uptime ${x.scrape.uptimeMs} ms, then ${y.scrape.uptimeMs} ms)`,
    }
  return { pair: [x, y] }
}

/**
 * When the replica read its counters for each of the two answers, on the cell clock. A replica reads
 * them when it handles the request, before its answer arrives; a busy one handles it late (the request
 * waits behind its work), so the answer follows the reading by one reply's trip. Its uptime places the
 * two readings relative to each other exactly; its start on the cell clock is at most (arrival -
 * uptime) for every answer, and the smallest such bound is taken: readings are placed at most one
 * reply's trip early. Uptime is whole milliseconds.
 */
export function replicaInterval(a: Answered, b: Answered): { fromUs: number; toUs: number } {
  const zeroUs = Math.min(a.answeredUs - a.scrape.uptimeMs * 1000, b.answeredUs - b.scrape.uptimeMs * 1000)
  return { fromUs: zeroUs + a.scrape.uptimeMs * 1000, toUs: zeroUs + b.scrape.uptimeMs * 1000 }
}

/** Each replica's CPU with no load running, over a window of `windowMs`. */
export interface IdleCpu {
  readonly windowMs: number
  /** microseconds of CPU per second; null for a replica without two comparable scrapes */
  readonly usPerSec: ReadonlyMap<NodeId, number | null>
}

/** The CPU rate of each replica between two scrape rounds taken with no load running, over its own uptime. */
export function idleCpu(start: ScrapeRound, end: ScrapeRound): IdleCpu {
  if (!(end.atUs > start.atUs)) throw new Error(`idle cpu: window end ${end.atUs} is not after ${start.atUs}`)
  const windowMs = (end.atUs - start.atUs) / 1000
  const usPerSec = new Map<NodeId, number | null>()
  for (const [id, a] of start.replicas) {
    const s = spans(a, end.replicas.get(id), end.atUs)
    if (!('pair' in s)) {
      usPerSec.set(id, null)
      continue
    }
    const [x, y] = s.pair
    const cpuUs = y.scrape.cpuUs.total - x.scrape.cpuUs.total
    usPerSec.set(id, Math.round((cpuUs / (y.scrape.uptimeMs - x.scrape.uptimeMs)) * 1000))
  }
  return { windowMs: Math.round(windowMs), usPerSec }
}

/**
 * The per-node cost from two scrape rounds; `opsBetween` counts the commands committed in an interval
 * of the cell clock (committedBetween over the history), asked for each replica's own interval. With
 * `idle` (idleCpu of the same replicas before the load), also the CPU per op above that baseline.
 */
export function nodeCost(
  start: ScrapeRound,
  end: ScrapeRound,
  opsBetween: (fromUs: number, toUs: number) => number,
  idle: IdleCpu | null = null,
): NodeCostResult {
  if (!(end.atUs > start.atUs))
    throw new Error(`node cost: window end ${end.atUs} is not after ${start.atUs}`)
  const nodes: Record<NodeId, NodeCost> = {}
  const missing: NodeId[] = []
  const missingReasons: Record<NodeId, string> = {}
  let fast = 0
  let slow = 0
  for (const [id, first] of start.replicas) {
    const s = spans(first, end.replicas.get(id), end.atUs)
    if (!('pair' in s)) {
      missing.push(id)
      missingReasons[id] = s.reason
      continue
    }
    const [x, y] = s.pair
    const [a, b] = [x.scrape, y.scrape]
    const { fromUs, toUs } = replicaInterval(x, y)
    const ops = opsBetween(fromUs, toUs)
    const ma = messageTotals(a)
    const mb = messageTotals(b)
    const sent = mb.sent - mb.self - (ma.sent - ma.self)
    const received = mb.received - mb.self - (ma.received - ma.self)
    const per = (v: number): number => (ops > 0 ? round2(v / ops) : 0)
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
        idleUsPerSec === null
          ? null
          : per(Math.max(0, cpuUs - (idleUsPerSec * (b.uptimeMs - a.uptimeMs)) / 1000)),
      fsyncsPerOp: per(b.storage.fsyncs - a.storage.fsyncs),
      requests: b.requests.received - a.requests.received,
      ops,
      answeredAfterMs: {
        start: Math.round((x.answeredUs - start.atUs) / 1000),
        end: Math.round((y.answeredUs - end.atUs) / 1000),
      },
    }
    fast += (b.events['fast-path'] ?? 0) - (a.events['fast-path'] ?? 0)
    slow += (b.events['slow-path'] ?? 0) - (a.events['slow-path'] ?? 0)
  }
  const ops = opsBetween(start.atUs, end.atUs)
  // a replica with no figures may be the one too busy to answer: then the bottleneck is unknown
  const { node, by } = ops > 0 && missing.length === 0 ? bottleneck(nodes) : { node: null, by: null }
  return {
    ops,
    windowStartUs: start.atUs,
    windowEndUs: end.atUs,
    nodes,
    missing,
    missingReasons,
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

  /** `policy`: a replica that does not answer /metrics by its deadline is missing from the figures */
  constructor(
    private readonly replicas: readonly ReplicaHandle[],
    private readonly nowUs: () => number,
    private readonly policy: ScrapePolicy = SCRAPE_POLICY,
  ) {}

  /**
   * Measures each replica's idle CPU over `ms` (call it before the load starts); the cost then carries
   * the CPU per op above it. A replica that does not answer both scrapes has no idle figure.
   */
  async measureIdle(ms: number): Promise<IdleCpu> {
    const before = await scrapeReplicas(this.replicas, this.nowUs, this.policy)
    await new Promise((resolveWait) => setTimeout(resolveWait, ms))
    const after = await scrapeReplicas(this.replicas, this.nowUs, this.policy)
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
    this.#start ??= scrapeReplicas(this.replicas, this.nowUs, this.policy)
  }

  #takeEnd(): void {
    // an end taken before the start (a load that stopped during warm-up) leaves no window
    if (this.#start !== null) this.#end ??= scrapeReplicas(this.replicas, this.nowUs, this.policy)
  }

  async finish(history: readonly HistoryOp[]): Promise<NodeCostResult | null> {
    for (const t of this.#timers) clearTimeout(t)
    this.#takeEnd()
    if (this.#start === null || this.#end === null) return null
    const [start, end] = await Promise.all([this.#start, this.#end])
    if (!(end.atUs > start.atUs)) return null
    return nodeCost(start, end, (fromUs, toUs) => committedBetween(history, fromUs, toUs), this.#idle)
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
    readonly missingReasons: Readonly<Record<NodeId, string>>
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
      missingReasons: cost.missingReasons,
      idleWindowMs: cost.idleWindowMs,
    },
  }
}
