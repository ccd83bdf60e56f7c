/**
 * Runs one client command to its outcome, for both drivers: the site's own replica first, then the
 * others in ring order; a command that gets no answer in time is retried with the SAME id at another
 * replica (the state machine executes an id at most once), a bounded number of times, and then
 * recorded with outcome 'unknown' for the checker (it may still take effect).
 *
 * - timeout or a broken connection: uncertain; retried elsewhere.
 * - refused connection: definite; that replica is tried last for DOWN_HOLD_MS, back off and retry.
 * - 409: definite; back off and retry (an election may be under way).
 * The outcome is 'ok'; 'fail' when every attempt was definitely not executed; otherwise 'unknown'.
 */
import type { NodeId } from '../engines/core/command.ts'
import type { HistoryOp } from '../harness/check/history.ts'
import type { RunClock } from './clock.ts'
import type { HttpKvApi } from './http-kv-api.ts'
import { type AttemptResult, type KvRequest, ReplicaClients } from './replica-client.ts'

/** A replica and the URL a client dials to reach its client API. */
export interface ReplicaTarget {
  readonly id: NodeId
  readonly clientUrl: string
}

/** A site: a place clients run, and the replica they talk to first. */
export interface Site {
  readonly name: string
  readonly replica: NodeId
  /**
   * Where this site's clients dial each replica (a shaped topology gives every (site, replica) pair its
   * own address); the driver's `replicas` list when absent. Same ids as `replicas`.
   */
  readonly targets?: readonly ReplicaTarget[]
}

/** Error counts by kind, over every attempt, plus outcome counters. */
export interface DriverErrors {
  timeout: number
  rejected: number
  refused: number
  connection: number
  http: number
  /** commands that ended with outcome 'unknown' */
  unknownOutcome: number
  /** commands that ended with outcome 'fail' */
  failedOutcome: number
  /** open loop: arrivals of the schedule never sent (the driver was at its outstanding bound until the end) */
  unsent: number
}

export function noErrors(): DriverErrors {
  return {
    timeout: 0,
    rejected: 0,
    refused: 0,
    connection: 0,
    http: 0,
    unknownOutcome: 0,
    failedOutcome: 0,
    unsent: 0,
  }
}

export function addErrors(into: DriverErrors, from: DriverErrors): void {
  for (const k of Object.keys(into) as Array<keyof DriverErrors>) into[k] += from[k]
}

export interface ExecutorOptions {
  readonly replicas: readonly ReplicaTarget[]
  readonly sites: readonly Site[]
  readonly requestTimeoutMs: number
  /** attempts per command, the first included */
  readonly maxAttempts: number
  readonly clock: RunClock
  /** sockets per replica at most (null: one per concurrent request); see ReplicaClients */
  readonly connectionsPerReplica: number | null
  /** an external system's HTTP API; absent: our replicas' /kv API */
  readonly api?: HttpKvApi | undefined
}

/** How long a client waits before retrying after a definite refusal (an election may be under way). */
const RETRY_BACKOFF_MS = 25
/** A replica that refused a connection is skipped as a first choice for this long. */
const DOWN_HOLD_MS = 500

export class CommandExecutor {
  readonly errors = noErrors()
  readonly #options: ExecutorOptions
  /** one set of connection pools per distinct target list: the sites without their own share one */
  readonly #clientsBySite = new Map<string, ReplicaClients>()
  readonly #all: ReplicaClients[] = []
  readonly #downUntilUs = new Map<NodeId, number>()
  readonly #replicaIds: NodeId[]

  constructor(options: ExecutorOptions) {
    this.#options = options
    this.#replicaIds = options.replicas.map((r) => r.id)
    const shared = new ReplicaClients(options.replicas, options.connectionsPerReplica, options.api ?? null)
    this.#all.push(shared)
    for (const site of options.sites) {
      if (!this.#replicaIds.includes(site.replica))
        throw new Error(`site ${site.name}: unknown replica ${site.replica}`)
      if (site.targets === undefined) {
        this.#clientsBySite.set(site.name, shared)
        continue
      }
      const ids = site.targets.map((t) => t.id).sort()
      if (ids.join() !== [...this.#replicaIds].sort().join())
        throw new Error(
          `site ${site.name}: targets must name every replica once (${this.#replicaIds.join(', ')})`,
        )
      const own = new ReplicaClients(site.targets, options.connectionsPerReplica, options.api ?? null)
      this.#all.push(own)
      this.#clientsBySite.set(site.name, own)
    }
  }

  /** the replicas to try, in order: the site's own first, then the others in ring order; down ones last */
  #candidates(site: Site): NodeId[] {
    const ids = this.#replicaIds
    const first = ids.indexOf(site.replica)
    const ring = ids.map((_, i) => ids[(first + i) % ids.length]!)
    const now = this.#options.clock.nowUs()
    const up = ring.filter((id) => (this.#downUntilUs.get(id) ?? 0) <= now)
    const down = ring.filter((id) => (this.#downUntilUs.get(id) ?? 0) > now)
    return [...up, ...down]
  }

  #count(result: AttemptResult): void {
    const e = this.errors
    if (result.kind === 'timeout') e.timeout++
    else if (result.kind === 'rejected') e.rejected++
    else if (result.kind === 'refused') e.refused++
    else if (result.kind === 'error') {
      if (result.code.startsWith('http-')) e.http++
      else e.connection++
    }
  }

  /** Runs `request` to its outcome; invokeUs is now (the actual first send). */
  async execute(site: Site, request: KvRequest): Promise<HistoryOp> {
    const { clock, maxAttempts, requestTimeoutMs } = this.#options
    const clients = this.#clientsBySite.get(site.name)
    if (clients === undefined) throw new Error(`unknown site ${site.name}`)
    const invokeUs = clock.nowUs()
    const written = request.op === 'put' ? request.value : null
    const base = { client: request.client, seq: request.seq, key: request.key, op: request.op }
    let uncertain = false
    const tried = new Set<NodeId>()
    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      // the first candidate not tried yet for this command; round again once all have been
      const order = this.#candidates(site)
      const replica = order.find((id) => !tried.has(id)) ?? order[attempt % order.length]!
      tried.add(replica)
      const result = await clients.attempt(replica, request, requestTimeoutMs)
      this.#count(result)
      if (result.kind === 'ok') {
        const value = request.op === 'put' ? request.value : result.value
        return { ...base, value, invokeUs, completeUs: clock.nowUs(), outcome: 'ok' }
      }
      if (result.kind === 'refused') this.#downUntilUs.set(replica, clock.nowUs() + DOWN_HOLD_MS * 1000)
      if (result.kind === 'timeout' || result.kind === 'error') uncertain = true
      if (result.kind === 'refused' || result.kind === 'rejected')
        await sleepMs(RETRY_BACKOFF_MS * (attempt + 1))
    }
    if (uncertain) {
      this.errors.unknownOutcome++
      return { ...base, value: written, invokeUs, completeUs: null, outcome: 'unknown' }
    }
    this.errors.failedOutcome++
    return { ...base, value: written, invokeUs, completeUs: clock.nowUs(), outcome: 'fail' }
  }

  async close(): Promise<void> {
    await Promise.all(this.#all.map((c) => c.close()))
  }
}

export function sleepMs(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
