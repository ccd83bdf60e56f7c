/**
 * The Ios message-pattern latency bound (README.md, "Latency model"). A command travels
 *
 *   client -> origin -> master (index assignment) -> coordinator -> q2 acceptors -> coordinator
 *          -> origin (the commit) -> client
 *
 * so the bound is clientRtt + half(origin, master) + half(master, coordinator) + the coordinator's
 * nearest q2 round trip + half(coordinator, origin). Each half is 0 when both ends are one node. With
 * 'rotate' the coordinators take turns, so the bound is the mean over the rotation; with 'reverse' the
 * origin coordinates: clientRtt + rtt(origin, master) + the origin's nearest q2 round trip.
 * The master of the model is `model.leader` (the master of the first view).
 */
import type { NodeId } from '../core/command.ts'
import type { LatencyModel } from '../core/engine.ts'
import { type IosConfig, resolveQuorums } from './config.ts'
import { rotation } from './delegation.ts'

/** The round trip from `node` to the closest set of others that, with itself, makes `quorum` votes. */
export function nearestQuorumRttMs(model: LatencyModel, node: NodeId, quorum: number): number {
  const others = model.nodes.filter((n) => n !== node).map((n) => model.rttMs(node, n))
  others.sort((a, b) => a - b)
  if (quorum <= 1) return 0
  const rtt = others[quorum - 2]
  if (rtt === undefined) throw new Error(`internal: ${others.length} peers cannot give ${quorum - 1} votes`)
  return rtt
}

function halfMs(model: LatencyModel, a: NodeId, b: NodeId): number {
  return a === b ? 0 : model.rttMs(a, b) / 2
}

export function iosExpectedLatencyMs(model: LatencyModel, config: IosConfig): number {
  const { leader: master, origin } = model
  if (!model.nodes.includes(master)) throw new RangeError(`master ${master} is not a node`)
  if (!model.nodes.includes(origin)) throw new RangeError(`origin ${origin} is not a node`)
  const { q2 } = resolveQuorums(config, model.nodes.length)
  const viaCoordinator = (c: NodeId): number =>
    halfMs(model, origin, master) +
    halfMs(model, master, c) +
    nearestQuorumRttMs(model, c, q2) +
    halfMs(model, c, origin)
  const rotating = rotation(model.nodes, master, config.rotateAmong)
  const coordinators = config.delegation === 'reverse' ? [origin] : rotating.length > 0 ? rotating : [master]
  const total = coordinators.reduce((sum, c) => sum + viaCoordinator(c), 0)
  return model.clientRttMs + total / coordinators.length
}
