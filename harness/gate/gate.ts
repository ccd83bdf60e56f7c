/**
 * The regression gate: thresholds (thresholds.ts) evaluated on a current results directory against a
 * baseline. Each threshold gives one row per case it matches (a case = a cell without its repetition,
 * or one micro benchmark); the case's repetitions are the samples.
 *
 * The rule, for an absolute threshold on the mean over repetitions and for a relative one on the ratio
 * current/baseline (bootstrap, harness/claims/bootstrap.ts): `pass` when the whole 95% interval is on
 * the allowed side of the limit, `fail` when the whole interval is beyond it, `unknown` when it straddles
 * the limit. With one sample there is no interval and the figure itself decides. Only `fail` fails the
 * gate (exit 1), unless failOnUnknown.
 */

import { bootstrapFigure, bootstrapRatio, mean, type RatioFigure } from '../claims/bootstrap.ts'
import type { Figure } from '../claims/types.ts'
import {
  caseMatches,
  cellFigure,
  type GateCase,
  type GateInput,
  type RecordedEngineConfig,
  readGateInput,
} from './results.ts'
import {
  type Comparison,
  DEFAULT_MICRO_THRESHOLDS,
  DEFAULT_RUN_THRESHOLDS,
  describeLimit,
  parseThresholdFlag,
  type Threshold,
  ThresholdError,
} from './thresholds.ts'

export type GateVerdict = 'pass' | 'fail' | 'unknown'

export interface GateRow {
  /** the threshold as written, or `(coverage)` for a case the current run lacks */
  readonly threshold: string
  /** `< 250 ms`, `< +10% of baseline` */
  readonly limit: string
  /** the case id (with the site/op filter when the threshold has one), or `bench:<id>` */
  readonly case: string
  readonly verdict: GateVerdict
  readonly why: string
  readonly unit: string
  readonly baseline: Figure | null
  readonly current: Figure | null
  /** relative thresholds: current / baseline */
  readonly ratio: RatioFigure | null
}

export interface GateResult {
  readonly verdict: GateVerdict
  readonly baselineDir: string
  readonly currentDir: string
  readonly counts: Readonly<Record<GateVerdict, number>>
  readonly rows: readonly GateRow[]
  /** things that make the comparison weaker: different machines, an incomplete run, the delay knob */
  readonly warnings: readonly string[]
}

export interface GateOptions {
  readonly baselineDir: string
  readonly currentDir: string
  /** absent or empty: DEFAULT_RUN_THRESHOLDS and DEFAULT_MICRO_THRESHOLDS for what the dirs hold */
  readonly thresholds?: readonly Threshold[]
  /** the bootstrap's seed */
  readonly seed?: number
  /** count `unknown` as failing */
  readonly failOnUnknown?: boolean
}

/** pass / fail / unknown for `value op limit` given the interval [low, high] of value. */
export function decide(op: Comparison, limit: number, low: number, high: number): GateVerdict {
  const holds = (x: number) =>
    op === '<' ? x < limit : op === '<=' ? x <= limit : op === '>' ? x > limit : x >= limit
  const lowHolds = holds(low)
  const highHolds = holds(high)
  if (lowHolds && highHolds) return 'pass'
  if (!lowHolds && !highHolds) return 'fail'
  return 'unknown'
}

const unitOf = (t: Threshold) => (t.metric === 'latency' ? 'ms' : 'ops/s')

function aggregationName(t: Threshold): string {
  const a = t.aggregation
  if (a.kind === 'percentile') return `p(${a.p})`
  if (a.kind === 'rate') return t.metric === 'ops' ? 'ops/s' : 'throughput'
  return a.kind
}

function filterLabel(t: Threshold): string {
  const parts = ['site', 'op'].filter((k) => t.tags[k] !== undefined).map((k) => `${k}:${t.tags[k]}`)
  return parts.length === 0 ? '' : ` {${parts.join(',')}}`
}

function interval(f: Figure): [number, number] {
  return f.ciLow === null ? [f.mean, f.mean] : [f.ciLow, f.ciHigh!]
}

function describe(f: Figure): string {
  return f.ciLow === null
    ? `${f.mean} ${f.unit} (n=${f.n})`
    : `${f.mean} [${f.ciLow}, ${f.ciHigh}] ${f.unit} (n=${f.n})`
}

function describeRatio(r: RatioFigure): string {
  return r.ciLow === null
    ? `x${r.ratio} (n=1 each, no interval)`
    : `x${r.ratio} [${r.ciLow}, ${r.ciHigh}] (n=${r.nBaseline}/${r.nCurrent})`
}

const WHY: Readonly<Record<GateVerdict, string>> = {
  pass: 'the interval is within the limit',
  fail: 'the interval is beyond the limit',
  unknown: 'the interval straddles the limit: more repetitions (or a quieter machine) would decide',
}

/** One row: samples of the current side and, for a relative threshold, of the baseline's same case. */
function evaluate(
  t: Threshold,
  caseLabel: string,
  current: readonly number[],
  baseline: readonly number[] | null,
  seed: number,
): GateRow {
  const name = aggregationName(t)
  const unit = unitOf(t)
  const stream = `${t.source}/${caseLabel}`
  const cur = bootstrapFigure(name, unit, current, seed, `current/${stream}`, 'gate')
  const base =
    baseline === null || baseline.length === 0
      ? null
      : bootstrapFigure(name, unit, baseline, seed, `baseline/${stream}`, 'gate')
  const row = {
    threshold: t.source,
    limit: describeLimit(t),
    case: caseLabel,
    unit,
    current: cur,
    baseline: base,
  }
  if (!t.relative) {
    const [low, high] = interval(cur)
    const verdict = decide(t.op, t.limit, low, high)
    const why =
      cur.ciLow === null
        ? `${describe(cur)}: one sample, no interval; the value decides`
        : `${describe(cur)}: ${WHY[verdict]}`
    return { ...row, verdict, why, ratio: null }
  }
  if (baseline === null || baseline.length === 0)
    return {
      ...row,
      verdict: 'unknown',
      why: 'no baseline for this case: a relative limit cannot be judged',
      ratio: null,
    }
  if (!(mean(baseline) > 0))
    return { ...row, verdict: 'unknown', why: `the baseline's ${name} is 0: no ratio`, ratio: null }
  const ratio = bootstrapRatio(baseline, current, seed, stream)
  const low = ratio.ciLow ?? ratio.ratio
  const high = ratio.ciHigh ?? ratio.ratio
  const verdict = decide(t.op, t.limit, low, high)
  const why =
    ratio.ciLow === null
      ? `current/baseline ${describeRatio(ratio)}: one sample each; the ratio decides`
      : `current/baseline ${describeRatio(ratio)}: ${WHY[verdict]}`
  return { ...row, verdict, why, ratio }
}

function runRows(t: Threshold, current: GateInput, baseline: GateInput, seed: number): GateRow[] {
  const cases = current.run?.cases
  if (cases === undefined)
    throw new ThresholdError(
      t.source,
      `${current.dir} has no summary.json (a run's results)`,
      'give a run directory, or only ops thresholds for micro benchmarks',
    )
  const rows: GateRow[] = []
  const matching = [...cases.values()].filter((c) => caseMatches(c, t))
  for (const c of matching) {
    const samples = (kase: GateCase | undefined, input: GateInput): number[] =>
      (kase?.cells ?? []).map((cell) => cellFigure(input, cell, t)).filter((x): x is number => x !== null)
    const cur = samples(c, current)
    if (cur.length === 0) continue
    const base = t.relative ? samples(baseline.run?.cases.get(c.id), baseline) : null
    rows.push(evaluate(t, `${c.id}${filterLabel(t)}`, cur, base, seed))
  }
  if (rows.length === 0) {
    const sites = new Set<string>()
    for (const c of cases.values())
      for (const cell of c.cells) for (const s of Object.keys(cell.sites)) sites.add(s)
    throw new ThresholdError(
      t.source,
      `matches no case with data in ${current.dir}`,
      `check the tags; the cases are ${[...cases.keys()].join(', ') || '(none)'}; sites ${[...sites].join(', ') || '(none)'}; ops get, put`,
    )
  }
  return rows
}

function microRows(t: Threshold, current: GateInput, baseline: GateInput, seed: number): GateRow[] {
  const micro = current.micro
  if (micro === null)
    throw new ThresholdError(
      t.source,
      `${current.dir} has no micro.json`,
      'run `npm run bench:micro -- --out <dir>`, or drop the ops thresholds',
    )
  const wanted = t.tags.bench
  const rows: GateRow[] = []
  for (const b of micro.benchmarks) {
    if (wanted !== undefined && b.id !== wanted) continue
    const base = t.relative
      ? (baseline.micro?.benchmarks.find((x) => x.id === b.id)?.opsPerSec ?? null)
      : null
    rows.push(evaluate(t, `bench:${b.id}`, b.opsPerSec, base, seed))
  }
  if (rows.length === 0)
    throw new ThresholdError(
      t.source,
      `no micro benchmark '${wanted}'`,
      `use one of: ${micro.benchmarks.map((b) => b.id).join(', ')}`,
    )
  return rows
}

/** Cases (and micro benchmarks) in the baseline that the current run lacks: they are not gated, so fail. */
function coverageRows(current: GateInput, baseline: GateInput): GateRow[] {
  const rows: GateRow[] = []
  const missing = (label: string, what: string): GateRow => ({
    threshold: '(coverage)',
    limit: 'present in current',
    case: label,
    verdict: 'fail',
    why: `in the baseline, not in the current ${what} (interrupted? if the matrix changed on purpose, save a new baseline)`,
    unit: '',
    baseline: null,
    current: null,
    ratio: null,
  })
  if (baseline.run !== null && current.run !== null)
    for (const id of baseline.run.cases.keys()) if (!current.run.cases.has(id)) rows.push(missing(id, 'run'))
  if (baseline.micro !== null && current.micro !== null)
    for (const b of baseline.micro.benchmarks)
      if (!current.micro.benchmarks.some((x) => x.id === b.id))
        rows.push(missing(`bench:${b.id}`, 'micro benchmarks'))
  return rows
}

function warningsOf(current: GateInput, baseline: GateInput): string[] {
  const w: string[] = []
  if (current.run?.summary.status === 'incomplete')
    w.push(`${current.dir}: the run is incomplete (only its finished cells are gated)`)
  if (baseline.run?.summary.status === 'incomplete') w.push(`${baseline.dir}: the baseline run is incomplete`)
  const machine = (env: { cpuModel?: string; cpuCount?: number } | null | undefined) =>
    env?.cpuModel === undefined ? null : `${env.cpuModel}, ${env.cpuCount} cores`
  const pairs: Array<[string | null, string | null, string]> = [
    [machine(baseline.run?.env), machine(current.run?.env), 'run'],
    [machine(baseline.micro?.env), machine(current.micro?.env), 'micro benchmarks'],
  ]
  for (const [b, c, what] of pairs)
    if (b !== null && c !== null && b !== c)
      w.push(
        `${what}: the baseline ran on ${b}, the current on ${c}: ratios compare machines as well as code`,
      )
  const delays = (input: GateInput) =>
    new Set((input.run?.summary.cells ?? []).map((c) => c.processingDelayMs ?? 0).filter((d) => d > 0))
  for (const [input, name] of [
    [current, 'current'],
    [baseline, 'baseline'],
  ] as const) {
    const d = delays(input)
    if (d.size > 0)
      w.push(
        `the ${name} run's replicas ran with a processing delay of ${[...d].join(', ')} ms (the gate-testing knob)`,
      )
  }
  for (const [label, config] of current.run?.engineConfigs ?? []) {
    const changed = engineConfigChanges(baseline.run?.engineConfigs.get(label), config)
    if (changed.length > 0)
      w.push(
        `the engine config differs from the baseline's (${label}): ${changed.join(', ')}: ratios compare settings (a changed default, too) as well as code`,
      )
  }
  if (current.run !== null && baseline.run === null && baseline.micro !== null)
    w.push(`${baseline.dir} has no summary.json: relative limits on the run are unknown`)
  if (current.micro !== null && baseline.micro === null && baseline.run !== null)
    w.push(`${baseline.dir} has no micro.json: relative limits on micro benchmarks are unknown`)
  return w
}

/** The keys whose resolved values differ (`key baseline -> current`), when both ran that engine. */
function engineConfigChanges(
  baseline: RecordedEngineConfig | undefined,
  current: RecordedEngineConfig,
): string[] {
  if (baseline === undefined || baseline.engine !== current.engine) return []
  const show = (v: unknown) => (v === undefined ? 'absent' : JSON.stringify(v))
  return [...new Set([...Object.keys(baseline.resolved), ...Object.keys(current.resolved)])]
    .sort()
    .filter((k) => show(baseline.resolved[k]) !== show(current.resolved[k]))
    .map((k) => `${k} ${show(baseline.resolved[k])} -> ${show(current.resolved[k])}`)
}

const ORDER: Readonly<Record<GateVerdict, number>> = { fail: 0, unknown: 1, pass: 2 }

export function runGate(options: GateOptions): GateResult {
  const seed = options.seed ?? 1
  const baseline = readGateInput(options.baselineDir)
  const current = readGateInput(options.currentDir)
  const given = options.thresholds ?? []
  const thresholds =
    given.length > 0
      ? given
      : [
          ...(current.run !== null ? DEFAULT_RUN_THRESHOLDS : []),
          ...(current.micro !== null ? DEFAULT_MICRO_THRESHOLDS : []),
        ].map(parseThresholdFlag)
  const rows: GateRow[] = coverageRows(current, baseline)
  for (const t of thresholds)
    rows.push(
      ...(t.metric === 'ops' ? microRows(t, current, baseline, seed) : runRows(t, current, baseline, seed)),
    )
  rows.sort((a, b) => ORDER[a.verdict] - ORDER[b.verdict])
  const counts = { pass: 0, fail: 0, unknown: 0 }
  for (const r of rows) counts[r.verdict]++
  const verdict: GateVerdict =
    counts.fail > 0 || (options.failOnUnknown === true && counts.unknown > 0)
      ? 'fail'
      : counts.unknown > 0
        ? 'unknown'
        : 'pass'
  return {
    verdict,
    baselineDir: options.baselineDir,
    currentDir: options.currentDir,
    counts,
    rows,
    warnings: warningsOf(current, baseline),
  }
}
