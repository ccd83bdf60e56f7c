/**
 * Quorum math shared by the engines.
 *
 * - Majority quorums: any two of size floor(n/2)+1 intersect; up to floor((n-1)/2) failures.
 * - Fast Paxos (Lamport 2005, sections 2.2 and 3.1): with at most F failures for classic rounds and E for
 *   fast rounds, a classic quorum has n - F nodes and a fast quorum n - E, safe when n > 2F (two classic
 *   quorums intersect) and n > 2E + F (a classic quorum and two fast quorums intersect).
 * - Flexible Paxos (Howard, Malkhi, Spiegelman 2016): phase-1 (recovery) quorums of size q1 and phase-2
 *   (replication) quorums of size q2 are safe when q1 + q2 > n.
 * - EPaxos (Moraru et al. 2013): n = 2F + 1, fast quorum F + floor((F+1)/2), slow quorum F + 1.
 */
import type { NodeId } from './command.ts'

function assertClusterSize(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`cluster size must be a positive integer, got ${n}`)
}

export function majority(n: number): number {
  assertClusterSize(n)
  return Math.floor(n / 2) + 1
}

/** The most crash failures a majority-quorum protocol of n nodes tolerates. */
export function maxFailures(n: number): number {
  assertClusterSize(n)
  return Math.floor((n - 1) / 2)
}

export interface FastPaxosQuorums {
  readonly n: number
  /** failures tolerated by classic rounds */
  readonly f: number
  /** failures tolerated by fast rounds */
  readonly e: number
  readonly classicQuorum: number
  readonly fastQuorum: number
}

/** Whether (e, f) satisfy Lamport's conditions n > 2f and n > 2e + f (with 0 <= e <= f). */
export function isValidFastPaxos(n: number, e: number, f: number): boolean {
  return e >= 0 && f >= 0 && e <= f && n > 2 * f && n > 2 * e + f
}

/**
 * Fast Paxos quorum sizes. 'max-f' tolerates the most classic failures and then the most fast-round
 * failures that allows; 'max-e' tolerates the most fast-round failures (e = f = floor((n-1)/3)) and then
 * raises f as far as n > 2e + f allows.
 */
export function fastPaxosQuorums(n: number, choice: 'max-f' | 'max-e'): FastPaxosQuorums {
  assertClusterSize(n)
  let e: number
  let f: number
  if (choice === 'max-f') {
    f = maxFailures(n)
    e = Math.max(0, Math.floor((n - f - 1) / 2))
  } else {
    e = Math.floor((n - 1) / 3)
    f = Math.min(maxFailures(n), n - 2 * e - 1)
  }
  if (!isValidFastPaxos(n, e, f))
    throw new Error(`internal: fast paxos quorums invalid for n=${n} e=${e} f=${f}`)
  return { n, e, f, classicQuorum: n - f, fastQuorum: n - e }
}

export interface FlexibleQuorums {
  readonly n: number
  /** phase-1 (recovery / leader election) quorum size */
  readonly q1: number
  /** phase-2 (replication) quorum size */
  readonly q2: number
}

/** Validates flexible quorum sizes: 1 <= q1, q2 <= n and q1 + q2 > n. Throws a RangeError that says why. */
export function flexibleQuorums(n: number, q1: number, q2: number): FlexibleQuorums {
  assertClusterSize(n)
  for (const [name, q] of [
    ['q1', q1],
    ['q2', q2],
  ] as const) {
    if (!Number.isInteger(q) || q < 1 || q > n)
      throw new RangeError(`${name} must be an integer in 1..${n}, got ${q}`)
  }
  if (q1 + q2 <= n)
    throw new RangeError(`q1 + q2 must exceed n (${q1} + ${q2} <= ${n}): quorums would not intersect`)
  return { n, q1, q2 }
}

export interface EpaxosQuorums {
  readonly n: number
  readonly f: number
  readonly fastQuorum: number
  readonly slowQuorum: number
}

/** EPaxos quorum sizes, counting the command leader itself. */
export function epaxosQuorums(n: number): EpaxosQuorums {
  const f = maxFailures(n)
  return { n, f, fastQuorum: f + Math.floor((f + 1) / 2), slowQuorum: f + 1 }
}

/**
 * Collects votes from distinct nodes until a threshold is reached. Counting the same node twice is the
 * classic quorum bug (a duplicated message must not count as a second vote), so this is the one place
 * that counts.
 */
export class VoteSet {
  private readonly voters = new Set<NodeId>()
  constructor(readonly threshold: number) {
    if (!Number.isInteger(threshold) || threshold < 1)
      throw new RangeError(`threshold must be >= 1, got ${threshold}`)
  }
  /** Records a vote; returns true exactly once, on the vote that reaches the threshold. */
  add(node: NodeId): boolean {
    if (this.voters.has(node)) return false
    this.voters.add(node)
    return this.voters.size === this.threshold
  }
  has(node: NodeId): boolean {
    return this.voters.has(node)
  }
  get size(): number {
    return this.voters.size
  }
  get reached(): boolean {
    return this.voters.size >= this.threshold
  }
  nodes(): NodeId[] {
    return [...this.voters]
  }
}
