/**
 * Fast Paxos message-pattern latency bounds (DESIGN.md, expectedLatencyMs).
 *
 * Fast path: the client reaches its origin replica, which sends the command straight to every acceptor
 * (one delay); each acceptor sends its vote to every learner, the origin included (second delay). The
 * origin learns once the votes of a fast quorum are in: its own plus the fastQuorum-1 nearest others,
 * i.e. its round trip to its nearest fast quorum. Two message delays, no leader hop.
 *
 * Slow path (coordinated recovery after a collision), for reports: the fast round as above, then the
 * key's coordinator (the model's leader stands in for it) sends phase 2a of the recovery round and the
 * votes come back: the coordinator's round trip to its nearest classic quorum, plus the coordinator-to-
 * origin hop for the outcome (approximated as half a round trip each way: one full origin-coordinator
 * round trip). Two more delays, as Lamport's coordinated recovery promises.
 */
import type { LatencyModel } from '../core/engine.ts'
import { fastPaxosQuorums } from '../core/quorum.ts'

export interface FastPaxosLatencyConfig {
  readonly quorumChoice: 'max-f' | 'max-e'
}

/** Round trip from `node` to the closest set of others that, with itself, makes `size` nodes. */
export function nearestSetRttMs(model: LatencyModel, node: string, size: number): number {
  const others = model.nodes.filter((n) => n !== node).map((n) => model.rttMs(node, n))
  others.sort((a, b) => a - b)
  if (size <= 1) return 0
  const rtt = others[size - 2]
  if (rtt === undefined) throw new Error(`internal: ${others.length} peers cannot make a set of ${size}`)
  return rtt
}

export function fastPaxosExpectedLatencyMs(model: LatencyModel, config: FastPaxosLatencyConfig): number {
  if (!model.nodes.includes(model.origin)) throw new RangeError(`origin ${model.origin} is not a node`)
  const q = fastPaxosQuorums(model.nodes.length, config.quorumChoice)
  return model.clientRttMs + nearestSetRttMs(model, model.origin, q.fastQuorum)
}

export function fastPaxosSlowPathLatencyMs(model: LatencyModel, config: FastPaxosLatencyConfig): number {
  if (!model.nodes.includes(model.leader)) throw new RangeError(`leader ${model.leader} is not a node`)
  const q = fastPaxosQuorums(model.nodes.length, config.quorumChoice)
  const coordinator = model.leader
  const hopMs = coordinator === model.origin ? 0 : model.rttMs(model.origin, coordinator)
  return (
    fastPaxosExpectedLatencyMs(model, config) + nearestSetRttMs(model, coordinator, q.classicQuorum) + hopMs
  )
}
