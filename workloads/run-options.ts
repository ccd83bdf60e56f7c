/**
 * The workload part of `run`'s options: the zod fields harness/run.ts spreads into its schema, the
 * cross-field rules, the LoadSpec they make, and the summary.json figures of a finished load. Kept here
 * so run.ts (shared by several parts) only calls in.
 */
import { z } from 'zod'
import type { HistoryOp } from '../harness/check/history.ts'
import type { LoadShape, LoadSpec } from './driver-spec.ts'
import type { ReplicaTarget, Site } from './executor.ts'
import { type KeyDistribution, MAX_ZIPF_KEYS } from './keys.ts'
import type { LoadResult } from './load.ts'
import { achievedConflict } from './measure.ts'
import { MAX_VALUE_SIZE_BYTES } from './ops.ts'

/** The defaults a closed loop gets when neither clients nor a rate is given. */
export const DEFAULT_CLIENTS_PER_SITE = 8

export const workloadOptionFields = {
  /** closed loop: clients per site (each replica is its own site for now); exclusive with rateOpsPerSec */
  clientsPerSite: z.number().int().min(1).max(1000).optional(),
  /** open loop: arrivals per second over all sites; exclusive with clientsPerSite */
  rateOpsPerSec: z.number().positive().max(1_000_000).optional(),
  arrival: z.enum(['constant', 'poisson']).default('poisson'),
  /** open loop: commands in flight per driver process at most (arrivals beyond wait, see workloads/README) */
  maxOutstanding: z.number().int().min(1).max(100_000).default(2000),
  /** closed loop: pause between a command's answer and the client's next command */
  thinkTimeMs: z.number().nonnegative().default(0),
  /** closed loop: commands per client; open loop: commands in total (sets the duration to ops / rate) */
  ops: z.number().int().positive().optional(),
  keyDistribution: z.enum(['conflict', 'uniform', 'zipf', 'hotspot']).default('conflict'),
  conflict: z.number().min(0).max(1).default(0.1),
  sharedKeys: z.number().int().min(1).default(1),
  privateKeysPerClient: z.number().int().min(1).default(16),
  /** uniform, zipf, hotspot: the size of the common keyspace */
  keys: z.number().int().min(1).max(MAX_ZIPF_KEYS).default(1000),
  zipfTheta: z.number().nonnegative().default(0.99),
  hotKeyFraction: z.number().gt(0).max(1).default(0.2),
  hotOpFraction: z.number().min(0).max(1).default(0.8),
  /** fraction of commands that are gets; 0.5 = YCSB-A's even mix */
  readRatio: z.number().min(0).max(1).default(0.5),
  valueSizeBytes: z.number().int().min(0).max(MAX_VALUE_SIZE_BYTES).default(0),
  /** driver processes sharing the load (1 = in the harness process) */
  drivers: z.number().int().min(1).max(64).default(1),
  /**
   * the sites whose clients send the load (default: every site); without a topology each replica is its
   * own site, named by its id (r0, r1, ...). Checked against the sites in harness/run.ts.
   */
  clientSites: z.array(z.string().min(1)).min(1).optional(),
}

const workloadOptionsObject = z.object(workloadOptionFields)
type Fields = z.output<typeof workloadOptionsObject>
export type WorkloadOptions = Fields & {
  readonly durationMs: number
  readonly warmupMs: number
  readonly cooldownMs: number
  readonly seed: number
  readonly requestTimeoutMs: number
  readonly maxAttempts: number
  readonly maxOps: number
}

export const FIX_OF_WORKLOAD_OPTION: Readonly<Record<string, string>> = {
  clientsPerSite: 'give a whole number from 1 to 1000, like 8 (closed loop; or give a rate instead)',
  rateOpsPerSec: 'give ops per second in total, like 1000 (open loop; or give clients instead)',
  arrival: "use 'constant' or 'poisson'",
  maxOutstanding: 'give a whole number of commands from 1 to 100000, like 2000',
  thinkTimeMs: 'give milliseconds >= 0, like 0',
  ops: 'give a positive whole number of commands',
  keyDistribution: "use 'conflict', 'uniform', 'zipf' or 'hotspot'",
  conflict: 'give a fraction in [0, 1], like 0.1',
  sharedKeys: 'give a whole number of shared keys >= 1',
  privateKeysPerClient: 'give a whole number of private keys >= 1, like 16',
  keys: `give a whole number of keys from 1 to ${MAX_ZIPF_KEYS}, like 1000`,
  zipfTheta: 'give a number >= 0, like 0.99',
  hotKeyFraction: 'give a fraction in (0, 1], like 0.2',
  hotOpFraction: 'give a fraction in [0, 1], like 0.8',
  readRatio: 'give a fraction in [0, 1], like 0.5',
  valueSizeBytes: `give a whole number of bytes from 0 to ${MAX_VALUE_SIZE_BYTES}, like 100`,
  drivers: 'give a whole number of driver processes from 1 to 64, like 2',
  clientSites: "give a list of site names (replica ids like r1 without a topology), like ['r1', 'r2']",
}

/** A cross-field problem: the option it is about, what is wrong, the fix. */
export interface WorkloadOptionProblem {
  readonly field: string
  readonly problem: string
  readonly fix: string
}

/**
 * Cross-field rules; also fills what depends on the mode: an open loop with `ops` gets its duration.
 * Returns the options to run with, or the first problem.
 */
export function resolveWorkloadOptions<T extends WorkloadOptions>(o: T): T | WorkloadOptionProblem {
  if (o.clientsPerSite !== undefined && o.rateOpsPerSec !== undefined)
    return {
      field: 'rateOpsPerSec',
      problem: 'a rate (open loop) and clients per site (closed loop) were both given',
      fix: 'give --rate for an open loop or --clients for a closed loop, not both',
    }
  if (o.rateOpsPerSec === undefined) {
    if (o.cooldownMs > 0 && o.ops !== undefined)
      return {
        field: 'cooldownMs',
        problem: 'a closed loop with an op count has no scheduled end to trim a cool-down from',
        fix: 'drop the cool-down, or run for a duration instead of an op count',
      }
    return { ...o, clientsPerSite: o.clientsPerSite ?? DEFAULT_CLIENTS_PER_SITE }
  }
  if (o.thinkTimeMs > 0)
    return {
      field: 'thinkTimeMs',
      problem: 'think time is for a closed loop; an open loop sends on its schedule',
      fix: 'drop the think time, or use --clients',
    }
  if (o.ops === undefined) return o
  const durationMs = Math.ceil((o.ops / o.rateOpsPerSec) * 1000)
  if (o.warmupMs + o.cooldownMs >= durationMs)
    return {
      field: 'ops',
      problem: `${o.ops} ops at ${o.rateOpsPerSec} ops/s last ${durationMs} ms, not more than warm-up plus cool-down`,
      fix: 'give more ops or trim less',
    }
  return { ...o, durationMs }
}

export function keyDistributionOf(o: WorkloadOptions): KeyDistribution {
  switch (o.keyDistribution) {
    case 'conflict':
      return {
        kind: 'conflict',
        conflict: o.conflict,
        sharedKeys: o.sharedKeys,
        privateKeysPerClient: o.privateKeysPerClient,
      }
    case 'uniform':
      return { kind: 'uniform', keys: o.keys }
    case 'zipf':
      return { kind: 'zipf', keys: o.keys, theta: o.zipfTheta }
    case 'hotspot':
      return {
        kind: 'hotspot',
        keys: o.keys,
        hotKeyFraction: o.hotKeyFraction,
        hotOpFraction: o.hotOpFraction,
      }
  }
}

export function loadShapeOf(o: WorkloadOptions): LoadShape {
  if (o.rateOpsPerSec !== undefined)
    return {
      kind: 'open',
      rateOpsPerSec: o.rateOpsPerSec,
      arrival: o.arrival,
      maxOutstanding: o.maxOutstanding,
    }
  return {
    kind: 'closed',
    clientsPerSite: o.clientsPerSite ?? DEFAULT_CLIENTS_PER_SITE,
    thinkTimeMs: o.thinkTimeMs,
    opsPerClient: o.ops ?? null,
  }
}

export function loadSpecOf(
  o: WorkloadOptions,
  sites: readonly Site[],
  replicas: readonly ReplicaTarget[],
): LoadSpec {
  return {
    sites,
    replicas,
    workload: { keys: keyDistributionOf(o), readRatio: o.readRatio, valueSizeBytes: o.valueSizeBytes },
    shape: loadShapeOf(o),
    seed: o.seed,
    durationMs: o.durationMs,
    warmupMs: o.warmupMs,
    cooldownMs: o.cooldownMs,
    requestTimeoutMs: o.requestTimeoutMs,
    maxAttempts: o.maxAttempts,
    maxOps: o.maxOps,
  }
}

/** The workload figures of one cell in summary.json (results/README.md documents each). */
export interface LoadSummary {
  readonly load: {
    readonly mode: 'closed' | 'open'
    readonly clientsPerSite: number | null
    readonly thinkTimeMs: number | null
    readonly rateOpsPerSec: number | null
    readonly arrival: 'constant' | 'poisson' | null
    readonly maxOutstanding: number | null
    readonly ops: number | null
    readonly drivers: number
    /** the sites that sent load, when not every site did */
    readonly clientSites: readonly string[] | null
  }
  readonly workload: { readonly keyDistribution: KeyDistribution; readonly valueSizeBytes: number }
  readonly achievedConflict: number
  readonly arrivals: {
    readonly intended: number
    readonly intendedInWindow: number
    readonly sent: number
    readonly sentLate: number
    readonly intendedOpsPerSec: number
    readonly sentOpsPerSec: number
  } | null
  readonly drivers: ReadonlyArray<{
    readonly index: number
    readonly cpuUtilization: number
    readonly userUs: number
    readonly systemUs: number
    readonly wallUs: number
    readonly saturated: boolean
  }>
  readonly driverSaturated: boolean
}

export function loadSummaryOf(o: WorkloadOptions, load: LoadResult): LoadSummary {
  const shape = loadShapeOf(o)
  const windowSec = (load.windowEndUs - load.windowStartUs) / 1e6
  const inWindow = (op: HistoryOp) => op.invokeUs >= load.windowStartUs && op.invokeUs < load.windowEndUs
  const a = load.arrivals
  const sentInWindow = load.history.filter(inWindow).length
  return {
    load: {
      mode: shape.kind,
      clientsPerSite: shape.kind === 'closed' ? shape.clientsPerSite : null,
      thinkTimeMs: shape.kind === 'closed' ? shape.thinkTimeMs : null,
      rateOpsPerSec: shape.kind === 'open' ? shape.rateOpsPerSec : null,
      arrival: shape.kind === 'open' ? shape.arrival : null,
      maxOutstanding: shape.kind === 'open' ? shape.maxOutstanding : null,
      ops: o.ops ?? null,
      drivers: o.drivers,
      clientSites: o.clientSites ?? null,
    },
    workload: { keyDistribution: keyDistributionOf(o), valueSizeBytes: o.valueSizeBytes },
    achievedConflict: round4(achievedConflict(load.history, inWindow)),
    arrivals:
      a === null
        ? null
        : {
            ...a,
            intendedOpsPerSec: round1(a.intendedInWindow / windowSec),
            sentOpsPerSec: round1(sentInWindow / windowSec),
          },
    drivers: load.drivers.map((d) => ({
      index: d.driverIndex,
      cpuUtilization: round4(d.utilization),
      userUs: d.userUs,
      systemUs: d.systemUs,
      wallUs: d.wallUs,
      saturated: d.saturated,
    })),
    driverSaturated: load.drivers.some((d) => d.saturated),
  }
}

const round1 = (x: number) => (Number.isFinite(x) ? Math.round(x * 10) / 10 : 0)
const round4 = (x: number) => (Number.isFinite(x) ? Math.round(x * 1e4) / 1e4 : 0)

/**
 * `clientSites` against the run's site names: the first name that is not a site (or is named twice), as
 * a problem naming the valid ones; null when every name is a site. `run` names the run in the problem
 * (an experiment file checks each of its topologies: `topology epaxos-3`).
 */
export function clientSitesProblem(
  clientSites: readonly string[] | undefined,
  siteNames: readonly string[],
  run = 'this run',
): WorkloadOptionProblem | null {
  if (clientSites === undefined) return null
  const seen = new Set<string>()
  for (const name of clientSites) {
    if (!siteNames.includes(name))
      return {
        field: 'clientSites',
        problem: `'${name}' is not a site of ${run}`,
        fix: `name sites among: ${siteNames.join(', ')}`,
      }
    if (seen.has(name))
      return { field: 'clientSites', problem: `'${name}' is named twice`, fix: 'name each site once' }
    seen.add(name)
  }
  return null
}

/** The sites that send load: every site, or the ones `clientSites` names, in the run's site order. */
export function pickClientSites<S extends { readonly name: string }>(
  sites: readonly S[],
  clientSites: readonly string[] | undefined,
): S[] {
  return clientSites === undefined ? [...sites] : sites.filter((s) => clientSites.includes(s.name))
}
