/**
 * The per-chunk delay model: jitter drawn from a distribution, and loss as a retransmission delay.
 * Every draw comes from the run's seeded Rng, so a relay started with the same seed and fed the same
 * chunks draws the same delays.
 */
import type { Rng } from '../../engines/core/runtime/rng.ts'
import type { LinkShape } from '../shaper.ts'

/** Standard normal by Box-Muller. */
function standardNormal(rng: Rng): number {
  const u = Math.max(rng.next(), Number.MIN_VALUE)
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next())
}

// Pareto with shape 3 (finite variance, heavy right tail), shifted to mean 0 and scaled to sd 1.
const PARETO_ALPHA = 3
const PARETO_MEAN = PARETO_ALPHA / (PARETO_ALPHA - 1)
const PARETO_SD = Math.sqrt(PARETO_ALPHA / ((PARETO_ALPHA - 1) ** 2 * (PARETO_ALPHA - 2)))
function standardPareto(rng: Rng): number {
  const x = (1 - rng.next()) ** (-1 / PARETO_ALPHA)
  return (x - PARETO_MEAN) / PARETO_SD
}

// netem's paretonormal mixes 3/4 normal and 1/4 pareto; rescaled so the sum has sd 1 again.
const PARETONORMAL_SD = Math.sqrt(0.75 ** 2 + 0.25 ** 2)

/**
 * One jitter draw in ms with mean 0 and standard deviation jitterMs (uniform: spread evenly over
 * [-jitterMs, +jitterMs], as netem does without a distribution table).
 */
export function sampleJitterMs(rng: Rng, shape: LinkShape): number {
  if (shape.jitterMs === 0) return 0
  switch (shape.jitterDistribution) {
    case 'uniform':
      return (rng.next() * 2 - 1) * shape.jitterMs
    case 'normal':
      return standardNormal(rng) * shape.jitterMs
    case 'pareto':
      return standardPareto(rng) * shape.jitterMs
    case 'paretonormal':
      return ((0.75 * standardNormal(rng) + 0.25 * standardPareto(rng)) / PARETONORMAL_SD) * shape.jitterMs
  }
}

/** TCP's maximum segment on a 1500-byte MTU path: loss is per segment, a chunk spans several. */
export const SEGMENT_BYTES = 1448
/** Linux's tail loss probe never fires sooner than this. */
export const MIN_RETRANSMIT_MS = 10
/** a chunk lost this many times in a row stops drawing (bounds the delay; p^8 is negligible anyway) */
const MAX_LOSSES = 8

/**
 * The extra delay a chunk suffers from loss. Each of its segments is lost with probability lossRate; a
 * chunk with a lost segment waits for one retransmission, max(2 x RTT, 10 ms): Linux's tail loss probe
 * timeout, which is what recovers a loss in request/response traffic (too few segments follow it for
 * three duplicate ACKs). The retransmission can be lost again, with the same chance per attempt.
 */
export function sampleLossDelayMs(rng: Rng, lossRate: number, bytes: number, rttMs: number): number {
  if (lossRate === 0) return 0
  const segments = Math.max(1, Math.ceil(bytes / SEGMENT_BYTES))
  const chunkLossRate = 1 - (1 - lossRate) ** segments
  const penaltyMs = Math.max(2 * rttMs, MIN_RETRANSMIT_MS)
  let delayMs = 0
  for (let losses = 0; losses < MAX_LOSSES && rng.chance(chunkLossRate); losses++) delayMs += penaltyMs
  return delayMs
}
