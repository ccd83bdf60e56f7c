/**
 * The normalized results model the charts are built from (dashboards/load.ts fills it from results
 * directories). Every optional figure of the results contract is `null` here when a run did not record
 * it, so a spec builder decides once what "no data" means instead of guarding every field.
 */
import type { LatencySummaryUs } from '../workloads/latency.ts'

/** Integer microseconds, as in summary.json (p50, p90, p99, p999, max, mean). */
export type LatencyUs = LatencySummaryUs

export interface SiteModel {
  readonly site: string
  readonly ops: number
  readonly throughputOpsPerSec: number
  readonly latencyUs: LatencyUs
  /** the protocol's message-pattern bound for this site (engine's expectedLatencyMs), when recorded */
  readonly expectedLatencyMs: number | null
}

export interface NodeCostModel {
  readonly node: string
  readonly msgsPerOp: number | null
  readonly bytesPerOp: number | null
  readonly cpuUsPerOp: number | null
}

/** One point of an HDR percentile distribution. */
export interface PercentilePoint {
  readonly percentile: number
  readonly latencyUs: number
}

export interface TimelinePoint {
  /** whole seconds since the load started */
  readonly second: number
  /** commands completed in that second */
  readonly ops: number
}

export interface Timeline {
  readonly points: readonly TimelinePoint[]
  /** where the points came from: the cell's timeline file, or counted from history.jsonl */
  readonly source: 'timeline' | 'history'
}

/** One fault of a cell (summary.json `faults`), times in seconds of the load. */
export interface FaultModel {
  /** kill, kill-leader, partition, slow, pause, replica-exit */
  readonly kind: string
  readonly description: string
  readonly atSecond: number
  /** when it ended (restart, heal, resume), or null: it lasted to the end */
  readonly endSecond: number | null
  /** every step (kill, restart, heal, ...) */
  readonly events: ReadonlyArray<{ readonly second: number; readonly what: string }>
  /** per client site: ms until it committed again (null: it never did) */
  readonly recoveryMsBySite: Readonly<Record<string, number | null>>
  readonly opsFailed: number | null
  readonly opsUnknown: number | null
  /** kill-leader: ms until a survivor named a new leader */
  readonly newLeaderAfterMs: number | null
}

/**
 * Why a cell is a reference rather than one of our engines, and where its figures come from. Today the
 * only kind is an external system (harness/external/, etcd) measured in the same run as the engines:
 * summary.json `cells[].external`. It is never judged by the claims.
 */
export interface ReferenceSource {
  readonly kind: 'external'
  /** the registered engine whose expectedLatencyMs its sites are held to (etcd: raft), or null */
  readonly model: string | null
  /** one phrase for the reader: where the figures come from */
  readonly source: string
}

export interface CellModel {
  readonly runId: string
  readonly id: string
  readonly engine: string
  /** summary.json `cells[].variant`: an experiment's variant label (multipaxos-batching), or null */
  readonly variant: string | null
  /**
   * what the cell is called in every series, legend, tooltip and table: harness/results/label.ts
   * cellLabel (the engine, or the variant: `multipaxos-batching`, `epaxos/fast`)
   */
  readonly label: string
  readonly topology: string
  readonly conflict: number
  readonly achievedConflict: number | null
  readonly repetition: number
  readonly replicas: number | null
  readonly clientsPerSite: number | null
  readonly warmupMs: number
  readonly throughputOpsPerSec: number
  readonly latencyUs: LatencyUs
  readonly sites: readonly SiteModel[]
  readonly verdict: string
  readonly nodes: readonly NodeCostModel[]
  readonly bottleneckNode: string | null
  /** the cell's latency.hlog, every site and op merged (null: no readable log) */
  readonly distribution: readonly PercentilePoint[] | null
  readonly timeline: Timeline | null
  readonly faults: readonly FaultModel[]
  /** null: one of our engines; else this cell is a reference row's (an external system) */
  readonly reference: ReferenceSource | null
  /**
   * series label for charts: the cell's `label`, plus whatever else varies across the loaded cells (not
   * conflict), plus ' (reference)' for a reference cell, so no legend shows it as one of our engines
   */
  readonly series: string
  /** non-fatal problems met while loading this cell (a missing or unreadable file) */
  readonly problems: readonly string[]
}

export interface CalibrationLinkModel {
  readonly from: string
  readonly to: string
  readonly targetRttMs: number
  readonly measuredRttMsP50: number
  readonly measuredRttMsP99: number | null
  readonly errorMs: number
  readonly withinTolerance: boolean
}

export interface CalibrationModel {
  readonly topology: string | null
  readonly shaper: string | null
  readonly links: readonly CalibrationLinkModel[]
}

export interface EnvModel {
  readonly gitCommit: string | null
  readonly gitDirty: boolean | null
  readonly node: string | null
  readonly platform: string | null
  readonly kernel: string | null
  readonly cpuModel: string | null
  readonly cpuCount: number | null
  readonly memoryBytes: number | null
  readonly launcher: string | null
  readonly shaper: string | null
  readonly calibration: CalibrationModel | null
}

/**
 * One reference row (harness/claims/references.ts): an external system's figures per topology and
 * conflict rate, means over its cells (repetitions). A figure the row lacks is null.
 */
export interface ReferenceRowModel {
  readonly runId: string
  /** the external system's name, or its variant's (harness/results/label.ts cellLabel) */
  readonly engine: string
  readonly model: string | null
  readonly topology: string
  readonly conflict: number
  readonly cells: readonly string[]
  readonly throughputOpsPerSec: number | null
  readonly p50Ms: number | null
  readonly p99Ms: number | null
  /** null for an op kind with no commands (never 0 ms) */
  readonly p50MsByOp: { readonly get: number | null; readonly put: number | null } | null
  readonly linearizable: { readonly yes: number; readonly of: number } | null
  readonly p50OverExpected: number | null
  readonly vsModel: {
    readonly engine: string
    readonly throughputRatio: number | null
    readonly p99Ratio: number | null
  } | null
  /** where the figures come from, for the reader */
  readonly source: string
  /**
   * 'summary': summary.json `references` (written at the end of a complete run); 'cells': computed at
   * report time from the cells marked `external` (an interrupted run, or one written before the field)
   */
  readonly from: 'summary' | 'cells'
}

export interface RunModel {
  readonly dir: string
  readonly runId: string
  readonly status: string
  readonly startedAt: string | null
  readonly finishedAt: string | null
  readonly env: EnvModel | null
  readonly cells: readonly CellModel[]
  /** summary.claims as written by the claims evaluator, shape not fixed here */
  readonly claims: unknown
  /** the run's reference rows (external systems beside the engines); [] when it has none */
  readonly references: readonly ReferenceRowModel[]
  /** summary.reportError: why the last report build failed */
  readonly reportError: string | null
  readonly problems: readonly string[]
}

/** Several runs read together (one for a report, many for the served comparison). */
export interface ResultsModel {
  readonly runs: readonly RunModel[]
  readonly cells: readonly CellModel[]
}
