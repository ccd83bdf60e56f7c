/**
 * The VR message-pattern latency bound (DESIGN.md, expectedLatencyMs). VR's normal case (sec. 4.1) has
 * the same pattern as a stable Multi-Paxos leader: the client reaches its origin replica, the origin
 * forwards to the primary (when it is a backup), the primary waits for f PrepareOKs from its nearest
 * backups, and its eager Commit returns to the origin (the other half of the origin-primary round trip).
 * So the Multi-Paxos model applies unchanged, with the primary of the initial view as the leader.
 */
import type { LatencyModel } from '../core/engine.ts'
import { multiPaxosExpectedLatencyMs } from '../multipaxos/latency.ts'

export function vrExpectedLatencyMs(model: LatencyModel): number {
  return multiPaxosExpectedLatencyMs(model)
}
