/**
 * The replica's seeded random source (ctx.random): sfc32 seeded from (seed, replica id), so replicas of
 * one run draw different but reproducible streams.
 */
export function hashString(text: string): number {
  // FNV-1a, 32-bit
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return hash >>> 0
}

/** Uniform in [0, 1). */
export function seededRandom(seed: number, id: string): () => number {
  let a = seed >>> 0
  let b = hashString(id)
  let c = 0x9e3779b9
  let d = 1
  const next = (): number => {
    const t = (((a + b) | 0) + d) | 0
    d = (d + 1) | 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) | 0
    c = (c << 21) | (c >>> 11)
    c = (c + t) | 0
    return (t >>> 0) / 4294967296
  }
  for (let i = 0; i < 12; i++) next() // mix the seed in before the first draw
  return next
}
