/**
 * Classic Paxos (Lamport, "Paxos Made Simple"): every command is decided in its own single-decree
 * instance by the replica that received it, phase 1 and phase 2 every time (2 RTT). See README.md.
 */
import type { EngineModule, LatencyModel } from '../core/engine.ts'
import { type PaxosConfig, parsePaxosConfig } from './config.ts'
import { paxosExpectedLatencyMs } from './latency.ts'
import type { PaxosMessage } from './messages.ts'
import { PaxosReplica } from './replica.ts'

export type { PaxosConfig, PaxosTestFault } from './config.ts'
export { PAXOS_DEFAULTS, parsePaxosConfig } from './config.ts'
export { paxosExpectedLatencyMs } from './latency.ts'
export type { PaxosMessage, SlotValue } from './messages.ts'
export { PaxosReplica } from './replica.ts'

export const paxosEngine: EngineModule<PaxosMessage, PaxosConfig> = {
  name: 'paxos',
  leadership: 'leaderless',
  description:
    'classic Paxos: each command in its own single-decree instance, phase 1 + phase 2 every time (2 RTT)',
  parseConfig: parsePaxosConfig,
  create: (ctx) => new PaxosReplica(ctx),
  expectedLatencyMs: (model: LatencyModel, _config: PaxosConfig) => paxosExpectedLatencyMs(model),
}
