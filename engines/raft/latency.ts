/**
 * The Raft message-pattern latency bound (DESIGN.md, expectedLatencyMs). Raft's normal case has the
 * same pattern as Multi-Paxos' phase 2: the client reaches its origin, the origin forwards to the leader
 * (when it is not the leader), the leader appends and waits for AppendEntries acknowledgements from its
 * nearest majority, and the commit index reaches the origin on the leader's next AppendEntries (sent at
 * once when the commit index moves), the return half of the origin-leader round trip. So the model is
 * Multi-Paxos' model, reused rather than restated.
 */
import type { LatencyModel } from '../core/engine.ts'
import { multiPaxosExpectedLatencyMs } from '../multipaxos/latency.ts'

export function raftExpectedLatencyMs(model: LatencyModel): number {
  return multiPaxosExpectedLatencyMs(model)
}
