/**
 * What the gate reads from a results directory: the run's cells grouped into cases (a case is a cell id
 * without its `-rep<n>`: its repetitions are the samples), and the per-cell figure a threshold names,
 * from the cell's latency.hlog (any percentile, filtered by site and op tags) or its summary.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Histogram } from 'hdr-histogram-js'
import { LatencyRecorder } from '../../workloads/latency.ts'
import type { CellSummary, RunSummary } from '../results/summary.ts'
import { type MicroResults, readMicro } from './micro.ts'
import type { Threshold } from './thresholds.ts'

export interface GateCase {
  /** the cell id without `-rep<n>` */
  readonly id: string
  readonly tags: Readonly<Record<'engine' | 'variant' | 'topology' | 'conflict', string>>
  /** complete cells, one per repetition */
  readonly cells: readonly CellSummary[]
}

export interface GateInput {
  readonly dir: string
  /** null: the directory has no summary.json */
  readonly run: {
    readonly summary: RunSummary
    readonly cases: ReadonlyMap<string, GateCase>
    readonly env: { readonly cpuModel?: string; readonly cpuCount?: number } | null
    /** run.json: per engine or variant label, its engine and config with every default filled in */
    readonly engineConfigs: ReadonlyMap<string, RecordedEngineConfig>
  } | null
  readonly micro: MicroResults | null
  /** per cell: its latency log, read once */
  readonly latency: Map<string, LatencyRecorder | null>
}

/** The directory cannot be gated: names the file and what is wrong. */
export class GateInputError extends Error {
  readonly code = 'ERR_GATE_INPUT'
  constructor(
    readonly file: string,
    readonly problem: string,
    readonly fix: string,
  ) {
    super(`${file}: ${problem} (fix: ${fix})`)
    this.name = 'GateInputError'
  }
}

export function caseIdOf(cellId: string): string {
  return cellId.replace(/-rep\d+$/, '')
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'))
  } catch (err: unknown) {
    throw new GateInputError(
      file,
      `not readable JSON (${(err as Error).message})`,
      'give a results directory written by consensus-bench',
    )
  }
}

export function readGateInput(dir: string): GateInput {
  if (!existsSync(dir))
    throw new GateInputError(
      dir,
      'no such directory',
      'give a results directory (results/<run>) or a baseline (results/baselines/<name>)',
    )
  let micro: MicroResults | null
  try {
    micro = readMicro(dir)
  } catch (err: unknown) {
    throw new GateInputError(
      join(dir, 'micro.json'),
      (err as Error).message,
      'write it with `npm run bench:micro -- --out <dir>`',
    )
  }
  const summaryFile = join(dir, 'summary.json')
  if (!existsSync(summaryFile) && micro === null)
    throw new GateInputError(
      dir,
      'has neither summary.json (a run) nor micro.json (micro benchmarks)',
      'give the directory `consensus-bench run` wrote, or one with micro.json',
    )
  let run: GateInput['run'] = null
  if (existsSync(summaryFile)) {
    const summary = readJson(summaryFile) as RunSummary
    if (!Array.isArray(summary.cells))
      throw new GateInputError(
        summaryFile,
        'has no cells array',
        'give a summary.json written by `consensus-bench run`',
      )
    const cases = new Map<string, GateCase>()
    for (const cell of summary.cells) {
      if (cell.state !== 'complete') continue
      const id = caseIdOf(cell.id)
      const existing = cases.get(id)
      if (existing !== undefined) {
        ;(existing.cells as CellSummary[]).push(cell)
        continue
      }
      cases.set(id, {
        id,
        tags: {
          engine: cell.engine,
          variant: cell.variant ?? cell.engine,
          topology: cell.topology,
          conflict: String(cell.conflict),
        },
        cells: [cell],
      })
    }
    const envFile = join(dir, 'env.json')
    const env = existsSync(envFile) ? (readJson(envFile) as { cpuModel?: string; cpuCount?: number }) : null
    run = { summary, cases, env, engineConfigs: engineConfigsOf(join(dir, 'run.json')) }
  }
  return { dir, run, micro, latency: new Map() }
}

/** Whether the case's tags satisfy the threshold's cell-level filter (engine, variant, topology, conflict). */
export function caseMatches(c: GateCase, t: Threshold): boolean {
  for (const [key, value] of Object.entries(t.tags)) {
    if (key === 'site' || key === 'op') continue
    const own = c.tags[key as keyof GateCase['tags']]
    if (key === 'conflict' ? Number(own) !== Number(value) : own !== value) return false
  }
  return true
}

function latencyOf(input: GateInput, cell: CellSummary): LatencyRecorder | null {
  if (input.latency.has(cell.id)) return input.latency.get(cell.id)!
  const file = join(input.dir, cell.files?.latency ?? join('cells', cell.id, 'latency.hlog'))
  let recorder: LatencyRecorder | null = null
  if (existsSync(file)) {
    recorder = new LatencyRecorder()
    try {
      recorder.addHlog(readFileSync(file, 'utf8'))
    } catch (err: unknown) {
      throw new GateInputError(
        file,
        `not a readable HdrHistogram log (${(err as Error).message})`,
        'run the cell again',
      )
    }
  }
  input.latency.set(cell.id, recorder)
  return recorder
}

const round3 = (x: number) => Math.round(x * 1000) / 1000

function fromHistogram(h: Histogram, t: Threshold): number {
  const a = t.aggregation
  const us =
    a.kind === 'percentile'
      ? Math.min(h.getValueAtPercentile(a.p), h.maxValue)
      : a.kind === 'avg'
        ? h.mean
        : a.kind === 'min'
          ? h.minNonZeroValue
          : h.maxValue
  return round3(us / 1000)
}

/** summary.json's latency fields, for a baseline kept without its .hlog files */
const SUMMARY_FIELD: Readonly<Record<string, 'p50' | 'p90' | 'p99' | 'p999'>> = {
  '50': 'p50',
  '90': 'p90',
  '99': 'p99',
  '99.9': 'p999',
}

/**
 * The cell's figure for the threshold, or null when the cell has no data under its site/op filter.
 * Latency in ms, throughput in ops/s.
 */
export function cellFigure(input: GateInput, cell: CellSummary, t: Threshold): number | null {
  const site = t.tags.site
  const op = t.tags.op
  if (t.metric === 'throughput') {
    if (site === undefined) return cell.throughputOpsPerSec
    return cell.sites[site]?.throughputOpsPerSec ?? null
  }
  const recorder = latencyOf(input, cell)
  if (recorder !== null) {
    if (op !== undefined && op !== 'get' && op !== 'put') return null
    const h = recorder.merged(site, op)
    return h.totalCount === 0 ? null : fromHistogram(h, t)
  }
  // no .hlog: summary.json has p50/p90/p99/p99.9/max/mean per cell, per site and per op
  const summary =
    site !== undefined && op !== undefined
      ? undefined
      : site !== undefined
        ? cell.sites[site]?.latencyUs
        : op !== undefined
          ? cell.latencyUsByOp[op as 'get' | 'put']
          : cell.latencyUs
  if (summary === undefined) return null
  const a = t.aggregation
  const field =
    a.kind === 'percentile'
      ? SUMMARY_FIELD[String(a.p)]
      : a.kind === 'avg'
        ? 'mean'
        : a.kind === 'max'
          ? 'max'
          : undefined
  if (field === undefined)
    throw new GateInputError(
      join(input.dir, cell.files?.latency ?? `cells/${cell.id}/latency.hlog`),
      `missing, and summary.json has no ${t.source.replace(/[<>].*$/, '')} (it has p(50), p(90), p(99), p(99.9), avg, max)`,
      'keep the cells/*/latency.hlog files in the baseline (`consensus-bench gate --save-baseline` does)',
    )
  return round3(summary[field] / 1000)
}

export interface RecordedEngineConfig {
  readonly engine: string
  readonly resolved: Record<string, unknown>
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null

/**
 * run.json's resolved engine configs by label (`engineConfigsResolved`); runs recorded before it have
 * the first cell's only (`engineConfigResolved`, under its engine's name); hand-made directories none.
 */
function engineConfigsOf(runFile: string): Map<string, RecordedEngineConfig> {
  const configs = new Map<string, RecordedEngineConfig>()
  if (!existsSync(runFile)) return configs
  const run = readJson(runFile) as {
    options?: { engine?: unknown }
    engineConfigResolved?: unknown
    engineConfigsResolved?: unknown
  }
  if (isObject(run.engineConfigsResolved)) {
    for (const [label, v] of Object.entries(run.engineConfigsResolved))
      if (isObject(v) && typeof v.engine === 'string' && isObject(v.config))
        configs.set(label, { engine: v.engine, resolved: v.config })
  } else if (typeof run.options?.engine === 'string' && isObject(run.engineConfigResolved)) {
    configs.set(run.options.engine, { engine: run.options.engine, resolved: run.engineConfigResolved })
  }
  return configs
}
