/**
 * What one driver process is asked to do (plain data: it crosses the IPC channel to a child driver),
 * and what it gives back. The load (load.ts) splits one LoadSpec into `drivers` DriverSpecs.
 */
import type { HistoryOp } from '../harness/check/history.ts'
import type { ArrivalKind } from './arrivals.ts'
import type { DriverErrors, ReplicaTarget, Site } from './executor.ts'
import type { HttpKvApi } from './http-kv-api.ts'
import type { WorkloadSpec } from './ops.ts'

export type LoadShape =
  | {
      readonly kind: 'closed'
      readonly clientsPerSite: number
      /** pause after each command before the client's next one */
      readonly thinkTimeMs: number
      /** each client stops after this many commands (null: run for the duration) */
      readonly opsPerClient: number | null
    }
  | {
      readonly kind: 'open'
      /** arrivals per second over all sites and driver processes */
      readonly rateOpsPerSec: number
      readonly arrival: ArrivalKind
      /** commands in flight per driver process at most; arrivals beyond it wait (see open-loop.ts) */
      readonly maxOutstanding: number
    }

export interface LoadSpec {
  readonly sites: readonly Site[]
  readonly replicas: readonly ReplicaTarget[]
  readonly workload: WorkloadSpec
  readonly shape: LoadShape
  readonly seed: number
  /** the schedule's length; with closed-loop opsPerClient, the upper bound */
  readonly durationMs: number
  readonly warmupMs: number
  readonly cooldownMs: number
  readonly requestTimeoutMs: number
  readonly maxAttempts: number
  /** the history limit over all drivers: clients stop issuing once it is reached (the run notes it) */
  readonly maxOps: number
  /** an external system's HTTP API (http-kv-api.ts); absent: our replicas' /kv API */
  readonly api?: HttpKvApi | undefined
}

export interface DriverSpec extends LoadSpec {
  readonly driverIndex: number
  readonly driverCount: number
  /** the run clock (clock.ts), shared by every driver process on the host */
  readonly clock: { readonly zeroNs: string; readonly zeroEpochMs: number }
  /** when the load starts, on the run clock (the same for every driver) */
  readonly startUs: number
}

/** A history entry with what only the driver knows: the site, and when the command was meant to start. */
export interface DriverOp extends HistoryOp {
  readonly site: string
  /** open loop: the scheduled start; closed loop: the actual first send (= invokeUs) */
  readonly intendedUs: number
}

export interface ArrivalCounts {
  /** arrivals of the schedule with an intended time in the run */
  intended: number
  /** ... of which inside the measured window */
  intendedInWindow: number
  sent: number
  /** sent after their intended time because the outstanding bound was hit */
  sentLate: number
}

export interface DriverCpu {
  readonly driverIndex: number
  readonly userUs: number
  readonly systemUs: number
  readonly wallUs: number
  /** (user + system) / wall: 1 = one core busy for the whole load */
  readonly utilization: number
}

export interface DriverResult {
  readonly driverIndex: number
  /** sorted by invokeUs */
  readonly records: DriverOp[]
  /** the window-trimmed latency histograms, encoded (an .hlog text; latency.ts) */
  readonly latencyHlog: string
  readonly errors: DriverErrors
  readonly measuredOpsBySite: Record<string, number>
  readonly arrivals: ArrivalCounts | null
  readonly cpu: DriverCpu
  readonly startUs: number
  readonly endUs: number
  readonly windowStartUs: number
  readonly windowEndUs: number
  readonly truncated: boolean
}
