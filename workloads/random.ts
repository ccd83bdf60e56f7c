/**
 * Seeded randomness for the load driver, over the project's one PRNG (Rng). One run seed derives an
 * independent named stream per client, so a client's sequence of keys and op types does not depend on
 * how the other clients are scheduled.
 */
import { Rng } from '../engines/core/runtime/rng.ts'

/** A uniform source in [0, 1). */
export type Random = () => number

export function seededRandom(seed: number, stream = 'driver'): Random {
  const rng = new Rng(seed, stream)
  return () => rng.next()
}
