/** Every chart of a report, in the order the report shows them. */
import type { ResultsModel } from '../model.ts'
import type { Chart, ChartBuilder } from './common.ts'
import { calibration, measuredOverExpected, nodeCost } from './cost.ts'
import { unavailability } from './faults.ts'
import { latencyBySite, latencyDistribution, latencyVsConflict } from './latency.ts'
import { throughputTimeline, throughputVsLatency } from './throughput.ts'

export type { Chart, ChartBuilder, ChartInfo } from './common.ts'

export const CHART_BUILDERS: readonly ChartBuilder[] = [
  latencyDistribution,
  latencyBySite,
  latencyVsConflict,
  throughputVsLatency,
  throughputTimeline,
  unavailability,
  nodeCost,
  measuredOverExpected,
  calibration,
]

export function buildCharts(model: ResultsModel): Chart[] {
  return CHART_BUILDERS.map((build) => build(model))
}
