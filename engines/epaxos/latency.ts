/**
 * The EPaxos message-pattern latency bounds (DESIGN.md, expectedLatencyMs). The client reaches its
 * origin replica, which is the command leader:
 * - fast path: one round trip to the origin's nearest fast quorum (itself plus the F + floor((F+1)/2) - 1
 *   closest others), then the commit is local: clientRttMs + RTT(origin, nearest fast quorum);
 * - slow path: that round, then Paxos-Accept to the nearest slow quorum (itself plus the F closest):
 *   clientRttMs + RTT(nearest fast quorum) + RTT(nearest slow quorum).
 * Execution may wait longer for dependencies led by farther replicas; that is not in the bound.
 */
import type { LatencyModel } from '../core/engine.ts'
import { epaxosQuorums } from '../core/quorum.ts'

/** RTT from `origin` to the `othersNeeded`-th closest other replica (0 when none are needed). */
export function nearestOthersRttMs(model: LatencyModel, origin: string, othersNeeded: number): number {
  if (othersNeeded <= 0) return 0
  const others = model.nodes.filter((n) => n !== origin).map((n) => model.rttMs(origin, n))
  others.sort((a, b) => a - b)
  const rtt = others[othersNeeded - 1]
  if (rtt === undefined)
    throw new Error(`internal: ${others.length} peers cannot give ${othersNeeded} replies`)
  return rtt
}

function checkOrigin(model: LatencyModel): void {
  if (!model.nodes.includes(model.origin)) throw new RangeError(`origin ${model.origin} is not a node`)
}

export function epaxosFastPathLatencyMs(model: LatencyModel): number {
  checkOrigin(model)
  const q = epaxosQuorums(model.nodes.length)
  return model.clientRttMs + nearestOthersRttMs(model, model.origin, q.fastQuorum - 1)
}

export function epaxosSlowPathLatencyMs(model: LatencyModel): number {
  checkOrigin(model)
  const q = epaxosQuorums(model.nodes.length)
  return epaxosFastPathLatencyMs(model) + nearestOthersRttMs(model, model.origin, q.slowQuorum - 1)
}
