/**
 * The classic Paxos message-pattern latency bound (DESIGN.md, expectedLatencyMs): the client reaches its
 * origin replica, which is the proposer of the command's instance; phase 1 (prepare/promise) and then
 * phase 2 (accept/accepted) each wait for the origin's nearest majority (itself plus the majority-1
 * closest others): two round trips. The origin learns the decision itself and answers the client.
 */
import type { LatencyModel } from '../core/engine.ts'
import { nearestQuorumRttMs } from '../multipaxos/latency.ts'

export function paxosExpectedLatencyMs(model: LatencyModel): number {
  if (!model.nodes.includes(model.origin)) throw new RangeError(`origin ${model.origin} is not a node`)
  return model.clientRttMs + 2 * nearestQuorumRttMs(model, model.origin)
}
