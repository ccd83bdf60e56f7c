/** The library API: the CLI (harness/cli.ts) is a thin layer over these. */

export { listRunDirs, loadResults, loadRun, ResultsLoadError } from '../dashboards/load.ts'
export type { ReportResult } from '../dashboards/report.ts'
export { buildReport, rebuildReport } from '../dashboards/report.ts'
export type { RunListing, RunningServer, ServeOptions } from '../dashboards/serve.ts'
export { listRuns, startServer } from '../dashboards/serve.ts'
export type { Experiment } from '../experiments/schema.ts'
export { ExperimentError, loadExperiment, parseExperiment } from '../experiments/schema.ts'
export type { CalibrationLink, CalibrationTable } from '../netem/calibration.ts'
export { toleranceMs } from '../netem/calibration.ts'
export type { ShaperChoice } from '../netem/choose.ts'
export { chooseShaper } from '../netem/choose.ts'
export type { ImportOptions, Provider } from '../netem/import.ts'
export { ImportError, importTopology, topologyToYaml } from '../netem/import.ts'
export type { ClientGroup, Placement } from '../netem/placement.ts'
export { latencyModel, networkSpec, placeOnTopology } from '../netem/placement.ts'
export type { Topology } from '../netem/topology.ts'
export { builtinTopologyNames, loadTopology, TopologyError } from '../netem/topology.ts'
export type { RunClock } from '../workloads/clock.ts'
export { startRunClock } from '../workloads/clock.ts'
export type { DriverErrors, ReplicaTarget, Site } from '../workloads/executor.ts'
export type { LatencySummaryUs } from '../workloads/latency.ts'
export { LatencyRecorder, readHlog, summarizeLatency } from '../workloads/latency.ts'
export type { LoadHooks, LoadResult } from '../workloads/load.ts'
export { runLoad } from '../workloads/load.ts'
export type { TimelineSecond } from '../workloads/measure.ts'
export { achievedConflict, throughputTimeline } from '../workloads/measure.ts'
export type { History, HistoryOp } from './check/history.ts'
export { historyFromJsonl, historyToJsonl } from './check/history.ts'
export type { ClaimResult } from './claims/index.ts'
export { claimsTable, evaluateClaims, evaluateRunClaims } from './claims/index.ts'
export type { TopologyListing } from './commands/topologies.ts'
export { listTopologies } from './commands/topologies.ts'
export type { FaultRecord, FaultSpec } from './faults.ts'
export { currentLeader, waitForAgreedLeader } from './faults.ts'
export { saveBaseline } from './gate/baseline.ts'
export type { GateOptions, GateResult, GateRow, GateVerdict } from './gate/gate.ts'
export { decide, runGate } from './gate/gate.ts'
export type { MicroBenchmark, MicroResults } from './gate/micro.ts'
export { gateJunit, gateMarkdown, gateTable } from './gate/output.ts'
export { GateInputError } from './gate/results.ts'
export type { Threshold } from './gate/thresholds.ts'
export {
  parseThreshold,
  parseThresholdFlag,
  parseThresholdsObject,
  ThresholdError,
} from './gate/thresholds.ts'
export { k6ExportScript, k6WorkloadOf } from './k6-export.ts'
export type { LocalClusterOptions } from './launchers/local.ts'
export { startLocalCluster } from './launchers/local.ts'
export type { Cluster, ReplicaExit, ReplicaHandle, ReplicaHealth } from './launchers/types.ts'
export type { CellPlan, MatrixPlan } from './matrix.ts'
export { expandExperiment } from './matrix.ts'
export { ResumeError, readPlan } from './matrix-run.ts'
export type {
  NodeCost,
  NodeCostFields,
  NodeCostResult,
  ScrapeAnswer,
  ScrapePolicy,
  ScrapeRound,
} from './node-cost.ts'
export { NodeCostMeter, nodeCost, SCRAPE_POLICY, scrapeReplicas } from './node-cost.ts'
export type { ProbeOptionsInput, ProbeResult } from './probe.ts'
export { runProbe } from './probe.ts'
export type { RunEnvironment } from './results/env.ts'
export type { CellSummary, RunSummary, SiteSummary } from './results/summary.ts'
export type { RunHooks, RunOptions, RunOptionsInput, RunResult } from './run.ts'
export {
  cellId,
  RunOptionError,
  resolveRunOptions,
  runBenchmark,
  runMatrix,
  runOptionsSchema,
} from './run.ts'
export type { TopologyPlan, TopologyRunDeps } from './topology-run.ts'
export { calibrateTopologyByName, planTopologyRun } from './topology-run.ts'
