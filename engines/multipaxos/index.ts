/**
 * Multi-Paxos (van Renesse & Altinbuken, "Paxos Made Moderately Complex"): a stable leader runs phase 1
 * once for all future slots and phase 2 per slot. See README.md.
 */
import type { EngineModule, LatencyModel } from '../core/engine.ts'
import { type MultiPaxosConfig, parseMultiPaxosConfig } from './config.ts'
import { multiPaxosExpectedLatencyMs } from './latency.ts'
import type { MultiPaxosMessage } from './messages.ts'
import { MultiPaxosReplica } from './replica.ts'

export type { MultiPaxosConfig, MultiPaxosTestFault } from './config.ts'
export { MULTIPAXOS_DEFAULTS, parseMultiPaxosConfig } from './config.ts'
export { multiPaxosExpectedLatencyMs, nearestQuorumRttMs } from './latency.ts'
export type { MultiPaxosMessage, SlotValue } from './messages.ts'
export { MultiPaxosReplica } from './replica.ts'

export const multipaxosEngine: EngineModule<MultiPaxosMessage, MultiPaxosConfig> = {
  name: 'multipaxos',
  leadership: 'leader',
  extras: ['batching', 'check-quorum', 'log compaction'],
  description: 'Multi-Paxos with a stable leader (Paxos Made Moderately Complex): 1 RTT at the leader',
  parseConfig: parseMultiPaxosConfig,
  create: (ctx) => new MultiPaxosReplica(ctx),
  expectedLatencyMs: (model: LatencyModel, _config: MultiPaxosConfig) => multiPaxosExpectedLatencyMs(model),
}
