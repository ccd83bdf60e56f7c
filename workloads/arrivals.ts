/**
 * Open-loop arrival schedules: the intended start time of every command, fixed in advance of (and
 * independent of) how fast the system answers. That independence is what corrects coordinated omission:
 * a stalled system cannot slow the schedule down, and latency is measured from these times.
 *
 * A total rate R is split into independent streams (one per driver process and site), each at R / streams.
 * - constant: stream j of m sends at (k + j/m) / (R/m) seconds, so the streams interleave into one
 *   evenly spaced schedule at rate R.
 * - poisson: exponential gaps at rate R/m per stream, seeded; the union of the streams is a Poisson
 *   process at rate R.
 */
import type { Random } from './random.ts'

export type ArrivalKind = 'constant' | 'poisson'

/** Intended times of one stream, microseconds from the load start: each call returns the next one. */
export function arrivalTimes(
  kind: ArrivalKind,
  totalRateOpsPerSec: number,
  stream: number,
  streams: number,
  random: Random,
): () => number {
  if (!(totalRateOpsPerSec > 0 && Number.isFinite(totalRateOpsPerSec)))
    throw new Error(`rate must be > 0 ops/s, got ${totalRateOpsPerSec}`)
  if (!(Number.isInteger(streams) && streams >= 1 && stream >= 0 && stream < streams))
    throw new Error(`stream ${stream} of ${streams}`)
  const rate = totalRateOpsPerSec / streams
  if (kind === 'constant') {
    let k = 0
    const phase = stream / streams
    return () => ((k++ + phase) / rate) * 1e6
  }
  let t = 0
  return () => {
    // 1 - u is in (0, 1]: log never sees 0
    t += (-Math.log(1 - random()) / rate) * 1e6
    return t
  }
}
