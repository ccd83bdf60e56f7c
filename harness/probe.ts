/**
 * `probe`: a quick capacity probe of one replica's HTTP API with autocannon (a library call; the CLI in
 * commands/probe.ts is a thin layer). It starts a local cluster, waits for an agreed leader, hammers
 * `PUT /kv/:key` on one replica with `connections` keep-alive connections for `durationMs`, and stops
 * the cluster (by PID, always, also on error and on SIGINT/SIGTERM).
 *
 * Every request is a distinct command: one client id per probe, a fresh x-seq per request (the state
 * machine dedupes by exact id, so seqs completing out of order are fine). Keys cycle through a pool
 * of PROBE_KEYS so two requests in flight almost never touch the same key (no conflicts to resolve).
 *
 * This is a probe, not a measurement: no history, no linearizability check, no results directory, and
 * autocannon's latency is its own (milliseconds, closed loop per connection).
 */
import { randomBytes } from 'node:crypto'
import autocannon from 'autocannon'
import { z } from 'zod'
import type { NodeId } from '../engines/core/command.ts'
import { ConfigError } from '../engines/core/engine.ts'
import { engineNames, findEngine } from '../engines/registry.ts'
import type { LatencySummaryUs } from '../workloads/latency.ts'
import { waitForAgreedLeader } from './faults.ts'
import { onInterrupt } from './launchers/cleanup.ts'
import { startLocalCluster } from './launchers/local.ts'
import type { Cluster } from './launchers/types.ts'
import { RunOptionError } from './run.ts'

export const PROBE_KEYS = 4096

export const probeOptionsSchema = z.strictObject({
  engine: z.string().min(1),
  engineConfig: z.record(z.string(), z.unknown()).default({}),
  replicas: z.number().int().min(1).max(50).default(3),
  durationMs: z.number().int().positive().max(600_000).default(5000),
  connections: z.number().int().min(1).max(10_000).default(16),
  /** requests in flight per connection (HTTP/1.1 pipelining); 1 = one at a time */
  pipelining: z.number().int().min(1).max(100).default(1),
  /** 'leader' (the agreed leader, or r0 when there is none) or a replica id */
  target: z.string().default('leader'),
  valueBytes: z
    .number()
    .int()
    .min(0)
    .max(1024 * 1024)
    .default(16),
  requestTimeoutMs: z.number().int().positive().default(2000),
  storage: z.enum(['file', 'memory']).default('file'),
  seed: z.number().int().default(1),
  readyTimeoutMs: z.number().int().positive().default(20_000),
  /** the replica program (tests use a fake) */
  hostEntry: z.string().optional(),
})

export type ProbeOptionsInput = z.input<typeof probeOptionsSchema>
export type ProbeOptions = z.output<typeof probeOptionsSchema>

/** the same percentiles as summary.json's latency, in autocannon's unit: milliseconds */
export type ProbeLatencyMs = { readonly [K in keyof LatencySummaryUs]: number }

export interface ProbeResult {
  readonly engine: string
  readonly replicas: number
  /** the replica probed, and the leader the cluster had agreed on */
  readonly target: NodeId
  readonly leader: NodeId | null
  readonly url: string
  readonly connections: number
  readonly pipelining: number
  readonly durationSec: number
  /** 2xx answers per second, over the whole probe */
  readonly requestsPerSec: number
  readonly requestsOk: number
  readonly requestsSent: number
  /** autocannon's latency of every answered request, milliseconds */
  readonly latencyMs: ProbeLatencyMs
  readonly errors: {
    /** connection errors and timeouts */
    readonly connection: number
    readonly timeouts: number
    /** answers that were not 2xx, by status code */
    readonly non2xx: number
    readonly byStatus: Readonly<Record<string, number>>
  }
}

/** Validates the options (RunOptionError names the option and the fix, as for `run`). */
export function resolveProbeOptions(input: ProbeOptionsInput): ProbeOptions {
  const parsed = probeOptionsSchema.safeParse(input)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    throw new RunOptionError(
      issue.path.map(String).join('.') || '(options)',
      issue.message,
      'see `consensus-bench probe --help`',
    )
  }
  const o = parsed.data
  if (o.hostEntry === undefined) {
    const engine = findEngine(o.engine)
    if (engine === undefined)
      throw new RunOptionError(
        'engine',
        `unknown engine '${o.engine}'`,
        `use one of: ${engineNames().join(', ')}`,
      )
    try {
      engine.parseConfig(o.engineConfig)
    } catch (err: unknown) {
      if (err instanceof ConfigError)
        throw new RunOptionError(`engineConfig.${err.field}`, err.message, err.fix)
      throw err
    }
  }
  const ids = Array.from({ length: o.replicas }, (_, i) => `r${i}`)
  if (o.target !== 'leader' && !ids.includes(o.target))
    throw new RunOptionError(
      'target',
      `no replica ${o.target} in a cluster of ${o.replicas}`,
      `use leader or one of r0..r${o.replicas - 1}`,
    )
  return o
}

export async function runProbe(
  input: ProbeOptionsInput,
  progress: (line: string) => void = () => {},
): Promise<ProbeResult> {
  const options = resolveProbeOptions(input)
  let cluster: Cluster | null = null
  let instance: autocannon.Instance | null = null
  const removeHook = onInterrupt(async () => {
    instance?.stop()
    await cluster?.stop()
  })
  try {
    progress(`probe: starting ${options.replicas} ${options.engine} replicas`)
    cluster = await startLocalCluster({
      engine: options.engine,
      engineConfig: options.engineConfig,
      replicas: options.replicas,
      seed: options.seed,
      storage: options.storage,
      ...(options.hostEntry !== undefined ? { hostEntry: options.hostEntry } : {}),
    })
    const leader = await waitForAgreedLeader(cluster, options.readyTimeoutMs)
    const target = options.target === 'leader' ? (leader ?? cluster.replicas[0]!.id) : options.target
    const url = cluster.replica(target).clientUrl
    progress(
      `probe: ${options.connections} connections x ${options.durationMs / 1000} s against ${target} (${url}), leader ${leader ?? 'none'}`,
    )
    const raw = await new Promise<autocannon.Result>((resolve, reject) => {
      instance = autocannon(probeRequestOptions(options, url), (err, result) =>
        err ? reject(err) : resolve(result),
      )
    })
    return probeResult(options, raw, target, leader, url)
  } finally {
    removeHook()
    await cluster?.stop()
  }
}

/** The autocannon options: PUT /kv/probe-<n> with one client id and a fresh x-seq per request. */
export function probeRequestOptions(options: ProbeOptions, url: string): autocannon.Options {
  const client = `probe-${randomBytes(4).toString('hex')}`
  const value = 'x'.repeat(options.valueBytes)
  let seq = 0
  return {
    url,
    connections: options.connections,
    pipelining: options.pipelining,
    duration: options.durationMs / 1000,
    timeout: Math.ceil(options.requestTimeoutMs / 1000),
    requests: [
      {
        method: 'PUT',
        setupRequest: (req) => {
          seq++
          return {
            ...req,
            path: `/kv/probe-${seq % PROBE_KEYS}`,
            headers: { ...req.headers, 'x-client-id': client, 'x-seq': String(seq) },
            body: value,
          }
        },
      },
    ],
  }
}

function probeResult(
  options: ProbeOptions,
  raw: autocannon.Result,
  target: NodeId,
  leader: NodeId | null,
  url: string,
): ProbeResult {
  const byStatus: Record<string, number> = {}
  for (const [code, s] of Object.entries(raw.statusCodeStats ?? {})) {
    if (!code.startsWith('2')) byStatus[code] = s.count ?? 0
  }
  const ok = raw['2xx']
  return {
    engine: options.engine,
    replicas: options.replicas,
    target,
    leader,
    url,
    connections: raw.connections,
    pipelining: raw.pipelining,
    durationSec: raw.duration,
    requestsPerSec: raw.duration > 0 ? Math.round((ok / raw.duration) * 10) / 10 : 0,
    requestsOk: ok,
    requestsSent: raw.requests.sent,
    latencyMs: {
      p50: raw.latency.p50,
      p90: raw.latency.p90,
      p99: raw.latency.p99,
      p999: raw.latency.p99_9,
      max: raw.latency.max,
      mean: raw.latency.mean,
    },
    errors: { connection: raw.errors, timeouts: raw.timeouts, non2xx: raw.non2xx, byStatus },
  }
}
