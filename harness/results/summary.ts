/**
 * summary.json: the contract other tools read (documented in results/README.md). It is rewritten as
 * cells finish; `status` stays 'incomplete' until the whole run has finished.
 */
import type { DriverErrors } from '../../workloads/executor.ts'
import type { LatencySummaryUs } from '../../workloads/latency.ts'
import type { LoadSummary } from '../../workloads/run-options.ts'
import type { LostWrites } from '../availability.ts'
import type { ReferenceRow } from '../claims/references.ts'
import type { ClaimResult } from '../claims/types.ts'
import type { FaultRecord } from '../faults.ts'
import type { NodeCostFields } from '../node-cost.ts'
import type { CellNetworkSummary } from '../topology-run.ts'

export interface SiteSummary {
  readonly ops: number
  readonly throughputOpsPerSec: number
  readonly latencyUs: LatencySummaryUs
  /** topology runs: the engine's expectedLatencyMs for this site's clients (netem/placement.ts) */
  readonly expectedLatencyMs?: number
}

export interface CheckSummary {
  readonly verdict: 'linearizable' | 'violation' | 'unknown'
  readonly elapsedMs: number
  /** why the verdict is unknown, or which key broke */
  readonly detail?: string
}

/** Error counts by kind over every attempt (the driver's own counters). */
export type CellErrors = DriverErrors

/**
 * LoadSummary: the load mode, workload, achievedConflict, arrivals, driver CPU (workloads/run-options.ts);
 * NodeCostFields: nodes, bottleneckNode, fastPath, slowPath, nodeCost (harness/node-cost.ts)
 */
export interface CellSummary extends LoadSummary, NodeCostFields {
  readonly id: string
  readonly state: 'complete'
  readonly engine: string
  /** an experiment's engine variant (lan-throughput: multipaxos-batching); absent: the engine itself */
  readonly variant?: string
  /**
   * An external system (harness/external/), a reference row rather than one of our engines: `model`
   * is the registered engine whose expectedLatencyMs its sites are held to (etcd: raft), or null.
   */
  readonly external?: { readonly model: string | null }
  readonly topology: string
  readonly conflict: number
  readonly readRatio: number
  /** ONLY when the replicas ran with the host's processing-delay knob (testing gates): ms per input */
  readonly processingDelayMs?: number
  readonly repetition: number
  readonly replicas: number
  /** closed loop; null in an open loop */
  readonly clientsPerSite: number | null
  readonly durationMs: number
  readonly warmupMs: number
  readonly cooldownMs: number
  /** when the load started, microseconds on the cell's clock (history and fault times use that clock) */
  readonly loadStartUs: number
  /** ok commands invoked inside the measured window */
  readonly opsCompleted: number
  /** every command in the history, warm-up and read-back included */
  readonly opsRecorded: number
  readonly throughputOpsPerSec: number
  readonly latencyUs: LatencySummaryUs
  readonly latencyUsByOp: { readonly get: LatencySummaryUs; readonly put: LatencySummaryUs }
  readonly sites: Readonly<Record<string, SiteSummary>>
  readonly check: CheckSummary
  readonly faults: readonly FaultRecord[]
  readonly errors: CellErrors
  readonly readBack: { readonly keys: number; readonly ok: number }
  /** acknowledged writes the read-back did not see (harness/availability.ts) */
  readonly lostWrites: LostWrites
  /** the driver hit its history limit and stopped early */
  readonly truncated: boolean
  /** topology runs: the shaper, why it was chosen, and the links the calibration found off tolerance */
  readonly network?: CellNetworkSummary
  /** paths relative to the run directory */
  readonly files: {
    readonly history: string
    readonly check: string
    readonly latency: string
    readonly timeline: string
    readonly replicas: string
  }
}

export interface RunSummary {
  readonly status: 'complete' | 'incomplete'
  readonly runId: string
  readonly startedAt: string
  readonly finishedAt: string | null
  readonly cells: readonly CellSummary[]
  /** experiments: the claims verdicts at the end of the run (harness/claims/) */
  readonly claims?: readonly ClaimResult[]
  /** experiments with an external system (etcd): its reference rows (harness/claims/references.ts) */
  readonly references?: readonly ReferenceRow[]
  /** present only when building report.html failed at the end of the run (dashboards/report.ts) */
  readonly reportError?: string
}
