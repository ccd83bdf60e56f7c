/**
 * The election experiment (experiments/raft-election.yaml, after Ongaro & Ousterhout ATC'14 Fig. 16):
 * for each engine and election-timeout range, the time from a leader crash to a new leader, as a CDF.
 *
 * - Simulator (engines/sim/election.ts): `simTrials` trials per (engine, range), one-way delays uniform
 *   in broadcastMs/2 +- 0.5 ms, timers firing up to 1 ms late.
 * - Real processes: for `realRanges`, `realTrials` trials on 5 local replicas whose every link has an
 *   RTT of broadcastMs through the link shaper. Each trial waits for a leader every replica names, waits
 *   settle + a uniform time in [0, heartbeat), SIGKILLs the leader, polls the survivors' /health every
 *   few ms until one says it leads, then restarts the killed replica for the next trial.
 *
 * The heartbeat of each range is half its minimum timeout, as in the paper. Engines name these knobs
 * differently (`ELECTION_KNOBS`); an engine without them cannot be in the experiment.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { TopLevelSpec } from 'vega-lite'
import { CONFIG } from '../dashboards/specs/common.ts'
import type { NodeId } from '../engines/core/command.ts'
import { Rng } from '../engines/core/runtime/rng.ts'
import { findEngine } from '../engines/registry.ts'
import { electionTrials } from '../engines/sim/election.ts'
import type { Experiment } from '../experiments/schema.ts'
import { raiseToRealtime } from '../netem/priority.ts'
import { startRunClock } from '../workloads/clock.ts'
import { parseDurationMs } from './commands/run.ts'
import { waitForAgreedLeader } from './faults.ts'
import { onInterrupt } from './launchers/cleanup.ts'
import { startCluster } from './launchers/launch.ts'
import { REPO_ROOT } from './launchers/local.ts'
import type { Cluster } from './launchers/types.ts'
import { collectEnvironment } from './results/env.ts'
import { createResultsDir, writeJsonAtomic } from './results/results-dir.ts'
import { CellNetwork, defaultTopologyRunDeps, planTopologyRun, prepareTopologyRun } from './topology-run.ts'

/** Per engine: its config fields for the timeout range and the heartbeat. */
export const ELECTION_KNOBS: Readonly<Record<string, { min: string; max: string; heartbeat: string }>> = {
  raft: { min: 'electionTimeoutMsMin', max: 'electionTimeoutMsMax', heartbeat: 'heartbeatIntervalMs' },
  vr: { min: 'viewChangeTimeoutMsMin', max: 'viewChangeTimeoutMsMax', heartbeat: 'commitIntervalMs' },
  multipaxos: { min: 'leaderTimeoutMsMin', max: 'leaderTimeoutMsMax', heartbeat: 'heartbeatIntervalMs' },
  ios: { min: 'masterTimeoutMsMin', max: 'masterTimeoutMsMax', heartbeat: 'heartbeatIntervalMs' },
}

export interface ElectionRange {
  readonly minMs: number
  readonly maxMs: number
}

export const rangeLabel = (r: ElectionRange) => `${r.minMs}-${r.maxMs}`

/** '150-300' -> {minMs: 150, maxMs: 300}; null when it is not `<min>-<max>` with min <= max. */
export function parseRange(text: string): ElectionRange | null {
  const m = /^(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)$/.exec(text)
  if (m === null) return null
  const r = { minMs: Number(m[1]), maxMs: Number(m[2]) }
  return r.minMs > 0 && r.minMs <= r.maxMs ? r : null
}

export interface ElectionPlan {
  readonly name: string
  readonly engines: readonly string[]
  readonly engineConfig: Readonly<Record<string, Readonly<Record<string, unknown>>>>
  readonly ranges: readonly ElectionRange[]
  readonly realRanges: readonly ElectionRange[]
  readonly replicas: number
  readonly broadcastMs: number
  readonly simTrials: number
  readonly realTrials: number
  readonly settleMs: number
  /** replicas under SCHED_FIFO (harness/realtime.ts): on a loaded host, scheduling delay is not the protocol's */
  readonly realtime: boolean
  readonly seed: number
  /** a topology (YAML path or built-in) whose links all have an RTT of broadcastMs */
  readonly topology: string
  readonly resultsRoot: string
}

/** The plan of an experiment file with an `election` block (experiments/schema.ts validated it). */
export function electionPlanOf(e: Experiment, resultsRoot: string): ElectionPlan {
  const election = e.election!
  const engines =
    e.engines === 'all'
      ? Object.keys(ELECTION_KNOBS)
      : e.engines.map((x) => (typeof x === 'string' ? x : x.engine))
  return {
    name: e.name,
    engines,
    engineConfig: e.engineConfig,
    ranges: election.ranges.map((r) => parseRange(r)!),
    realRanges: election.realRanges.map((r) => parseRange(r)!),
    replicas: e.placement.replicas ?? 5,
    broadcastMs: election.broadcastMs,
    simTrials: election.simTrials,
    realTrials: election.realTrials,
    settleMs: parseDurationMs(election.settle, true)!,
    realtime: election.realtime,
    seed: e.seed,
    topology: e.topology ?? 'experiments/topologies/fig16-5.yaml',
    resultsRoot,
  }
}

/** The engine's config for a range: the range, heartbeat = min / 2, over the experiment's config. */
export function electionConfig(
  engine: string,
  range: ElectionRange,
  base: Readonly<Record<string, unknown>> = {},
): Record<string, unknown> {
  const k = ELECTION_KNOBS[engine]
  if (k === undefined) throw new Error(`engine '${engine}' has no election timeout knobs`)
  return { ...base, [k.min]: range.minMs, [k.max]: range.maxMs, [k.heartbeat]: range.minMs / 2 }
}

export interface TrialSet {
  readonly engine: string
  readonly range: string
  readonly runtime: 'sim' | 'real'
  readonly trials: number
  /** ms from the crash to a new leader, sorted; trials with no new leader are left out */
  readonly electedMs: readonly number[]
  /** trials with no new leader within the limit (sim) or the wait (real) */
  readonly notElected: number
  readonly p50Ms: number | null
  readonly p90Ms: number | null
  readonly p99Ms: number | null
  readonly maxMs: number | null
  /** why the trials stopped early (a cluster that did not start, no agreed leader) */
  readonly problem?: string
}

function trialSet(
  engine: string,
  range: ElectionRange,
  runtime: 'sim' | 'real',
  values: readonly (number | null)[],
): TrialSet {
  const elected = values.filter((v): v is number => v !== null).sort((a, b) => a - b)
  // quantiles over every trial: a trial with no leader counts as longer than any
  const q = (p: number) => {
    const i = Math.ceil(p * values.length) - 1
    return i < elected.length ? round(elected[Math.max(0, i)]!) : null
  }
  return {
    engine,
    range: rangeLabel(range),
    runtime,
    trials: values.length,
    electedMs: elected.map(round),
    notElected: values.length - elected.length,
    p50Ms: q(0.5),
    p90Ms: q(0.9),
    p99Ms: q(0.99),
    maxMs: elected.length === values.length ? round(elected.at(-1) ?? 0) : null,
  }
}

/** The simulator's trials for every engine and range. */
export function simulateElections(plan: ElectionPlan, progress: (line: string) => void): TrialSet[] {
  const out: TrialSet[] = []
  for (const engine of plan.engines) {
    const module = findEngine(engine)
    if (module === undefined) throw new Error(`engine '${engine}' is not registered`)
    for (const range of plan.ranges) {
      const started = Date.now()
      const trials = electionTrials({
        engine: module,
        engineConfig: electionConfig(engine, range, plan.engineConfig[engine]),
        nodes: plan.replicas,
        heartbeatMs: range.minMs / 2,
        oneWayMsMin: plan.broadcastMs / 2 - 0.5,
        oneWayMsMax: plan.broadcastMs / 2 + 0.5,
        settleMs: plan.settleMs,
        seed0: plan.seed * 100_000,
        trials: plan.simTrials,
      })
      const set = trialSet(
        engine,
        range,
        'sim',
        trials.map((t) => t.electedAfterMs),
      )
      out.push(set)
      progress(
        `sim ${engine} ${set.range}: ${set.trials} trials, p50 ${set.p50Ms} ms, p90 ${set.p90Ms} ms, ` +
          `${set.notElected} without a leader (${Date.now() - started} ms)`,
      )
    }
  }
  return out
}

const POLL_MS = 3
const NEW_LEADER_WAIT_MS = 20_000
const AGREED_LEADER_WAIT_MS = 60_000

/**
 * The survivors' /health until one says it leads; the figure is from the kill (`killedAtMs`, wall clock)
 * to that replica's own record of its election (`lastElectedAtMs`), so the polling adds nothing to it.
 */
async function waitForNewLeader(cluster: Cluster, old: NodeId, killedAtMs: number): Promise<number | null> {
  while (wallMs() - killedAtMs < NEW_LEADER_WAIT_MS) {
    const survivors = cluster.replicas.filter((r) => r.id !== old && r.running())
    const healths = await Promise.all(survivors.map((r) => r.health(200)))
    const polledAtMs = wallMs()
    const leader = healths.find((h) => h?.role === 'leader' && h.id !== old)
    if (leader !== undefined) {
      const at = leader?.lastElectedAtMs
      return (typeof at === 'number' && at >= killedAtMs ? at : polledAtMs) - killedAtMs
    }
    await sleep(POLL_MS)
  }
  return null
}

/** ms since the epoch, sub-millisecond: comparable across processes on one host */
const wallMs = () => performance.timeOrigin + performance.now()

/** Real-process trials of one engine and range on a fresh shaped cluster. */
async function realTrials(
  plan: ElectionPlan,
  engine: string,
  range: ElectionRange,
  dir: string,
  progress: (line: string) => void,
): Promise<TrialSet> {
  const topoPlan = planTopologyRun({
    topology: plan.topology,
    leaderSite: undefined,
    replicas: plan.replicas,
    engine: findEngine(engine),
    engineName: engine,
    engineConfig: electionConfig(engine, range, plan.engineConfig[engine]),
  })
  const topology = await prepareTopologyRun(topoPlan, defaultTopologyRunDeps(), 5, progress)
  const network = new CellNetwork(topology.plan, topology.choice.shaper)
  let cluster: Cluster | null = null
  const removeHook = onInterrupt(async () => {
    await cluster?.stop()
    await network.close()
  })
  const rng = new Rng(plan.seed, `election:${engine}:${rangeLabel(range)}`)
  const values: Array<number | null> = []
  let problem: string | undefined
  const logDir = join(dir, 'real', `${engine}-${rangeLabel(range)}`)
  mkdirSync(logDir, { recursive: true })
  try {
    cluster = await startCluster('local', {
      engine,
      engineConfig: topology.plan.engineConfig,
      replicas: plan.replicas,
      seed: plan.seed,
      storage: 'file',
      logDir,
      // five replicas starting at once on a loaded host: the default 30 s is not always enough
      startTimeoutMs: 120_000,
      clock: startRunClock(),
      peerAddresses: network.peerAddresses,
    })
    const raise = (id: NodeId) => {
      const pid = cluster?.replica(id).pid() ?? null
      return pid === null ? `${id}: not running` : `${id}: ${raiseToRealtime(pid).detail}`
    }
    if (plan.realtime)
      progress(`real ${engine} ${rangeLabel(range)}: ${cluster.replicas.map((r) => raise(r.id)).join('; ')}`)
    for (let t = 0; t < plan.realTrials; t++) {
      // the restarted replica must catch up first; on a loaded host that can take long
      const leader = await waitForAgreedLeader(cluster, AGREED_LEADER_WAIT_MS)
      if (leader === null) {
        problem = `no agreed leader before trial ${t + 1}`
        progress(`real ${engine} ${rangeLabel(range)}: ${problem}; stopping`)
        break
      }
      await sleep(plan.settleMs + rng.next() * (range.minMs / 2))
      const killedAtMs = wallMs()
      await cluster.replica(leader).kill('SIGKILL')
      const ms = await waitForNewLeader(cluster, leader, killedAtMs)
      values.push(ms)
      await cluster.replica(leader).restart()
      if (plan.realtime) raise(leader)
    }
  } catch (err: unknown) {
    problem = (err as Error).message
    progress(`real ${engine} ${rangeLabel(range)}: stopped after ${values.length} trials: ${problem}`)
  } finally {
    removeHook()
    await cluster?.stop()
    await network.close()
  }
  const set = { ...trialSet(engine, range, 'real', values), ...(problem !== undefined ? { problem } : {}) }
  progress(
    `real ${engine} ${set.range}: ${set.trials} trials, p50 ${set.p50Ms} ms, p90 ${set.p90Ms} ms, ${set.notElected} without a leader`,
  )
  return set
}

export interface ElectionComparison {
  readonly engine: string
  readonly range: string
  readonly simP50Ms: number | null
  readonly realP50Ms: number | null
  /** |real - sim| / sim */
  readonly relativeDifference: number | null
  /** within 20% */
  readonly agrees: boolean
}

/** Real-process medians against the simulator's, per engine and real range. */
export function compareMedians(sets: readonly TrialSet[]): ElectionComparison[] {
  return sets
    .filter((s) => s.runtime === 'real')
    .map((real) => {
      const sim = sets.find((s) => s.runtime === 'sim' && s.engine === real.engine && s.range === real.range)
      const simP50Ms = sim?.p50Ms ?? null
      const diff =
        simP50Ms !== null && real.p50Ms !== null && simP50Ms > 0
          ? round3(Math.abs(real.p50Ms - simP50Ms) / simP50Ms)
          : null
      return {
        engine: real.engine,
        range: real.range,
        simP50Ms,
        realP50Ms: real.p50Ms,
        relativeDifference: diff,
        agrees: diff !== null && diff <= 0.2,
      }
    })
}

/** The CDF of time to elect: a panel per engine, a line per range; real-process trials dashed. */
export function electionCdfSpec(sets: readonly TrialSet[]): TopLevelSpec {
  const values = sets.flatMap((s) =>
    s.electedMs.map((ms, i) => ({
      engine: s.engine,
      range: s.range,
      runtime: s.runtime,
      series: `${s.range}${s.runtime === 'real' ? ' (real)' : ''}`,
      ms: Math.max(ms, 1),
      fraction: (i + 1) / s.trials,
    })),
  )
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    config: CONFIG,
    title: {
      text: 'Time to elect a new leader after the leader crashes (CDF)',
      subtitle: 'after Ongaro & Ousterhout, ATC’14, Fig. 16: 5 servers; heartbeat = min timeout / 2',
    },
    data: { values },
    facet: {
      row: { field: 'engine', type: 'nominal', title: null, sort: [...new Set(sets.map((s) => s.engine))] },
    },
    spec: {
      width: 560,
      height: 220,
      mark: { type: 'line', interpolate: 'step-after' },
      encoding: {
        x: {
          field: 'ms',
          type: 'quantitative',
          scale: { type: 'log' },
          title: 'time without leader (ms)',
        },
        y: { field: 'fraction', type: 'quantitative', title: 'cumulative fraction of trials' },
        color: { field: 'range', type: 'nominal', title: 'timeout range (ms)', sort: null },
        strokeDash: { field: 'runtime', type: 'nominal', title: 'runtime', sort: ['sim', 'real'] },
        detail: { field: 'series', type: 'nominal' },
      },
    },
  } as TopLevelSpec
}

export interface ElectionResult {
  readonly dir: string
  readonly sets: readonly TrialSet[]
  readonly comparison: readonly ElectionComparison[]
}

/** Runs the whole experiment into a new results directory; `simOnly` skips the real processes. */
export async function runElectionExperiment(
  plan: ElectionPlan,
  options: {
    readonly progress?: (line: string) => void
    readonly simOnly?: boolean
    readonly argv?: readonly string[]
  } = {},
): Promise<ElectionResult> {
  const progress = options.progress ?? (() => {})
  const startedAt = new Date()
  const dir = createResultsDir(plan.resultsRoot, plan.name, startedAt)
  const runId = relative(plan.resultsRoot, dir)
  writeJsonAtomic(join(dir, 'run.json'), {
    runId,
    command: 'run',
    kind: 'election',
    argv: options.argv ?? null,
    plan,
    startedAt: startedAt.toISOString(),
  })
  writeJsonAtomic(join(dir, 'env.json'), collectEnvironment(REPO_ROOT))
  progress(`results: ${dir}`)
  const sets: TrialSet[] = simulateElections(plan, progress)
  const write = async (status: 'complete' | 'incomplete') => {
    const comparison = compareMedians(sets)
    writeJsonAtomic(join(dir, 'election.json'), { status, runId, sets, comparison })
    const spec = electionCdfSpec(sets)
    const charts = join(dir, 'charts')
    mkdirSync(charts, { recursive: true })
    writeFileSync(join(charts, 'election-cdf.vl.json'), `${JSON.stringify(spec, null, 2)}\n`)
    const { renderSvg, svgToPng } = await import('../dashboards/render.ts')
    const svg = await renderSvg(spec)
    writeFileSync(join(charts, 'election-cdf.svg'), svg)
    writeFileSync(join(charts, 'election-cdf.png'), await svgToPng(svg))
    return comparison
  }
  await write('incomplete')
  if (options.simOnly !== true && plan.realTrials > 0)
    for (const engine of plan.engines)
      for (const range of plan.realRanges) {
        sets.push(await realTrials(plan, engine, range, dir, progress))
        await write('incomplete')
      }
  const comparison = await write('complete')
  return { dir, sets, comparison }
}

function round(x: number): number {
  return Math.round(x * 10) / 10
}
function round3(x: number): number {
  return Math.round(x * 1000) / 1000
}
