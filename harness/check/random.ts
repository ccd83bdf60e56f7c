/** The seeded random source for history generators and tests, over the project's one PRNG (Rng). */
import { Rng } from '../../engines/core/runtime/rng.ts'

export interface Random {
  /** uniform in [0, 1) */
  next(): number
  /** integer uniform in [min, max] */
  int(min: number, max: number): number
  chance(probability: number): boolean
  pick<T>(items: readonly T[]): T
}

export function createRandom(seed: number): Random {
  const rng = new Rng(seed, 'check')
  return {
    next: () => rng.next(),
    int: (min, max) => min + rng.int(max - min + 1),
    chance: (probability) => rng.chance(probability),
    pick: (items) => rng.pick(items),
  }
}
