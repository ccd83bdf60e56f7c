/**
 * Seeded randomness for the load driver. One run seed derives an independent stream per client, so a
 * client's sequence of keys and op types does not depend on how the other clients are scheduled.
 */

/** splitmix32: mixes a seed and a stream index into a well-spread 32-bit state. */
function mix32(x: number): number {
  let z = (x + 0x9e3779b9) | 0
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
  return (z ^ (z >>> 16)) >>> 0
}

/** A uniform source in [0, 1): mulberry32, small and good enough for workload choices. */
export type Random = () => number

export function seededRandom(seed: number, stream = 0): Random {
  if (!Number.isInteger(seed) || !Number.isInteger(stream)) {
    throw new Error(`seededRandom: seed and stream must be integers, got ${seed}, ${stream}`)
  }
  let state = mix32(mix32(seed) ^ Math.imul(stream + 1, 0x27d4eb2d))
  return () => {
    state = (state + 0x6d2b79f5) | 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A 32-bit stream index derived from a name (FNV-1a), so streams are stable across runs. */
export function streamOf(name: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}
