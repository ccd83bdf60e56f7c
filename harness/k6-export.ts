/**
 * `k6 export`: the k6 script equivalent to a run's workload (workloads/k6-export.ts writes it). The
 * options are `run`'s, validated the same way; the sites are the run's (each replica is its own site,
 * r0..r<n-1>), and the replica URLs are given to k6 at run time (env REPLICA_URLS).
 */
import { type K6Workload, k6Script, k6WorkloadProblems } from '../workloads/k6-export.ts'
import { keyDistributionOf, loadShapeOf } from '../workloads/run-options.ts'
import { RunOptionError, type RunOptions, type RunOptionsInput, resolveRunOptions } from './run.ts'

export function k6WorkloadOf(options: RunOptions): K6Workload {
  return {
    sites: Array.from({ length: options.replicas }, (_, i) => `r${i}`),
    shape: loadShapeOf(options),
    keys: keyDistributionOf(options),
    readRatio: options.readRatio,
    valueSizeBytes: options.valueSizeBytes,
    durationMs: options.durationMs,
    requestTimeoutMs: options.requestTimeoutMs,
    maxAttempts: options.maxAttempts,
  }
}

/** The script for run options; RunOptionError for options `run` would reject or k6 cannot express. */
export function k6ExportScript(input: RunOptionsInput): string {
  const options = resolveRunOptions(input)
  const workload = k6WorkloadOf(options)
  const problem = k6WorkloadProblems(workload)[0]
  if (problem !== undefined) throw new RunOptionError('keys', problem, 'export a smaller keyspace')
  const shape =
    workload.shape.kind === 'closed'
      ? `${workload.shape.clientsPerSite} clients/site`
      : `${workload.shape.rateOpsPerSec} ops/s ${workload.shape.arrival}`
  const title = `${options.engine}, ${options.replicas} replicas, ${shape}, ${workload.keys.kind} keys, read ratio ${options.readRatio}, ${options.durationMs / 1000} s`
  return k6Script(workload, title)
}
