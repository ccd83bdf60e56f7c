/**
 * Ballots (Paxos proposal numbers, Raft terms, VR views all have this shape): a round number made
 * unique by the proposing node. Ordered by round, then node id.
 */
import type { NodeId } from './command.ts'

export interface Ballot {
  readonly round: number
  readonly node: NodeId
}

/** The ballot below every real ballot: no node ever proposes with it. */
export const ZERO_BALLOT: Ballot = Object.freeze({ round: 0, node: '' })

export function compareBallots(a: Ballot, b: Ballot): number {
  if (a.round !== b.round) return a.round < b.round ? -1 : 1
  if (a.node === b.node) return 0
  return a.node < b.node ? -1 : 1
}

export function ballotEquals(a: Ballot, b: Ballot): boolean {
  return a.round === b.round && a.node === b.node
}

export function ballotGreater(a: Ballot, b: Ballot): boolean {
  return compareBallots(a, b) > 0
}

export function maxBallot(a: Ballot, b: Ballot): Ballot {
  return compareBallots(a, b) >= 0 ? a : b
}

/** The smallest ballot owned by `node` that is greater than `above`. */
export function nextBallot(above: Ballot, node: NodeId): Ballot {
  const sameRound = { round: above.round, node }
  if (compareBallots(sameRound, above) > 0 && above.round > 0) return sameRound
  return { round: above.round + 1, node }
}

export function formatBallot(b: Ballot): string {
  return `${b.round}.${b.node}`
}
