/**
 * The closed-loop load driver: `clientsPerSite` sequential sessions per site, each with one command
 * outstanding at a time. Client `<site>-c<i>` numbers its commands 1, 2, ...; a command that gets no
 * answer in time is retried with the SAME id at another replica (the state machine executes an id at
 * most once), a bounded number of times, and then recorded with outcome 'unknown' for the checker.
 *
 * Latency is recorded only for commands invoked inside the measured window (after warm-up, before
 * cool-down); every command, trimmed or not, stays in the history and is checked.
 */
import type { NodeId } from '../engines/core/command.ts'
import type { HistoryOp } from '../harness/check/history.ts'
import type { RunClock } from './clock.ts'
import { keyChooser } from './keys.ts'
import { LatencyRecorder } from './latency.ts'
import { seededRandom } from './random.ts'
import { type AttemptResult, type KvRequest, ReplicaClients } from './replica-client.ts'

/** A site: a place clients run, and the replica they talk to first. */
export interface Site {
  readonly name: string
  readonly replica: NodeId
}

export interface ClosedLoopOptions {
  readonly sites: readonly Site[]
  readonly replicas: ReadonlyArray<{ readonly id: NodeId; readonly clientUrl: string }>
  /** per site name: where that site's clients reach each replica (a link shaper's address); default `replicas` */
  readonly replicasBySite?: ReadonlyMap<
    string,
    ReadonlyArray<{ readonly id: NodeId; readonly clientUrl: string }>
  >
  readonly clientsPerSite: number
  readonly conflict: number
  readonly readRatio: number
  readonly sharedKeys: number
  readonly privateKeysPerClient: number
  readonly seed: number
  readonly durationMs: number
  readonly warmupMs: number
  readonly cooldownMs: number
  readonly requestTimeoutMs: number
  /** attempts per command, the first included */
  readonly maxAttempts: number
  /** the history limit: clients stop issuing once it is reached (the run notes it) */
  readonly maxOps: number
  readonly clock: RunClock
  /** stops issuing new commands early (in-flight ones still finish or time out) */
  readonly signal?: AbortSignal
  /** called as each command finishes (progress reporting) */
  readonly onComplete?: (op: HistoryOp) => void
}

/** Error counts by kind, over every attempt. */
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
}

export interface ClosedLoopResult {
  readonly history: HistoryOp[]
  readonly latency: LatencyRecorder
  readonly errors: DriverErrors
  /** ok commands invoked inside the measured window, per site */
  readonly measuredOpsBySite: ReadonlyMap<string, number>
  /** the measured window, microseconds on the run clock */
  readonly windowStartUs: number
  readonly windowEndUs: number
  readonly startUs: number
  readonly endUs: number
  readonly truncated: boolean
}

/** How long a client waits before retrying after a definite refusal (an election may be under way). */
const RETRY_BACKOFF_MS = 25
/** A replica that refused a connection is skipped as a first choice for this long. */
const DOWN_HOLD_MS = 500

export function validateClosedLoopOptions(o: ClosedLoopOptions): void {
  const problems: string[] = []
  if (o.sites.length === 0) problems.push('at least one site is needed')
  if (!Number.isInteger(o.clientsPerSite) || o.clientsPerSite < 1) problems.push('clientsPerSite >= 1')
  if (!(o.conflict >= 0 && o.conflict <= 1)) problems.push('conflict in [0, 1]')
  if (!(o.readRatio >= 0 && o.readRatio <= 1)) problems.push('readRatio in [0, 1]')
  if (!(o.durationMs > 0)) problems.push('durationMs > 0')
  if (!(o.warmupMs >= 0 && o.cooldownMs >= 0 && o.warmupMs + o.cooldownMs < o.durationMs)) {
    problems.push('warmupMs + cooldownMs < durationMs')
  }
  if (!(o.requestTimeoutMs > 0)) problems.push('requestTimeoutMs > 0')
  if (!Number.isInteger(o.maxAttempts) || o.maxAttempts < 1) problems.push('maxAttempts >= 1')
  for (const s of o.sites) {
    if (!o.replicas.some((r) => r.id === s.replica))
      problems.push(`site ${s.name}: unknown replica ${s.replica}`)
  }
  const ids = o.replicas.map((r) => r.id).join(',')
  for (const [site, urls] of o.replicasBySite ?? []) {
    if (urls.map((r) => r.id).join(',') !== ids)
      problems.push(`replicasBySite ${site}: not the replicas ${ids}`)
  }
  if (problems.length > 0) throw new Error(`closed-loop driver options: ${problems.join('; ')}`)
}

export async function runClosedLoop(options: ClosedLoopOptions): Promise<ClosedLoopResult> {
  validateClosedLoopOptions(options)
  const { clock } = options
  const clientsBySite = new Map(
    options.sites.map((s) => [
      s.name,
      new ReplicaClients(options.replicasBySite?.get(s.name) ?? options.replicas),
    ]),
  )
  const latency = new LatencyRecorder()
  const history: HistoryOp[] = []
  const errors: DriverErrors = {
    timeout: 0,
    rejected: 0,
    refused: 0,
    connection: 0,
    http: 0,
    unknownOutcome: 0,
    failedOutcome: 0,
  }
  const measuredOpsBySite = new Map<string, number>(options.sites.map((s) => [s.name, 0]))
  const downUntilUs = new Map<NodeId, number>()
  const replicaIds = options.replicas.map((r) => r.id)
  let truncated = false

  const startUs = clock.nowUs()
  const endUs = startUs + options.durationMs * 1000
  const windowStartUs = startUs + options.warmupMs * 1000
  const windowEndUs = endUs - options.cooldownMs * 1000

  /** the replicas to try, in order: the site's own first, then the others in ring order; down ones last */
  function candidates(site: Site): NodeId[] {
    const first = replicaIds.indexOf(site.replica)
    const ring = replicaIds.map((_, i) => replicaIds[(first + i) % replicaIds.length]!)
    const now = clock.nowUs()
    const up = ring.filter((id) => (downUntilUs.get(id) ?? 0) <= now)
    const down = ring.filter((id) => (downUntilUs.get(id) ?? 0) > now)
    return [...up, ...down]
  }

  function countError(result: AttemptResult): void {
    switch (result.kind) {
      case 'ok':
        return
      case 'timeout':
        errors.timeout++
        return
      case 'rejected':
        errors.rejected++
        return
      case 'refused':
        errors.refused++
        return
      case 'error':
        if (result.code.startsWith('http-')) errors.http++
        else errors.connection++
        return
    }
  }

  async function execute(site: Site, request: KvRequest): Promise<HistoryOp> {
    const invokeUs = clock.nowUs()
    let uncertain = false
    const tried = new Set<NodeId>()
    for (let attempt = 0; attempt < options.maxAttempts; attempt++) {
      // the first candidate not tried yet for this command; round again once all have been
      const order = candidates(site)
      const replica = order.find((id) => !tried.has(id)) ?? order[attempt % order.length]!
      tried.add(replica)
      const result = await clientsBySite.get(site.name)!.attempt(replica, request, options.requestTimeoutMs)
      countError(result)
      if (result.kind === 'ok') {
        const completeUs = clock.nowUs()
        const value = request.op === 'put' ? request.value : result.value
        return { ...base(request, value), invokeUs, completeUs, outcome: 'ok' }
      }
      if (result.kind === 'refused') downUntilUs.set(replica, clock.nowUs() + DOWN_HOLD_MS * 1000)
      if (result.kind === 'timeout' || result.kind === 'error') uncertain = true
      if (result.kind === 'refused' || result.kind === 'rejected')
        await sleep(RETRY_BACKOFF_MS * (attempt + 1))
    }
    if (uncertain) {
      errors.unknownOutcome++
      return {
        ...base(request, request.op === 'put' ? request.value : null),
        invokeUs,
        completeUs: null,
        outcome: 'unknown',
      }
    }
    errors.failedOutcome++
    return {
      ...base(request, request.op === 'put' ? request.value : null),
      invokeUs,
      completeUs: clock.nowUs(),
      outcome: 'fail',
    }
  }

  async function session(site: Site, index: number): Promise<void> {
    const client = `${site.name}-c${index}`
    const random = seededRandom(options.seed, `client/${client}`)
    const nextKey = keyChooser(client, options, random)
    for (let seq = 1; ; seq++) {
      if (clock.nowUs() >= endUs || options.signal?.aborted === true) return
      if (history.length >= options.maxOps) {
        truncated = true
        return
      }
      const op = random() < options.readRatio ? 'get' : 'put'
      const key = nextKey()
      const request: KvRequest = { client, seq, op, key, value: op === 'put' ? `${client}:${seq}` : null }
      const done = await execute(site, request)
      history.push(done)
      options.onComplete?.(done)
      if (done.outcome === 'ok' && done.invokeUs >= windowStartUs && done.invokeUs < windowEndUs) {
        latency.record(site.name, op, done.completeUs! - done.invokeUs)
        measuredOpsBySite.set(site.name, (measuredOpsBySite.get(site.name) ?? 0) + 1)
      }
    }
  }

  try {
    const sessions: Promise<void>[] = []
    for (const site of options.sites) {
      for (let i = 0; i < options.clientsPerSite; i++) sessions.push(session(site, i))
    }
    await Promise.all(sessions)
  } finally {
    await Promise.all([...clientsBySite.values()].map((c) => c.close()))
  }
  history.sort((a, b) => a.invokeUs - b.invokeUs)
  return {
    history,
    latency,
    errors,
    measuredOpsBySite,
    windowStartUs,
    windowEndUs,
    startUs,
    endUs: clock.nowUs(),
    truncated,
  }
}

function base(request: KvRequest, value: string | null) {
  return { client: request.client, seq: request.seq, key: request.key, op: request.op, value }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
