/**
 * Deadlines that follow the latency of the moment, shared by the engines that retry things (Ios's
 * delegation and accept resends, Multi-Paxos' accept resends).
 *
 * A fixed retry deadline assumes a round trip is shorter than it. On a host slowed down as a whole (CPU
 * starved, or a WAN slower than the configured figure) every round trip takes longer than that: every
 * in-flight item is retried again and again, each retry adds messages and work, and the cluster slows
 * further. A deadline of `factor` x the mean latency of the moment (never below a configured floor),
 * doubled per retry of the same item (bounded), retries only what is late compared with the others.
 */

/** Weight of a new sample in the mean latency. */
const LATENCY_EWMA_WEIGHT = 0.2
/** a deadline doubles with each retry of the same thing, at most this many times */
export const MAX_BACKOFF_DOUBLINGS = 3

/** An exponentially weighted mean of latencies (ms); 0 before the first sample. */
export class LatencyMean {
  private mean = 0
  private n = 0

  add(latencyMs: number): void {
    if (!(latencyMs >= 0)) throw new Error(`internal: latency ${latencyMs} ms`)
    this.mean = this.n === 0 ? latencyMs : this.mean + LATENCY_EWMA_WEIGHT * (latencyMs - this.mean)
    this.n++
  }

  /** forgets every sample: the next one starts the mean afresh */
  reset(): void {
    this.n = 0
    this.mean = 0
  }

  get ms(): number {
    return this.mean
  }

  get samples(): number {
    return this.n
  }
}

/**
 * How long to wait before retrying something for the (tries + 1)-th time: `factor` x the mean latency
 * of that thing, at least `floorMs`, doubled per earlier try (at most MAX_BACKOFF_DOUBLINGS times).
 */
export function adaptiveDeadlineMs(
  floorMs: number,
  factor: number,
  mean: LatencyMean,
  tries: number,
): number {
  if (!(tries >= 0)) throw new Error(`internal: ${tries} tries`)
  if (!(floorMs >= 0) || !(factor >= 0)) throw new Error(`internal: floor ${floorMs} ms, factor ${factor}`)
  return Math.max(floorMs, factor * mean.ms) * 2 ** Math.min(tries, MAX_BACKOFF_DOUBLINGS)
}
