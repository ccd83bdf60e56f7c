/**
 * One monotonic clock for a run, in microseconds since the run's zero. Every invoke and complete time
 * in a history, every fault time and every latency sample comes from the same clock, so they compare.
 *
 * It reads process.hrtime (CLOCK_MONOTONIC, one clock for the whole host), so a driver child process
 * given the parent's `zeroNs` reads the very same clock: histories from several driver processes
 * compare without any synchronisation step.
 */
import { hrtime } from 'node:process'

export interface RunClock {
  /** microseconds since the clock's zero; integer, never decreases */
  nowUs(): number
  /** the wall-clock time (ms since the epoch) at the clock's zero, for the results */
  readonly zeroEpochMs: number
  /** the clock's zero on the host's monotonic clock (process.hrtime.bigint), as a decimal string */
  readonly zeroNs: string
}

export function startRunClock(): RunClock {
  return runClockAt(hrtime.bigint().toString(), Date.now())
}

/** The clock whose zero is `zeroNs` (from another process's RunClock on the same host). */
export function runClockAt(zeroNs: string, zeroEpochMs: number): RunClock {
  const zero = BigInt(zeroNs)
  return {
    nowUs: () => Number((hrtime.bigint() - zero) / 1000n),
    zeroEpochMs,
    zeroNs,
  }
}
