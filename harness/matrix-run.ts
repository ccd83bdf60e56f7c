/**
 * What runMatrix (harness/run.ts) needs besides the cell loop: each topology prepared once and shared by
 * its cells, env.json with every topology's calibration, and reading back an interrupted run to resume.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { REPO_ROOT } from './launchers/local.ts'
import type { MatrixPlan } from './matrix.ts'
import { collectEnvironment } from './results/env.ts'
import { writeJsonAtomic } from './results/results-dir.ts'
import type { RunSummary } from './results/summary.ts'
import type { RunOptions } from './run.ts'
import {
  prepareTopologyRun,
  type TopologyPlan,
  type TopologyRun,
  type TopologyRunDeps,
} from './topology-run.ts'

/** The repetition number at the end of a cell id (`...-rep2`). */
export function repetitionOf(id: string): number {
  return Number(/-rep(\d+)$/.exec(id)?.[1] ?? 1)
}

/** A topology's shaper and calibration are made once per placement, then shared by the cells on it. */
export class TopologyRuns {
  private readonly prepared = new Map<string, TopologyRun>()
  private readonly environments: Record<string, unknown> = {}
  constructor(
    private readonly deps: TopologyRunDeps,
    private readonly progress: (line: string) => void,
    private readonly dir: string,
    private readonly planOf: (options: RunOptions) => TopologyPlan,
  ) {
    // a resumed run keeps the calibrations of the topologies its earlier cells ran on
    try {
      const env = JSON.parse(readFileSync(join(dir, 'env.json'), 'utf8')) as {
        topologies?: Record<string, unknown>
      }
      Object.assign(this.environments, env.topologies ?? {})
    } catch {
      // a new run: no env.json with topologies yet
    }
  }

  async prepare(options: RunOptions): Promise<TopologyRun | null> {
    if (options.topology === undefined) return null
    const plan = this.planOf(options)
    // the calibration depends on where replicas and clients are, not on the engine (the plan is per engine)
    // compose calibrates per cell (in the containers): its runs do not share the local one's table
    const key = JSON.stringify([
      options.topology,
      options.launcher,
      plan.placement.replicas,
      plan.placement.clientGroups,
    ])
    const known = this.prepared.get(key)
    if (known !== undefined) return { ...known, plan }
    const run = await prepareTopologyRun(
      plan,
      this.deps,
      options.calibrationProbes,
      this.progress,
      options.launcher,
    )
    this.prepared.set(key, run)
    this.environments[plan.topology.name] = run.environment
    // the first topology's fields stay at the top (what one-topology readers expect); all are under topologies
    const firstEnv = Object.values(this.environments)[0] as object
    writeJsonAtomic(join(this.dir, 'env.json'), {
      ...collectEnvironment(REPO_ROOT),
      ...firstEnv,
      topologies: this.environments,
    })
    return run
  }
}

/** An error about resuming: the directory and what is wrong with it. */
export class ResumeError extends Error {
  constructor(
    readonly file: string,
    readonly problem: string,
    readonly fix: string,
  ) {
    super(`${file}: ${problem} (fix: ${fix})`)
    this.name = 'ResumeError'
  }
}

function readJson(file: string): unknown {
  if (!existsSync(file))
    throw new ResumeError(file, 'missing', 'give a results directory written by `consensus-bench run`')
  try {
    return JSON.parse(readFileSync(file, 'utf8'))
  } catch (err: unknown) {
    throw new ResumeError(file, `not JSON (${(err as Error).message})`, 'repair the file, or run again')
  }
}

export function readSummary(dir: string): RunSummary {
  const summary = readJson(join(dir, 'summary.json')) as RunSummary
  if (!Array.isArray(summary.cells))
    throw new ResumeError(join(dir, 'summary.json'), 'has no cells array', 'run again')
  return summary
}

/** The plan an interrupted run recorded in its run.json. */
export function readPlan(dir: string): MatrixPlan {
  const run = readJson(join(dir, 'run.json')) as { plan?: MatrixPlan }
  if (run.plan === undefined || !Array.isArray(run.plan.cells))
    throw new ResumeError(
      join(dir, 'run.json'),
      'records no matrix plan (a run from before --resume existed)',
      'run the experiment again',
    )
  return run.plan
}
