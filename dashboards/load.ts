/**
 * Reads results directories (results/README.md) into the chart model (model.ts). Tolerant by design:
 * a run written before a field existed, or a run cut short, still loads; what is missing becomes `null`
 * or an entry in `problems`, and the chart that needed it says "no data" instead of the report failing.
 * Only a directory with no readable summary.json is an error (ResultsLoadError, naming the file).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { basename, join, resolve } from 'node:path'
import type { Histogram } from 'hdr-histogram-js'
import { referenceRows } from '../harness/claims/references.ts'
import { cellLabel } from '../harness/results/label.ts'
import type { CellSummary } from '../harness/results/summary.ts'
import { newLatencyHistogram, readHlog } from '../workloads/latency.ts'
import type {
  CalibrationLinkModel,
  CalibrationModel,
  CellModel,
  EnvModel,
  FaultModel,
  LatencyUs,
  NodeCostModel,
  PercentilePoint,
  ReferenceRowModel,
  ReferenceSource,
  ResultsModel,
  RunModel,
  SiteModel,
  Timeline,
  TimelinePoint,
} from './model.ts'

export class ResultsLoadError extends Error {
  readonly code = 'ERR_RESULTS_LOAD'
  constructor(
    readonly file: string,
    readonly problem: string,
    readonly fix: string,
  ) {
    super(`${file}: ${problem} (fix: ${fix})`)
    this.name = 'ResultsLoadError'
  }
}

type Obj = Record<string, unknown>

const isObj = (x: unknown): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x)
const num = (x: unknown): number | null => (typeof x === 'number' && Number.isFinite(x) ? x : null)
const str = (x: unknown): string | null => (typeof x === 'string' ? x : null)
const bool = (x: unknown): boolean | null => (typeof x === 'boolean' ? x : null)
/**
 * A reference row's median of one op kind. Runs written before the field could be null recorded 0 for an
 * op the workload did not issue; a recorded command takes at least 1 us, so 0 ms means "none": null.
 */
const opMedianMs = (x: unknown): number | null => {
  const v = num(x)
  return v === null || v <= 0 ? null : v
}

/** History files larger than this are not scanned to rebuild a missing timeline (it would stall a page). */
const HISTORY_SCAN_MAX_BYTES = 256 * 1024 * 1024

function readJson(file: string): unknown {
  return JSON.parse(readFileSync(file, 'utf8'))
}

function latency(x: unknown): LatencyUs {
  const o = isObj(x) ? x : {}
  const f = (k: string) => num(o[k]) ?? 0
  return { p50: f('p50'), p90: f('p90'), p99: f('p99'), p999: f('p999'), max: f('max'), mean: f('mean') }
}

/**
 * Percentiles on an even grid of "nines" (0, 0.1, ... : 0%, 20.6%, ... 90% at 1, 99% at 2), up to what
 * the sample count supports (log10 of it): past that a percentile is just the maximum repeated.
 */
export function percentileDistribution(h: Histogram): PercentilePoint[] {
  if (h.totalCount === 0) return []
  const maxNines = Math.min(5, Math.log10(h.totalCount))
  const out: PercentilePoint[] = []
  for (let tenths = 0; tenths <= Math.floor(maxNines * 10); tenths++) {
    const percentile = 100 * (1 - 10 ** (-tenths / 10))
    out.push({ percentile, latencyUs: Math.min(h.getValueAtPercentile(percentile), h.maxValue) })
  }
  return out
}

function mergedHlog(file: string): Histogram {
  const merged = newLatencyHistogram()
  for (const h of readHlog(readFileSync(file, 'utf8')).values()) merged.add(h)
  return merged
}

/**
 * A timeline file: JSON lines or one JSON array of per-second rows. A row needs a second (`second`,
 * `sec` or `t`) and a count of completed commands (`ops`, `completed`, `count` or `throughputOpsPerSec`);
 * rows without both are skipped. Returns null when no row is usable.
 */
export function parseTimeline(text: string): TimelinePoint[] | null {
  const trimmed = text.trim()
  if (trimmed === '') return null
  let rows: unknown[]
  if (trimmed.startsWith('[')) {
    const parsed: unknown = JSON.parse(trimmed)
    rows = Array.isArray(parsed) ? parsed : []
  } else if (trimmed.startsWith('{') && !trimmed.includes('\n')) {
    const parsed: unknown = JSON.parse(trimmed)
    // a single object may hold the rows under a key
    rows = isObj(parsed) && Array.isArray(parsed.seconds) ? parsed.seconds : [parsed]
  } else {
    rows = trimmed
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as unknown)
  }
  const points: TimelinePoint[] = []
  for (const row of rows) {
    if (!isObj(row)) continue
    const second = num(row.second) ?? num(row.sec) ?? num(row.t)
    const ops = num(row.ops) ?? num(row.completed) ?? num(row.count) ?? num(row.throughputOpsPerSec)
    if (second !== null && ops !== null) points.push({ second, ops })
  }
  points.sort((a, b) => a.second - b.second)
  return points.length > 0 ? points : null
}

/**
 * Per-second completions of the load's ok commands, counted from history.jsonl (read-back excluded).
 * With `durationMs`, commands completing after the load's end (the ones in flight when it stopped)
 * are left out: they would draw a last, partial second as a collapse.
 */
export function timelineFromHistory(
  text: string,
  loadStartUs: number,
  durationMs: number | null = null,
): TimelinePoint[] | null {
  const endUs = durationMs === null ? Number.POSITIVE_INFINITY : loadStartUs + durationMs * 1000
  const counts = new Map<number, number>()
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue
    const op: unknown = JSON.parse(line)
    if (!isObj(op) || op.outcome !== 'ok' || op.client === 'readback') continue
    const completeUs = num(op.completeUs)
    if (completeUs === null || completeUs < loadStartUs || completeUs >= endUs) continue
    const second = Math.floor((completeUs - loadStartUs) / 1e6)
    counts.set(second, (counts.get(second) ?? 0) + 1)
  }
  if (counts.size === 0) return null
  // a known duration fixes the length, so a stall at the end shows as zeros too
  const last = durationMs === null ? Math.max(...counts.keys()) : Math.ceil(durationMs / 1000) - 1
  // seconds with nothing completed are zeros, not gaps: a stall must show
  return Array.from({ length: last + 1 }, (_, second) => ({ second, ops: counts.get(second) ?? 0 }))
}

function fileOf(runDir: string, files: Obj, key: string, fallback: string | null): string | null {
  const rel = str(files[key]) ?? fallback
  return rel === null ? null : join(runDir, rel)
}

function loadTimeline(
  runDir: string,
  cell: Obj,
  files: Obj,
  cellDir: string,
  problems: string[],
): Timeline | null {
  const timelineFile = fileOf(runDir, files, 'timeline', null)
  if (timelineFile !== null) {
    try {
      const points = parseTimeline(readFileSync(timelineFile, 'utf8'))
      if (points !== null) return { points, source: 'timeline' }
      problems.push(`${timelineFile}: no rows with a second and a count`)
    } catch (err: unknown) {
      problems.push(`${timelineFile}: ${(err as Error).message}`)
    }
  }
  const historyFile = fileOf(runDir, files, 'history', join(cellDir, 'history.jsonl'))
  const loadStartUs = num(cell.loadStartUs)
  if (historyFile === null || loadStartUs === null || !existsSync(historyFile)) return null
  try {
    if (statSync(historyFile).size > HISTORY_SCAN_MAX_BYTES) {
      problems.push(`${historyFile}: too large to count a timeline from`)
      return null
    }
    const points = timelineFromHistory(readFileSync(historyFile, 'utf8'), loadStartUs, num(cell.durationMs))
    return points === null ? null : { points, source: 'history' }
  } catch (err: unknown) {
    problems.push(`${historyFile}: ${(err as Error).message}`)
    return null
  }
}

function loadNodes(x: unknown): NodeCostModel[] {
  if (!isObj(x)) return []
  return Object.entries(x)
    .filter(([, v]) => isObj(v))
    .map(([node, v]) => {
      const o = v as Obj
      return {
        node,
        msgsPerOp: num(o.msgsPerOp),
        bytesPerOp: num(o.bytesPerOp),
        cpuUsPerOp: num(o.cpuUsPerOp),
      }
    })
    .sort((a, b) => a.node.localeCompare(b.node, 'en', { numeric: true }))
}

function loadSites(x: unknown): SiteModel[] {
  if (!isObj(x)) return []
  return Object.entries(x)
    .filter(([, v]) => isObj(v))
    .map(([site, v]) => {
      const o = v as Obj
      return {
        site,
        ops: num(o.ops) ?? 0,
        throughputOpsPerSec: num(o.throughputOpsPerSec) ?? 0,
        latencyUs: latency(o.latencyUs),
        expectedLatencyMs: num(o.expectedLatencyMs),
      }
    })
    .sort((a, b) => a.site.localeCompare(b.site, 'en', { numeric: true }))
}

type RawCell = Omit<CellModel, 'series'>

/** Where an external system's figures come from, in one phrase (the cells table, the reference rows). */
export function externalSource(model: string | null): string {
  const expectation = model === null ? '' : `, held to ${model}'s expected latency`
  return `external system run beside the engines (harness/external/)${expectation}`
}

/** summary.json `cells[].external`: the cell is a reference row's, not one of our engines. */
function referenceOf(cell: Obj): ReferenceSource | null {
  if (!isObj(cell.external)) return null
  const model = str(cell.external.model)
  return { kind: 'external', model, source: externalSource(model) }
}

function referenceRow(runId: string, o: unknown, from: ReferenceRowModel['from']): ReferenceRowModel[] {
  if (!isObj(o)) return []
  const engine = str(o.engine)
  if (engine === null) return []
  const model = str(o.model)
  const byOp = isObj(o.p50MsByOp) ? o.p50MsByOp : null
  const lin = isObj(o.linearizable) ? o.linearizable : null
  const linYes = lin === null ? null : num(lin.yes)
  const linOf = lin === null ? null : num(lin.of)
  const vs = isObj(o.vsModel) ? o.vsModel : null
  const vsEngine = vs === null ? null : str(vs.engine)
  return [
    {
      runId,
      engine,
      model,
      topology: str(o.topology) ?? 'unknown',
      conflict: num(o.conflict) ?? 0,
      cells: Array.isArray(o.cells) ? o.cells.flatMap((c) => (typeof c === 'string' ? [c] : [])) : [],
      throughputOpsPerSec: num(o.throughputOpsPerSec),
      p50Ms: num(o.p50Ms),
      p99Ms: num(o.p99Ms),
      p50MsByOp: byOp === null ? null : { get: opMedianMs(byOp.get), put: opMedianMs(byOp.put) },
      linearizable: linYes === null || linOf === null ? null : { yes: linYes, of: linOf },
      p50OverExpected: num(o.p50OverExpected),
      vsModel:
        vs === null || vsEngine === null
          ? null
          : { engine: vsEngine, throughputRatio: num(vs.throughputRatio), p99Ratio: num(vs.p99Ratio) },
      source: externalSource(model),
      from,
    },
  ]
}

/**
 * The run's reference rows: summary.json `references` as the run wrote them; when a run has cells of an
 * external system but no `references` (it was interrupted: the rows are written at its end), the same
 * rows computed now from those cells (harness/claims/references.ts), marked as computed.
 */
function loadReferences(runId: string, summary: Obj, cells: readonly Obj[], problems: string[]) {
  if (Array.isArray(summary.references))
    return summary.references.flatMap((r) => referenceRow(runId, r, 'summary'))
  if (!cells.some((c) => isObj(c.external))) return []
  try {
    return referenceRows(cells as unknown as CellSummary[]).flatMap((r) => referenceRow(runId, r, 'cells'))
  } catch (err: unknown) {
    problems.push(`summary.json: cannot compute the reference rows from the cells: ${(err as Error).message}`)
    return []
  }
}

/** summary.json `faults` (harness/faults.ts) with times in seconds of the load. */
function loadFaults(x: unknown, loadStartUs: number): FaultModel[] {
  if (!Array.isArray(x)) return []
  const second = (us: number) => Math.round((us - loadStartUs) / 1000) / 1000
  const out: FaultModel[] = []
  for (const f of x) {
    if (!isObj(f)) continue
    const kind = str(f.kind)
    const atUs = num(f.atUs)
    if (kind === null || atUs === null) continue
    const endUs = num(f.endUs)
    const recovery: Record<string, number | null> = {}
    if (isObj(f.recoveryMsBySite))
      for (const [site, v] of Object.entries(f.recoveryMsBySite)) recovery[site] = num(v)
    const events = Array.isArray(f.events)
      ? f.events.flatMap((e) => {
          const at = isObj(e) ? num(e.atUs) : null
          const what = isObj(e) ? str(e.what) : null
          return at === null || what === null ? [] : [{ second: second(at), what }]
        })
      : []
    const description =
      str(f.description) ?? (kind === 'replica-exit' ? `${str(f.replica) ?? '?'} exited by itself` : kind)
    out.push({
      kind,
      description: str(f.error) !== null ? `${description} (not injected: ${str(f.error)})` : description,
      atSecond: second(atUs),
      endSecond: endUs === null ? null : second(endUs),
      events:
        events.length > 0 || str(f.error) !== null ? events : [{ second: second(atUs), what: description }],
      recoveryMsBySite: recovery,
      opsFailed: num(f.opsFailed),
      opsUnknown: num(f.opsUnknown),
      newLeaderAfterMs: num(f.newLeaderAfterMs),
    })
  }
  return out.sort((a, b) => a.atSecond - b.atSecond)
}

function loadCell(runDir: string, runId: string, cell: Obj, index: number): RawCell {
  const problems: string[] = []
  const id = str(cell.id) ?? `cell-${index + 1}`
  const files = isObj(cell.files) ? cell.files : {}
  const cellDir = join(runDir, 'cells', id)
  let distribution: PercentilePoint[] | null = null
  const hlog = fileOf(runDir, files, 'latency', join(cellDir, 'latency.hlog'))
  if (hlog !== null && existsSync(hlog)) {
    try {
      const points = percentileDistribution(mergedHlog(hlog))
      distribution = points.length > 0 ? points : null
      if (distribution === null) problems.push(`${hlog}: no latency recorded`)
    } catch (err: unknown) {
      problems.push(`${hlog}: not a readable HdrHistogram log (${(err as Error).message})`)
    }
  } else problems.push(`${id}: no latency.hlog`)
  const check = isObj(cell.check) ? cell.check : {}
  const engine = str(cell.engine) ?? 'unknown'
  const variant = str(cell.variant)
  return {
    runId,
    id,
    engine,
    variant,
    label: cellLabel({ engine, variant }),
    topology: str(cell.topology) ?? 'unknown',
    conflict: num(cell.conflict) ?? 0,
    achievedConflict: num(cell.achievedConflict),
    repetition: num(cell.repetition) ?? 1,
    replicas: num(cell.replicas),
    clientsPerSite: num(cell.clientsPerSite),
    warmupMs: num(cell.warmupMs) ?? 0,
    throughputOpsPerSec: num(cell.throughputOpsPerSec) ?? 0,
    latencyUs: latency(cell.latencyUs),
    sites: loadSites(cell.sites),
    verdict: str(check.verdict) ?? 'unknown',
    nodes: loadNodes(cell.nodes),
    bottleneckNode: str(cell.bottleneckNode),
    distribution,
    timeline: loadTimeline(runDir, cell, files, cellDir, problems),
    faults: loadFaults(cell.faults, num(cell.loadStartUs) ?? 0),
    reference: referenceOf(cell),
    problems,
  }
}

function loadCalibration(x: unknown): CalibrationModel | null {
  if (!isObj(x) || !Array.isArray(x.links)) return null
  const links: CalibrationLinkModel[] = []
  for (const l of x.links) {
    if (!isObj(l)) continue
    const from = str(l.from)
    const to = str(l.to)
    const targetRttMs = num(l.targetRttMs)
    const measuredRttMsP50 = num(l.measuredRttMsP50)
    if (from === null || to === null || targetRttMs === null || measuredRttMsP50 === null) continue
    const errorMs = num(l.errorMs) ?? measuredRttMsP50 - targetRttMs
    links.push({
      from,
      to,
      targetRttMs,
      measuredRttMsP50,
      measuredRttMsP99: num(l.measuredRttMsP99),
      errorMs,
      // netem/calibration.ts's rule when the field is absent: max(1 ms, 2% of the target)
      withinTolerance: bool(l.withinTolerance) ?? Math.abs(errorMs) <= Math.max(1, 0.02 * targetRttMs),
    })
  }
  return { topology: str(x.topology), shaper: str(x.shaper), links }
}

function loadEnv(file: string, problems: string[]): EnvModel | null {
  if (!existsSync(file)) {
    problems.push(`${file}: missing`)
    return null
  }
  let o: unknown
  try {
    o = readJson(file)
  } catch (err: unknown) {
    problems.push(`${file}: not JSON (${(err as Error).message})`)
    return null
  }
  if (!isObj(o)) return null
  return {
    gitCommit: str(o.gitCommit),
    gitDirty: bool(o.gitDirty),
    node: str(o.node),
    platform: str(o.platform),
    kernel: str(o.kernel),
    cpuModel: str(o.cpuModel),
    cpuCount: num(o.cpuCount),
    memoryBytes: num(o.memoryBytes),
    launcher: str(o.launcher),
    // a shaper may be recorded as a name or as an object naming its kind
    shaper: str(o.shaper) ?? (isObj(o.shaper) ? str(o.shaper.kind) : null),
    calibration: loadCalibration(o.calibration),
  }
}

function loadRunCells(dir: string): { run: RunModel; cells: RawCell[] } {
  const summaryFile = join(dir, 'summary.json')
  if (!existsSync(summaryFile)) {
    throw new ResultsLoadError(
      summaryFile,
      'missing',
      'give a results directory written by `consensus-bench run`',
    )
  }
  let summary: unknown
  try {
    summary = readJson(summaryFile)
  } catch (err: unknown) {
    throw new ResultsLoadError(
      summaryFile,
      `not JSON (${(err as Error).message})`,
      'rerun, or repair the file',
    )
  }
  if (!isObj(summary) || !Array.isArray(summary.cells)) {
    throw new ResultsLoadError(
      summaryFile,
      'has no `cells` array',
      'give a summary.json of a consensus-bench run',
    )
  }
  const problems: string[] = []
  const runId = str(summary.runId) ?? basename(dir)
  const rawCells = summary.cells.filter(isObj)
  const cells = rawCells.map((c, i) => loadCell(dir, runId, c, i))
  const run: RunModel = {
    dir,
    runId,
    status: str(summary.status) ?? 'unknown',
    startedAt: str(summary.startedAt),
    finishedAt: str(summary.finishedAt),
    env: loadEnv(join(dir, 'env.json'), problems),
    cells: [],
    claims: summary.claims ?? null,
    references: loadReferences(runId, summary, rawCells, problems),
    reportError: str(summary.reportError),
    problems,
  }
  return { run, cells }
}

/**
 * The series label of each cell: its label (engine, or variant: two variants of one engine are two
 * series), plus the topology, replicas and clients per site when
 * those differ among the loaded cells (so two runs of one engine on different setups stay apart), and
 * '(reference)' last for an external system's cell.
 */
function labelSeries(cells: readonly RawCell[]): CellModel[] {
  const varies = (f: (c: RawCell) => unknown) => new Set(cells.map(f)).size > 1
  const topo = varies((c) => c.topology)
  const reps = varies((c) => c.replicas)
  const clients = varies((c) => c.clientsPerSite)
  return cells.map((c) => {
    const parts = [c.label]
    if (topo) parts.push(c.topology)
    if (reps) parts.push(`n=${c.replicas ?? '?'}`)
    if (clients) parts.push(`${c.clientsPerSite ?? 'open'} cl/site`)
    if (c.reference !== null) parts.push('(reference)')
    return { ...c, series: parts.join(' ') }
  })
}

/** One or many run directories into one model; cells keep their run id. */
export function loadResults(dirs: readonly string[]): ResultsModel {
  const loaded = dirs.map((d) => loadRunCells(resolve(d)))
  const cells = labelSeries(loaded.flatMap((l) => l.cells))
  const runs = loaded.map((l) => ({ ...l.run, cells: cells.filter((c) => c.runId === l.run.runId) }))
  return { runs, cells }
}

export function loadRun(dir: string): ResultsModel {
  return loadResults([dir])
}

/** Run directories under a results root (those holding a summary.json), newest first by name. */
export function listRunDirs(root: string): string[] {
  if (!existsSync(root)) return []
  return readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(root, e.name, 'summary.json')))
    .map((e) => join(root, e.name))
    .sort((a, b) => basename(b).localeCompare(basename(a)))
}
