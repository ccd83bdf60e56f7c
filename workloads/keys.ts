/**
 * Seeded key generators. Each client draws its keys from its own seeded stream, so a client's key
 * sequence does not depend on scheduling.
 *
 * - conflict (DESIGN.md, "Workloads and measurement"): with probability `conflict` a command targets a
 *   key drawn uniformly from a small shared pool (default one hot key); otherwise one of the keys
 *   private to its client. Private keys carry the client id in their name, so they can never collide
 *   across clients (the anchors' "unique keys from a loop index" bug).
 * - uniform: every key of one keyspace `key-0 .. key-(n-1)` shared by all clients, equally likely.
 * - zipf: the same keyspace, rank i (key-i) with probability proportional to 1/(i+1)^theta (theta 0 is
 *   uniform, YCSB's default is 0.99); drawn exactly by inverse CDF (binary search over the cumulative
 *   weights, computed once per (keys, theta)), so any theta >= 0 works.
 * - hotspot: the first `hotKeyFraction` of the keyspace receives `hotOpFraction` of the commands,
 *   uniformly within the hot and the cold set (YCSB's hotspot generator).
 *
 * The read ratio is a separate knob (ops.ts): FrankenPaxos coupled the two.
 */
import type { Random } from './random.ts'

export type KeyDistribution =
  | {
      readonly kind: 'conflict'
      /** probability in [0, 1] that a command targets the shared pool */
      readonly conflict: number
      /** size of the shared pool; >= 1 */
      readonly sharedKeys: number
      /** keys private to each client; >= 1 */
      readonly privateKeysPerClient: number
    }
  | { readonly kind: 'uniform'; readonly keys: number }
  | { readonly kind: 'zipf'; readonly keys: number; readonly theta: number }
  | {
      readonly kind: 'hotspot'
      readonly keys: number
      /** fraction of the keyspace that is hot, in (0, 1] */
      readonly hotKeyFraction: number
      /** fraction of the commands that go to the hot set, in [0, 1] */
      readonly hotOpFraction: number
    }

export type KeyDistributionKind = KeyDistribution['kind']
export const KEY_DISTRIBUTIONS: readonly KeyDistributionKind[] = ['conflict', 'uniform', 'zipf', 'hotspot']

/** The zipf keyspace is held as a cumulative table: bound it (8 bytes a key). */
export const MAX_ZIPF_KEYS = 10_000_000

export function sharedKeyName(index: number): string {
  return `shared-${index}`
}

export function privateKeyName(client: string, index: number): string {
  return `${client}-k${index}`
}

/** A key of the common keyspace of the uniform, zipf and hotspot distributions. */
export function spaceKeyName(index: number): string {
  return `key-${index}`
}

/** The problems with a distribution's parameters (empty when valid), each naming its field. */
export function keyDistributionProblems(d: KeyDistribution): string[] {
  const problems: string[] = []
  const wholeAtLeast1 = (name: string, n: number) => {
    if (!Number.isInteger(n) || n < 1) problems.push(`${name} must be a whole number >= 1, got ${n}`)
  }
  switch (d.kind) {
    case 'conflict':
      if (!(d.conflict >= 0 && d.conflict <= 1))
        problems.push(`conflict must be in [0, 1], got ${d.conflict}`)
      wholeAtLeast1('sharedKeys', d.sharedKeys)
      wholeAtLeast1('privateKeysPerClient', d.privateKeysPerClient)
      break
    case 'uniform':
      wholeAtLeast1('keys', d.keys)
      break
    case 'zipf':
      wholeAtLeast1('keys', d.keys)
      if (d.keys > MAX_ZIPF_KEYS) problems.push(`keys must be <= ${MAX_ZIPF_KEYS} for zipf, got ${d.keys}`)
      if (!(d.theta >= 0 && Number.isFinite(d.theta))) problems.push(`theta must be >= 0, got ${d.theta}`)
      break
    case 'hotspot':
      wholeAtLeast1('keys', d.keys)
      if (!(d.hotKeyFraction > 0 && d.hotKeyFraction <= 1))
        problems.push(`hotKeyFraction must be in (0, 1], got ${d.hotKeyFraction}`)
      if (!(d.hotOpFraction >= 0 && d.hotOpFraction <= 1))
        problems.push(`hotOpFraction must be in [0, 1], got ${d.hotOpFraction}`)
      break
  }
  return problems
}

/** A chooser for one client: returns the key of its next command. */
export function keyChooser(client: string, d: KeyDistribution, random: Random): () => string {
  const problems = keyDistributionProblems(d)
  if (problems.length > 0) throw new Error(`key distribution '${d.kind}': ${problems.join('; ')}`)
  const pick = (n: number) => Math.floor(random() * n)
  switch (d.kind) {
    case 'conflict': {
      const privateKeys = Array.from({ length: d.privateKeysPerClient }, (_, i) => privateKeyName(client, i))
      // the draw for "shared or private" is always taken, so c = 0 and c = 1 use the same stream layout
      return () =>
        random() < d.conflict ? sharedKeyName(pick(d.sharedKeys)) : privateKeys[pick(privateKeys.length)]!
    }
    case 'uniform':
      return () => spaceKeyName(pick(d.keys))
    case 'zipf': {
      const cdf = zipfCdf(d.keys, d.theta)
      return () => spaceKeyName(searchCdf(cdf, random()))
    }
    case 'hotspot': {
      const hot = Math.max(1, Math.min(d.keys, Math.round(d.keys * d.hotKeyFraction)))
      const cold = d.keys - hot
      return () => {
        const toHot = random() < d.hotOpFraction || cold === 0
        return spaceKeyName(toHot ? pick(hot) : hot + pick(cold))
      }
    }
  }
}

/** P(rank i) for the zipf distribution: (1/(i+1)^theta) / sum_j 1/(j+1)^theta. */
export function zipfProbability(keys: number, theta: number, rank: number): number {
  const cdf = zipfCdf(keys, theta)
  return cdf[rank]! - (rank === 0 ? 0 : cdf[rank - 1]!)
}

/** Cumulative zipf weights, normalised to end at 1; cached because every client uses the same table. */
const zipfTables = new Map<string, Float64Array>()

function zipfCdf(keys: number, theta: number): Float64Array {
  const id = `${keys}/${theta}`
  let cdf = zipfTables.get(id)
  if (cdf === undefined) {
    cdf = new Float64Array(keys)
    let sum = 0
    for (let i = 0; i < keys; i++) {
      sum += 1 / (i + 1) ** theta
      cdf[i] = sum
    }
    for (let i = 0; i < keys; i++) cdf[i] = cdf[i]! / sum
    cdf[keys - 1] = 1
    // a handful of tables at most in one process (one per distinct experiment setting)
    if (zipfTables.size >= 8) zipfTables.clear()
    zipfTables.set(id, cdf)
  }
  return cdf
}

/** The first index whose cumulative weight exceeds u (u in [0, 1)). */
function searchCdf(cdf: Float64Array, u: number): number {
  let lo = 0
  let hi = cdf.length - 1
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (cdf[mid]! > u) hi = mid
    else lo = mid + 1
  }
  return lo
}
