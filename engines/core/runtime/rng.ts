/**
 * A small seeded PRNG (sfc32, Chris Doty-Humphrey's "small fast chaotic" generator) with named streams.
 *
 * One run seed derives every stream: `new Rng(seed, 'network')` and `new Rng(seed, 'clients')` are
 * independent, so adding a random draw to one purpose does not shift the schedule of another. A stream
 * is named, never derived from another stream's state, which keeps streams stable as code changes.
 */

/** FNV-1a over the label's UTF-16 code units: a stable 32-bit hash to mix into the seed. */
function hashLabel(label: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h
}

/** splitmix32: spreads a 32-bit seed into well-mixed words to initialise sfc32's state. */
function splitmix32(state: { x: number }): number {
  state.x = (state.x + 0x9e3779b9) >>> 0
  let z = state.x
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
  return (z ^ (z >>> 16)) >>> 0
}

export class Rng {
  private a: number
  private b: number
  private c: number
  private d: number

  /** seed: any safe integer (both 32-bit halves are used); stream: the purpose this stream serves */
  constructor(
    readonly seed: number,
    readonly stream = '',
  ) {
    if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be a safe integer, got ${seed}`)
    const lo = seed >>> 0
    const hi = Math.floor(seed / 0x100000000) >>> 0
    const state = { x: (lo ^ Math.imul(hi, 0x27d4eb2d) ^ hashLabel(stream)) >>> 0 }
    this.a = splitmix32(state)
    this.b = splitmix32(state)
    this.c = splitmix32(state)
    this.d = splitmix32(state)
    // discard the first outputs: sfc32 mixes its state over a few rounds
    for (let i = 0; i < 12; i++) this.nextUint32()
  }

  /** An independent stream for another purpose, derived from the same seed. */
  fork(stream: string): Rng {
    return new Rng(this.seed, this.stream === '' ? stream : `${this.stream}/${stream}`)
  }

  nextUint32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0
    this.d = (this.d + 1) >>> 0
    this.a = this.b ^ (this.b >>> 9)
    this.b = (this.c + (this.c << 3)) >>> 0
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0
    this.c = (this.c + t) >>> 0
    return t
  }

  /** uniform in [0, 1) */
  next(): number {
    return this.nextUint32() / 0x100000000
  }

  /** uniform integer in [0, maxExclusive) */
  int(maxExclusive: number): number {
    if (!Number.isInteger(maxExclusive) || maxExclusive < 1)
      throw new RangeError(`int() needs a positive integer bound, got ${maxExclusive}`)
    return Math.floor(this.next() * maxExclusive)
  }

  /** uniform in [min, max) */
  between(min: number, max: number): number {
    if (!(max >= min)) throw new RangeError(`between(${min}, ${max}): max must be >= min`)
    return min + this.next() * (max - min)
  }

  chance(probability: number): boolean {
    return this.next() < probability
  }

  /** exponentially distributed with the given mean */
  exponential(mean: number): number {
    return -Math.log(1 - this.next()) * mean
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick() from an empty list')
    return items[this.int(items.length)]!
  }
}
