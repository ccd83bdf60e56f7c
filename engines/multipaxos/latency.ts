/**
 * The Multi-Paxos message-pattern latency bound (DESIGN.md, expectedLatencyMs): the client reaches its
 * origin replica, the origin forwards to the leader (when it is not the leader), and the leader waits for
 * its nearest quorum of acceptors (itself plus the majority-1 closest others). The commit notification
 * back to the origin is the return half of the origin-leader round trip.
 */
import type { LatencyModel } from '../core/engine.ts'
import { majority } from '../core/quorum.ts'

/** The round-trip time from `leader` to the closest set of acceptors that, with itself, forms a majority. */
export function nearestQuorumRttMs(model: LatencyModel, leader: string): number {
  const others = model.nodes.filter((n) => n !== leader).map((n) => model.rttMs(leader, n))
  others.sort((a, b) => a - b)
  const needed = majority(model.nodes.length) - 1
  if (needed === 0) return 0
  const rtt = others[needed - 1]
  if (rtt === undefined) throw new Error(`internal: ${others.length} peers cannot give ${needed} votes`)
  return rtt
}

export function multiPaxosExpectedLatencyMs(model: LatencyModel): number {
  if (!model.nodes.includes(model.leader)) throw new RangeError(`leader ${model.leader} is not a node`)
  if (!model.nodes.includes(model.origin)) throw new RangeError(`origin ${model.origin} is not a node`)
  const forwardMs = model.origin !== model.leader ? model.rttMs(model.origin, model.leader) : 0
  return model.clientRttMs + forwardMs + nearestQuorumRttMs(model, model.leader)
}
