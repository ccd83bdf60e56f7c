/** The simulated network's round-trip times between replicas. */

import type { LatencyModel } from '../core/engine.ts'
import { Rng } from '../core/runtime/rng.ts'

/** A LAN-like matrix from the seed: a symmetric RTT in [rttMsMin, rttMsMax) per pair, 0 to self. */
export function lanRttMatrix(seed: number, nodes: number, rttMsMin = 2, rttMsMax = 20): number[][] {
  const rng = new Rng(seed, 'topology')
  const rtt = Array.from({ length: nodes }, () => new Array<number>(nodes).fill(0))
  for (let i = 0; i < nodes; i++) {
    for (let j = i + 1; j < nodes; j++) {
      const ms = rng.between(rttMsMin, rttMsMax)
      rtt[i]![j] = ms
      rtt[j]![i] = ms
    }
  }
  return rtt
}

/** Throws a RangeError naming the bad entry; an explicit matrix must be n x n, finite, non-negative. */
export function validateRttMatrix(rtt: readonly (readonly number[])[], nodes: number): void {
  if (rtt.length !== nodes) throw new RangeError(`rttMs must have ${nodes} rows, got ${rtt.length}`)
  rtt.forEach((row, i) => {
    if (row.length !== nodes)
      throw new RangeError(`rttMs[${i}] must have ${nodes} entries, got ${row.length}`)
    row.forEach((ms, j) => {
      if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`rttMs[${i}][${j}] must be >= 0, got ${ms}`)
    })
  })
}

/**
 * A LatencyModel from RTTs keyed by site pair in sorted order ('CA-EU'), as the engines' latency tests
 * write published tables; throws naming a pair the table lacks.
 */
export function pairRttLatencyModel(
  rtt: Readonly<Record<string, number>>,
  nodes: readonly string[],
  origin: string,
  leader: string,
  clientRttMs: number,
): LatencyModel {
  const rttMs = (a: string, b: string): number => {
    if (a === b) return 0
    const v = rtt[[a, b].sort().join('-')]
    if (v === undefined) throw new Error(`no rtt ${a}-${b}`)
    return v
  }
  return { nodes, rttMs, origin, leader, clientRttMs }
}
