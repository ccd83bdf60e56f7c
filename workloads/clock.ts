/**
 * One monotonic clock for a run, in microseconds since the run's zero. Every invoke and complete time
 * in a history, every fault time and every latency sample comes from the same clock, so they compare.
 */
import { performance } from 'node:perf_hooks'

export interface RunClock {
  /** microseconds since the clock's zero; integer, never decreases */
  nowUs(): number
  /** the wall-clock time (ms since the epoch) at the clock's zero, for the results */
  readonly zeroEpochMs: number
}

export function startRunClock(): RunClock {
  const zeroMs = performance.now()
  const zeroEpochMs = Date.now()
  return {
    nowUs: () => Math.floor((performance.now() - zeroMs) * 1000),
    zeroEpochMs,
  }
}
