/**
 * `run`: one measured run of one engine on real replica processes (the local launcher), as a library
 * call. The CLI (harness/commands/run.ts) is a thin layer over `runBenchmark`.
 *
 * Steps: validate -> new results dir (run.json, env.json, summary.json 'incomplete') -> per cell: start
 * replicas, wait for an agreed leader, load (workloads/: closed or open loop) with scheduled faults, read back every key,
 * stop replicas, write history / latency / check, update summary.json -> status 'complete'.
 * Today a run has one cell; the cell loop is where the matrix (engines x conflicts x repetitions) grows.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { z } from 'zod'
import { reportAfterRun } from '../dashboards/report.ts'
import type { NodeId } from '../engines/core/command.ts'
import { ConfigError } from '../engines/core/engine.ts'
import { engineNames, findEngine } from '../engines/registry.ts'
import { type RunClock, startRunClock } from '../workloads/clock.ts'
import type { Site } from '../workloads/executor.ts'
import type { HttpKvApi } from '../workloads/http-kv-api.ts'
import { summarizeLatency } from '../workloads/latency.ts'
import { type LoadResult, runLoad } from '../workloads/load.ts'
import { throughputTimeline, timelineToJsonl } from '../workloads/measure.ts'
import { ReplicaClients } from '../workloads/replica-client.ts'
import {
  clientSitesProblem,
  FIX_OF_WORKLOAD_OPTION,
  loadSpecOf,
  loadSummaryOf,
  pickClientSites,
  resolveWorkloadOptions,
  workloadOptionFields,
} from '../workloads/run-options.ts'
import { lostWrites, withAvailability } from './availability.ts'
import { type HistoryOp, historyToJsonl } from './check/history.ts'
import { checkHistory } from './check/linearizability.ts'
import { evaluateRunClaims } from './claims/index.ts'
import { referenceRows } from './claims/references.ts'
import { CliError, EXIT } from './exit-codes.ts'
import { BUILTIN_EXTERNAL_ENGINES } from './external/etcd.ts'
import { type ExternalCluster, missingProgram, startExternalCluster } from './external/launcher.ts'
import {
  type ExternalEngine,
  ExternalEngineError,
  externalConfig,
  externalDataDir,
  parseExternalEngine,
} from './external/schema.ts'
import { type FaultSpec, faultSpecSchema, resolveFaultSchedule } from './fault-spec.ts'
import {
  exitFaults,
  type RunningSchedule,
  runFaultSchedule,
  waitForAgreedLeader,
  withFaultEvents,
} from './faults.ts'
import { onInterrupt } from './launchers/cleanup.ts'
import { LAUNCHERS, startCluster } from './launchers/launch.ts'
import { REPO_ROOT } from './launchers/local.ts'
import type { Cluster, ReplicaExit } from './launchers/types.ts'
import { cellId, type MatrixPlan } from './matrix.ts'
import { readSummary, repetitionOf, TopologyRuns } from './matrix-run.ts'
import { NodeCostMeter, nodeCostFields } from './node-cost.ts'
import { realtimeCell } from './realtime.ts'
import { collectEnvironment } from './results/env.ts'
import { createResultsDir, writeJsonAtomic } from './results/results-dir.ts'
import type { CellSummary, CheckSummary, RunSummary, SiteSummary } from './results/summary.ts'
import {
  CellNetwork,
  calibrationLine,
  cellCalibrationTable,
  cellNetworkSummary,
  containerNetwork,
  defaultTopologyRunDeps,
  driverSites,
  expectedForCell,
  hostClientShaper,
  planTopologyRun,
  type TopologyPlan,
  TopologyPlanError,
  type TopologyRun,
  type TopologyRunDeps,
} from './topology-run.ts'

/** Invalid run options: `field` is the option name (the CLI maps it onto its flag). */
export class RunOptionError extends Error {
  readonly code = 'ERR_RUN_OPTION'
  constructor(
    readonly field: string,
    readonly problem: string,
    readonly fix: string,
  ) {
    super(`${field}: ${problem} (fix: ${fix})`)
    this.name = 'RunOptionError'
  }
}

export const runOptionsSchema = z.strictObject({
  engine: z.string().min(1),
  /** raw engine config, validated by the engine's parseConfig and handed to every replica */
  engineConfig: z.record(z.string(), z.unknown()).default({}),
  /** default 3, or one per site of the topology */
  replicas: z.number().int().min(1).max(50).optional(),
  /** a built-in topology name or a YAML path (netem/README.md); absent: every replica its own unshaped site */
  topology: z.string().min(1).optional(),
  /** put the leader on this site's first replica (through the engine's initialLeader) */
  leaderSite: z.string().min(1).optional(),
  /** probes per link in the calibration before a topology run */
  calibrationProbes: z.number().int().min(1).max(10_000).default(100),
  /** replicas and driver under SCHED_FIFO during the load (harness/realtime.ts) */
  realtime: z.boolean().default(false),
  /** the load (closed or open loop), keys, values, driver processes: workloads/run-options.ts */
  ...workloadOptionFields,
  durationMs: z.number().int().positive().default(10_000),
  warmupMs: z.number().int().nonnegative().default(1000),
  cooldownMs: z.number().int().nonnegative().default(0),
  /**
   * before the load, measure each replica's CPU with no load for this long (0: not measured); the
   * per-node cost then also gives the CPU per op above that idle baseline (harness/node-cost.ts)
   */
  idleBaselineMs: z.number().int().nonnegative().max(60_000).default(0),
  seed: z.number().int().default(1),
  requestTimeoutMs: z.number().int().positive().default(2000),
  maxAttempts: z.number().int().min(1).max(10).default(3),
  maxOps: z.number().int().positive().default(2_000_000),
  storage: z.enum(['file', 'memory']).default('file'),
  /** every replica holds each client command and peer message this long before its engine sees it
   * (engines/host/input-delay.ts): a known slowdown, for testing regression gates; 0 = none */
  processingDelayMs: z.number().nonnegative().max(60_000).default(0),
  /** the fault schedule (harness/fault-spec.ts); `random` entries are expanded from the seed */
  faults: z.array(faultSpecSchema).default([]),
  /** read every touched key once more after the load, into the checked history */
  readBack: z.boolean().default(true),
  /** build report.html and charts/ at the end (dashboards/report.ts); `consensus-bench report` does it later */
  report: z.boolean().default(true),
  checkTimeBudgetMs: z.number().int().positive().default(60_000),
  /** how long to wait for an agreed leader before the load starts */
  readyTimeoutMs: z.number().int().positive().default(20_000),
  resultsRoot: z.string().default(join(REPO_ROOT, 'results')),
  /** the replica program, relative to the repo root (tests use a fake); engine validation is then its job */
  hostEntry: z.string().optional(),
  /** local processes, or containers (docker/README.md) */
  launcher: z.enum(LAUNCHERS).default('local'),
  /**
   * An external engine's definition (harness/external/schema.ts), for `engine` names an experiment
   * declares; a built-in one (etcd) is found by its name without it.
   */
  external: z.unknown().optional(),
})

export type RunOptionsInput = z.input<typeof runOptionsSchema>
export type RunOptions = Omit<z.output<typeof runOptionsSchema>, 'replicas' | 'faults'> & {
  replicas: number
  /** fixed faults, sorted by time */
  faults: FaultSpec[]
}

export interface RunHooks {
  /** progress lines (the CLI writes them to stderr) */
  readonly progress?: (line: string) => void
  /** the command line that started the run, recorded in run.json */
  readonly argv?: readonly string[]
  /** the shaper and the probing for a topology run; default netem/choose.ts and netem/calibrate.ts */
  readonly network?: TopologyRunDeps
}

export interface RunResult {
  readonly dir: string
  readonly summary: RunSummary
}

/** What a valid value of each option looks like: the fix a RunOptionError (and the CLI) gives. */
const FIX_OF_OPTION: Readonly<Record<string, string>> = {
  engine: 'give an engine name (see `consensus-bench engines`)',
  engineConfig: 'give a JSON object of engine config fields',
  replicas: 'give a whole number from 1 to 50, like 3',
  ...FIX_OF_WORKLOAD_OPTION,
  topology: 'give a built-in topology (see `consensus-bench topologies`) or a YAML file path',
  leaderSite: 'give a site of the topology',
  calibrationProbes: 'give a whole number of probes per link from 1 to 10000, like 100',
  realtime: 'give true or false',
  durationMs: 'give a positive whole number of milliseconds, like 10000 (10s)',
  warmupMs: 'give a whole number of milliseconds >= 0, like 1000 (1s)',
  cooldownMs: 'give a whole number of milliseconds >= 0, like 0',
  idleBaselineMs: 'give a whole number of milliseconds from 0 to 60000, like 2000 (2s); 0 skips it',
  seed: 'give an integer seed, like 1',
  requestTimeoutMs: 'give a positive whole number of milliseconds, like 2000 (2s)',
  maxAttempts: 'give a whole number from 1 to 10, like 3',
  maxOps: 'give a positive whole number of commands',
  storage: "use 'file' or 'memory'",
  processingDelayMs: 'give a duration from 0 to 60s, like 5ms (0: no delay)',
  faults:
    "give faults like {kind: 'kill', atMs: 3000, replica: 'r1', restartAfterMs: 2000}, {kind: 'kill-leader', atMs}, {kind: 'partition', atMs, sides: [['r0'], ['r1', 'r2']]}, {kind: 'slow', atMs, replica, delayMs}, {kind: 'pause', atMs, replica, forMs} (harness/README.md)",
  readBack: 'give true or false',
  report: 'give true or false',
  checkTimeBudgetMs: 'give a positive whole number of milliseconds',
  readyTimeoutMs: 'give a positive whole number of milliseconds',
  resultsRoot: 'give a directory path',
  hostEntry: 'give a path relative to the repo root',
  launcher: "use 'local' or 'compose'",
  external: 'give an external engine definition (harness/external/README.md)',
}

/**
 * Why partitions and slow links cannot run with these options, or null when the run's shapers take them
 * (local: the cell's shaped network; compose: the host's relay for client links, the sidecars for the
 * replicas' links).
 */
function linkFaultsUnavailable(o: { topology?: string | undefined }) {
  if (o.topology === undefined)
    return {
      problem: 'needs the link shaper of a topology run',
      fix: 'give a topology (lan has near-zero delays), or use pause/kill faults',
    }
  return null
}

/** An engine's config with every default filled in (as given for a fake host or an unknown engine). */
function resolvedEngineConfig(o: RunOptions): unknown {
  return o.hostEntry === undefined
    ? (findEngine(o.engine)?.parseConfig(o.engineConfig) ?? null)
    : o.engineConfig
}

/** Validates and fills in defaults; throws RunOptionError naming the option and the fix. */
export function resolveRunOptions(input: RunOptionsInput): RunOptions {
  const parsed = runOptionsSchema.safeParse(input)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    const field = issue.path.map(String).join('.') || '(options)'
    const top = issue.path[0]
    const fix =
      issue.code === 'unrecognized_keys'
        ? `remove it; the options are: ${Object.keys(runOptionsSchema.shape).join(', ')}`
        : ((typeof top === 'string' ? FIX_OF_OPTION[top] : undefined) ?? 'see `consensus-bench run --help`')
    throw new RunOptionError(field, issue.message, fix)
  }
  const w = resolveWorkloadOptions(parsed.data)
  if ('problem' in w) throw new RunOptionError(w.field, w.problem, w.fix)
  const o: RunOptions = { ...w, replicas: parsed.data.replicas ?? 3, faults: [] }
  if (o.leaderSite !== undefined && o.topology === undefined)
    throw new RunOptionError('leaderSite', 'a leader site needs a topology', 'give --topology as well')
  const plan = o.topology !== undefined ? planFromOptions(o, parsed.data.replicas) : null
  if (plan !== null) {
    o.replicas = plan.placement.replicas.length
    o.engineConfig = { ...plan.engineConfig }
  }
  // the sites a run's clients can be at: a topology's client groups, else one per replica (its id)
  const siteNames =
    plan !== null
      ? driverSites(plan).map((s) => s.name)
      : Array.from({ length: o.replicas }, (_, i) => `r${i}`)
  const sitesProblem = clientSitesProblem(o.clientSites, siteNames)
  if (sitesProblem !== null)
    throw new RunOptionError(sitesProblem.field, sitesProblem.problem, sitesProblem.fix)
  if (o.warmupMs + o.cooldownMs >= o.durationMs) {
    throw new RunOptionError('durationMs', 'shorter than warm-up plus cool-down', 'run longer or trim less')
  }
  const schedule = resolveFaultSchedule(parsed.data.faults, {
    replicas: o.replicas,
    durationMs: o.durationMs,
    linkFaultsUnavailable: linkFaultsUnavailable(o),
    seed: o.seed,
  })
  if ('problem' in schedule)
    throw new RunOptionError(`faults.${schedule.index}`, schedule.problem, schedule.fix)
  o.faults = schedule.faults
  const external = externalOf(o)
  if (external !== null) {
    const missing = missingProgram(o.engine, external)
    if (missing !== null) throw new CliError(missing, EXIT.missingEnvironment)
    if (o.launcher !== 'local')
      throw new RunOptionError(
        'launcher',
        'an external engine runs on the local launcher only',
        'use --launcher local',
      )
    if (o.leaderSite !== undefined && (external.moveLeader === undefined || external.leader === undefined))
      throw new RunOptionError(
        'leaderSite',
        `${o.engine} is an external system with no leader and moveLeader requests: it elects its own leader`,
        'drop --leader-site (the expectation follows the leader it elects)',
      )
    try {
      externalConfig(external, o.engineConfig)
    } catch (err: unknown) {
      if (err instanceof ExternalEngineError)
        throw new RunOptionError(`engineConfig.${err.field.replace(/^config\./, '')}`, err.problem, err.fix)
      throw err
    }
  } else if (o.hostEntry === undefined) {
    const engine = findEngine(o.engine)
    if (engine === undefined) {
      throw new RunOptionError(
        'engine',
        `unknown engine '${o.engine}'`,
        `use one of: ${engineNames().join(', ') || '(none registered)'}`,
      )
    }
    try {
      engine.parseConfig(o.engineConfig)
    } catch (err: unknown) {
      if (err instanceof ConfigError) {
        // ConfigError's message is `<field>: <problem> (fix: <fix>)`; keep the problem alone
        const problem = err.message.replace(`${err.field}: `, '').replace(` (fix: ${err.fix})`, '')
        throw new RunOptionError(`engineConfig.${err.field}`, problem, err.fix)
      }
      throw err
    }
  }
  return o
}

/**
 * The external engine a run drives: the definition given with the options, else a built-in one by the
 * engine's name (etcd), else null (one of our engines).
 */
export function externalOf(o: {
  readonly engine: string
  readonly external?: unknown
}): ExternalEngine | null {
  if (o.external !== undefined) {
    try {
      return parseExternalEngine(o.external)
    } catch (err: unknown) {
      if (err instanceof ExternalEngineError)
        throw new RunOptionError(`external.${err.field}`, err.problem, err.fix)
      throw err
    }
  }
  return BUILTIN_EXTERNAL_ENGINES[o.engine] ?? null
}

/** The topology plan of a run (harness/topology-run.ts), its errors as RunOptionErrors. */
function planFromOptions(o: RunOptions, replicas: number | undefined): TopologyPlan {
  try {
    return planTopologyRun({
      topology: o.topology!,
      leaderSite: o.leaderSite,
      replicas,
      engine: o.hostEntry === undefined ? findEngine(o.engine) : undefined,
      engineName: o.engine,
      engineConfig: o.engineConfig,
      leaderByConfig: externalOf(o) === null,
    })
  } catch (err: unknown) {
    if (err instanceof TopologyPlanError) throw new RunOptionError(err.field, err.problem, err.fix)
    throw err
  }
}

export { cellId }

/** A one-cell run from flags: the matrix of one engine, one topology, one conflict rate, one repetition. */
export async function runBenchmark(input: RunOptionsInput, hooks: RunHooks = {}): Promise<RunResult> {
  const options = resolveRunOptions(input)
  const topology = options.topology ?? 'lan'
  return runMatrix(
    {
      name: options.engine,
      cells: [
        { id: cellId(options.engine, topology, options.conflict, 1), label: options.engine, options: input },
      ],
      claims: false,
      notes: [],
    },
    hooks,
  )
}

/**
 * Runs a matrix's cells in one results directory (a new one, or `resumeDir`'s, skipping the cells its
 * summary.json already holds). summary.json is rewritten after each cell and says 'incomplete' until
 * the last one; then the claims (when the plan asks) and report.html.
 */
export async function runMatrix(
  plan: MatrixPlan,
  hooks: RunHooks = {},
  resumeDir?: string,
): Promise<RunResult> {
  // every cell is validated before anything starts: a typo in the last cell must not cost the first ones
  const resolved = plan.cells.map((c) => ({ ...c, resolved: resolveRunOptions(c.options) }))
  const first = resolved[0]
  if (first === undefined)
    throw new RunOptionError('cells', 'the matrix has no cells', 'give engines and conflict rates')
  const progress = hooks.progress ?? (() => {})
  const root = first.resolved.resultsRoot
  const startedAt = new Date()
  const dir = resumeDir ?? createResultsDir(root, plan.name, startedAt)
  const runId = relative(root, dir)
  let summary: RunSummary
  if (resumeDir === undefined) {
    writeJsonAtomic(join(dir, 'run.json'), {
      runId,
      command: 'run',
      argv: hooks.argv ?? null,
      options: { ...first.resolved, resultsRoot: undefined },
      engineConfigResolved: resolvedEngineConfig(first.resolved),
      // per engine or variant label: what the regression gate compares with a baseline's
      engineConfigsResolved: Object.fromEntries(
        resolved.map((c) => [
          c.label,
          { engine: c.resolved.engine, config: resolvedEngineConfig(c.resolved) },
        ]),
      ),
      topology: first.resolved.topology ?? 'lan',
      startedAt: startedAt.toISOString(),
      plan,
    })
    writeJsonAtomic(join(dir, 'env.json'), collectEnvironment(REPO_ROOT))
    summary = { status: 'incomplete', runId, startedAt: startedAt.toISOString(), finishedAt: null, cells: [] }
    writeJsonAtomic(join(dir, 'summary.json'), summary)
  } else {
    summary = { ...readSummary(dir), status: 'incomplete', finishedAt: null }
  }
  progress(`results: ${dir}`)
  for (const note of plan.notes) progress(`note: ${note}`)
  const done = new Set(summary.cells.map((c) => c.id))
  const todo = resolved.filter((c) => !done.has(c.id))
  if (resumeDir !== undefined) progress(`resume: ${done.size} cells done, ${todo.length} to run`)
  const network = new TopologyRuns(hooks.network ?? defaultTopologyRunDeps(), progress, dir, (o) =>
    planFromOptions(o, o.replicas),
  )
  let n = done.size
  for (const cell of todo) {
    n++
    progress(`cell ${n}/${plan.cells.length}: ${cell.id}`)
    const options = cell.resolved
    const topology = await network.prepare(options)
    const result = await runCell(options, dir, cell.id, repetitionOf(cell.id), progress, topology)
    const labelled: CellSummary = cell.label === options.engine ? result : { ...result, variant: cell.label }
    summary = { ...summary, cells: [...summary.cells, labelled] }
    writeJsonAtomic(join(dir, 'summary.json'), summary)
  }
  summary = { ...summary, status: 'complete', finishedAt: new Date().toISOString() }
  if (plan.claims) summary = { ...summary, claims: evaluateRunClaims(plan, summary.cells) }
  const references = referenceRows(summary.cells)
  if (references.length > 0) summary = { ...summary, references }
  writeJsonAtomic(join(dir, 'summary.json'), summary)
  // report.html and charts/; a failure is recorded in summary.reportError, never thrown over the results
  if (first.resolved.report) summary = await reportAfterRun(dir, summary, progress)
  return { dir, summary }
}

async function runCell(
  options: RunOptions,
  runDir: string,
  id: string,
  repetition: number,
  progress: (line: string) => void,
  topology: TopologyRun | null,
): Promise<CellSummary> {
  const cellDir = join(runDir, 'cells', id)
  const replicaDir = join(cellDir, 'replicas')
  mkdirSync(replicaDir, { recursive: true })
  const clock = startRunClock()
  const stopLoad = new AbortController()

  progress(`${id}: starting ${options.replicas} ${options.engine} replicas`)
  let cluster: Cluster | null = null
  let meter: NodeCostMeter | null = null
  // compose: the host shapes the client links only; the containers' sidecars shape the replicas' links
  const inContainers = options.launcher === 'compose'
  const network =
    topology === null
      ? null
      : inContainers
        ? new CellNetwork(topology.plan, hostClientShaper(topology.choice), 'clients')
        : new CellNetwork(topology.plan, topology.choice.shaper)
  // SIGINT/SIGTERM: stop issuing load, stop the replicas and the shaper; summary.json says 'incomplete'
  const removeHook = onInterrupt(async () => {
    stopLoad.abort()
    await cluster?.stop()
    await network?.close()
  })
  const external = externalOf(options)
  const reportUnexpectedExit = (noun: 'member' | 'replica') => (exit: ReplicaExit) => {
    if (!exit.expected)
      progress(
        `${id}: ${noun} ${exit.replica} exited unexpectedly (code ${exit.exitCode}, signal ${exit.signal})`,
      )
  }
  try {
    cluster =
      external !== null
        ? await startExternalCluster({
            engine: options.engine,
            definition: external,
            config: externalConfig(external, options.engineConfig),
            dataDir: externalDataDir(external, options.engineConfig, options.storage),
            replicas: options.replicas,
            logDir: replicaDir,
            clock,
            ...(network !== null ? { network: network.externalPeers } : {}),
            onExit: reportUnexpectedExit('member'),
          })
        : await startCluster(options.launcher, {
            engine: options.engine,
            engineConfig: options.engineConfig,
            replicas: options.replicas,
            seed: options.seed,
            storage: options.storage,
            ...(options.processingDelayMs > 0 ? { processingDelayMs: options.processingDelayMs } : {}),
            logDir: replicaDir,
            clock,
            ...(options.hostEntry !== undefined ? { hostEntry: options.hostEntry } : {}),
            ...(network !== null ? { peerAddresses: network.peerAddresses } : {}),
            ...(topology !== null && network !== null && inContainers
              ? { containerNetwork: containerNetwork(topology, network, options.calibrationProbes) }
              : {}),
            onExit: reportUnexpectedExit('replica'),
          })
    const cellCalibration =
      topology !== null && cluster.calibration !== undefined
        ? cellCalibrationTable(topology, cluster.calibration)
        : undefined
    if (cellCalibration !== undefined && topology !== null) {
      writeJsonAtomic(join(cellDir, 'calibration.json'), cellCalibration)
      progress(calibrationLine(id, cellNetworkSummary(topology, null, { calibration: cellCalibration })))
    }
    if (cluster.shaperPriority !== undefined) progress(`${id}: container shapers: ${cluster.shaperPriority}`)
    // a leaderless engine (classic Paxos, EPaxos) never names one: do not wait readyTimeoutMs for it
    const leaderless =
      external !== null
        ? external.leader === undefined
        : findEngine(options.engine)?.leadership === 'leaderless'
    let leader = leaderless ? null : await waitForAgreedLeader(cluster, options.readyTimeoutMs)
    // an external system elects its own leader: move it to --leader-site's member (etcd: transfer-leadership)
    const placed = topology?.plan.placement.leader ?? null
    if (external !== null && placed !== null && leader !== placed && 'moveLeader' in cluster) {
      progress(`${id}: leader ${leader}, moving it to ${placed}`)
      leader = await (cluster as ExternalCluster).moveLeader(placed, options.readyTimeoutMs)
    }
    progress(
      `${id}: replicas ready${leader !== null ? `, leader ${leader}` : leaderless ? ' (leaderless engine)' : ', no agreed leader (starting anyway)'}`,
    )

    const sites: Site[] = pickClientSites(
      topology === null
        ? cluster.replicas.map((r) => ({ name: r.id, replica: r.id }))
        : withSiteTargets(driverSites(topology.plan), network?.replicasBySite()),
      options.clientSites,
    )
    const expected =
      topology === null
        ? null
        : external !== null
          ? external.model === undefined
            ? null
            : expectedForCell(topology, { engine: external.model, engineConfig: {} }, leader)
          : expectedForCell(topology, options, leader)
    const targets = cluster.replicas.map((r) => ({ id: r.id, clientUrl: r.clientUrl }))
    // /metrics at the measured window's edges (harness/node-cost.ts): a busy replica is waited for up
    // to SCRAPE_POLICY.deadlineMs; one that has not answered by then is named missing, with the reason
    meter = new NodeCostMeter(cluster.replicas, () => clock.nowUs())
    if (options.idleBaselineMs > 0) {
      const idle = await meter.measureIdle(options.idleBaselineMs)
      const rates = [...idle.usPerSec].map(([r, us]) => `${r} ${us === null ? '?' : (us / 1000).toFixed(1)}`)
      progress(`${id}: idle CPU over ${idle.windowMs} ms, ms per s: ${rates.join(', ')}`)
      throwIfInterrupted(stopLoad.signal, id)
    }
    let completed = 0
    const startUs = clock.nowUs()
    const ticker = setInterval(() => {
      progress(`${id}: ${Math.round((clock.nowUs() - startUs) / 1e6)} s, ${completed} commands`)
    }, 1000)
    // One origin: the load's start as runLoad announces it (onStart, shared by every driver process,
    // which may take a while to start). Fault times count from it, and it is load.startUs: the
    // timeline's second 0, summary.json loadStartUs and so the charts' time axis.
    let schedule: RunningSchedule | null = null
    const startFaults = (loadStartUs: number) => {
      const live = cluster
      if (live === null) return
      schedule = runFaultSchedule(
        options.faults,
        live,
        clock,
        loadStartUs,
        stopLoad.signal,
        network?.faultNetwork(live.linkControl) ?? null,
        (line) => progress(`${id}: ${line}`),
      )
    }
    const realtime = options.realtime ? realtimeCell(cluster) : null
    if (realtime !== null) progress(`${id}: real-time priority: ${realtime.detail}`)
    let load: LoadResult
    try {
      load = await runLoad(
        { ...loadSpecOf(options, sites, targets), api: external?.api },
        {
          drivers: options.drivers,
          clock,
          signal: stopLoad.signal,
          onCompleted: (n) => {
            completed += n
          },
          onStart: (loadStartUs) => {
            startFaults(loadStartUs)
            meter?.schedule(
              loadStartUs + options.warmupMs * 1000,
              loadStartUs + (options.durationMs - options.cooldownMs) * 1000,
            )
          },
        },
      )
    } finally {
      clearInterval(ticker)
      realtime?.restore()
      // faults still on end now (restart, heal, resume): the read-back needs the cluster back
      ;(schedule as RunningSchedule | null)?.end()
    }
    const cost = await meter.finish(load.history)
    const scheduled = await ((schedule as RunningSchedule | null)?.done ?? [])
    throwIfInterrupted(stopLoad.signal, id)
    const history = [...load.history]
    let readBack = { keys: 0, ok: 0 }
    if (options.readBack) {
      const back = await readBackKeys(
        cluster,
        history,
        clock,
        options.requestTimeoutMs,
        external?.api ?? null,
      )
      history.push(...back.ops)
      readBack = { keys: back.ops.length, ok: back.ops.filter((op) => op.outcome === 'ok').length }
      progress(
        `${id}: read back ${readBack.ok}/${readBack.keys} keys` +
          (back.gaveUp ? ` (stopped: ${READ_BACK_MAX_MISSES} keys in a row timed out)` : ''),
      )
    }
    await cluster.stop()
    // the interrupt hook stops the replicas too: a read-back against them measured nothing
    throwIfInterrupted(stopLoad.signal, id)
    // the load's commands only: a read-back after the load says nothing about how fast service came back
    const faults = [
      ...withAvailability(
        scheduled,
        load.records,
        sites.map((s) => s.name),
        load.endUs,
      ),
      ...exitFaults(cluster.exits),
    ].sort((a, b) => a.atUs - b.atUs)
    const lost = lostWrites(history)
    if (faults.length > 0)
      progress(
        `${id}: acknowledged writes lost: ${lost.lost} of ${lost.keysChecked} keys read back` +
          faults
            .flatMap((f) =>
              'recoveryMsBySite' in f && f.recoveryMsBySite !== undefined
                ? [
                    `; ${f.description}: sites commit again after ${Object.entries(f.recoveryMsBySite)
                      .map(([s, v]) => `${s} ${v ?? 'never'}`)
                      .join(', ')} ms`,
                  ]
                : [],
            )
            .join(''),
      )

    writeFileSync(join(cellDir, 'history.jsonl'), historyToJsonl(history))
    writeFileSync(
      join(cellDir, 'latency.hlog'),
      load.latency.toHlog(clock.zeroEpochMs, load.windowStartUs / 1e6, load.windowEndUs / 1e6),
    )
    writeFileSync(
      join(cellDir, 'timeline.jsonl'),
      timelineToJsonl(
        withFaultEvents(throughputTimeline(load.records, load.startUs, load.endUs), faults, load.startUs),
      ),
    )
    const loadSummary = loadSummaryOf(options, load)
    if (loadSummary.driverSaturated)
      progress(
        `${id}: a driver process was CPU-saturated: the figures may be the driver's limit (try --drivers)`,
      )
    progress(`${id}: checking linearizability of ${history.length} commands`)
    const check = checkLinearizable(history, options.checkTimeBudgetMs)
    writeJsonAtomic(join(cellDir, 'check.json'), check.full)
    progress(`${id}: ${check.summary.verdict} (${check.summary.elapsedMs} ms)`)

    const windowSec = (Math.min(load.windowEndUs, load.endUs) - load.windowStartUs) / 1e6
    const opsCompleted = [...load.measuredOpsBySite.values()].reduce((a, b) => a + b, 0)
    const siteSummaries: Record<string, SiteSummary> = {}
    for (const site of sites) {
      const ops = load.measuredOpsBySite.get(site.name) ?? 0
      siteSummaries[site.name] = {
        ops,
        throughputOpsPerSec: round(ops / windowSec),
        latencyUs: summarizeLatency(load.latency.merged(site.name)),
        ...(expected?.[site.name] !== undefined ? { expectedLatencyMs: expected[site.name] } : {}),
      }
    }
    return {
      id,
      state: 'complete',
      engine: options.engine,
      ...(external !== null ? { external: { model: external.model ?? null } } : {}),
      topology: topology?.plan.topology.name ?? 'lan',
      conflict: options.conflict,
      readRatio: options.readRatio,
      ...(options.processingDelayMs > 0 ? { processingDelayMs: options.processingDelayMs } : {}),
      repetition,
      replicas: options.replicas,
      clientsPerSite: options.clientsPerSite ?? null,
      durationMs: options.durationMs,
      warmupMs: options.warmupMs,
      cooldownMs: options.cooldownMs,
      loadStartUs: load.startUs,
      opsCompleted,
      opsRecorded: history.length,
      throughputOpsPerSec: round(opsCompleted / windowSec),
      latencyUs: summarizeLatency(load.latency.merged()),
      latencyUsByOp: {
        get: summarizeLatency(load.latency.merged(undefined, 'get')),
        put: summarizeLatency(load.latency.merged(undefined, 'put')),
      },
      sites: siteSummaries,
      ...loadSummary,
      check: check.summary,
      faults,
      errors: { ...load.errors },
      readBack,
      lostWrites: lost,
      truncated: load.truncated,
      ...nodeCostFields(cost, leader),
      ...(topology !== null
        ? {
            network: cellNetworkSummary(topology, leader, {
              calibration: cellCalibration,
              shaperPriority: cluster.shaperPriority,
            }),
          }
        : {}),
      files: {
        history: relative(runDir, join(cellDir, 'history.jsonl')),
        check: relative(runDir, join(cellDir, 'check.json')),
        latency: relative(runDir, join(cellDir, 'latency.hlog')),
        timeline: relative(runDir, join(cellDir, 'timeline.jsonl')),
        replicas: relative(runDir, replicaDir),
      },
    }
  } finally {
    meter?.cancel()
    removeHook()
    await cluster?.stop()
    await network?.close()
  }
}

/**
 * Only the SIGINT/SIGTERM hook aborts the load. Its process.exit comes after a bounded stop of the
 * replicas, so the cell could otherwise run on and be written (and the run marked 'complete') first.
 */
function throwIfInterrupted(signal: AbortSignal, cell: string): void {
  if (signal.aborted) throw new Error(`${cell}: interrupted (SIGINT/SIGTERM); the results stay incomplete`)
}

/**
 * With no quorum every read-back key costs a timeout at every live replica (hundreds of keys x 2 s
 * each): after this many keys in a row that timed out without an answer the read-back stops. The ops it has recorded
 * stay in the history; a key not read back is only a check not made, never a wrong one.
 */
const READ_BACK_MAX_MISSES = 3

/** One get per key the load touched, sequential, at any replica still running: these complete the history. */
async function readBackKeys(
  cluster: Cluster,
  history: readonly HistoryOp[],
  clock: RunClock,
  timeoutMs: number,
  api: HttpKvApi | null,
): Promise<{ ops: HistoryOp[]; gaveUp: boolean }> {
  const keys = [...new Set(history.map((op) => op.key))].sort()
  const live = cluster.replicas.filter((r) => r.running())
  const clients = new ReplicaClients(
    live.map((r) => ({ id: r.id, clientUrl: r.clientUrl })),
    null,
    api,
  )
  const out: HistoryOp[] = []
  let misses = 0
  try {
    let seq = 0
    for (const key of keys) {
      if (misses >= READ_BACK_MAX_MISSES) return { ops: out, gaveUp: true }
      seq++
      const invokeUs = clock.nowUs()
      let done: HistoryOp | null = null
      let uncertain = false
      let timedOut = false
      for (let attempt = 0; attempt < live.length && done === null; attempt++) {
        const replica: NodeId = live[(seq + attempt) % live.length]!.id
        const r = await clients.attempt(
          replica,
          { client: 'readback', seq, op: 'get', key, value: null },
          timeoutMs,
        )
        if (r.kind === 'ok') {
          done = {
            client: 'readback',
            seq,
            key,
            op: 'get',
            value: r.value,
            invokeUs,
            completeUs: clock.nowUs(),
            outcome: 'ok',
          }
        } else if (r.kind === 'timeout' || r.kind === 'error') uncertain = true
        if (r.kind === 'timeout') timedOut = true
      }
      // only a key that cost a timeout counts: fast refusals are cheap (and may be a passing election)
      misses = done === null && timedOut ? misses + 1 : 0
      out.push(
        done ?? {
          client: 'readback',
          seq,
          key,
          op: 'get',
          value: null,
          invokeUs,
          completeUs: uncertain ? null : clock.nowUs(),
          outcome: uncertain ? 'unknown' : 'fail',
        },
      )
    }
  } finally {
    await clients.close()
  }
  return { ops: out, gaveUp: false }
}

interface CheckOutcome {
  readonly summary: CheckSummary
  readonly full: unknown
}

/** The checker's verdict on the whole history (synchronous: it runs after the replicas have stopped). */
function checkLinearizable(history: readonly HistoryOp[], timeBudgetMs: number): CheckOutcome {
  const result = checkHistory(history, { timeBudgetMs })
  const elapsedMs = Math.round(result.elapsedMs)
  const detail =
    result.verdict === 'violation'
      ? `key ${result.violation?.key}: ${result.violation?.message}`
      : result.verdict === 'unknown'
        ? `time budget of ${timeBudgetMs} ms ran out on ${result.unknownKeys?.length ?? 0} keys`
        : undefined
  const summary: CheckSummary = {
    verdict: result.verdict,
    elapsedMs,
    ...(detail !== undefined ? { detail } : {}),
  }
  return { summary, full: result }
}

function round(x: number): number {
  return Number.isFinite(x) ? Math.round(x * 10) / 10 : 0
}

/** A topology run's clients dial their site's shaped addresses (the link shaper's) for every replica. */
function withSiteTargets(
  sites: readonly Site[],
  bySite: ReadonlyMap<string, ReadonlyArray<{ readonly id: NodeId; readonly clientUrl: string }>> | undefined,
): Site[] {
  return sites.map((site) => {
    const targets = bySite?.get(site.name)
    return targets === undefined ? { ...site } : { ...site, targets: [...targets] }
  })
}
