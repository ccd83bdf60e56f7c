/**
 * Fast Paxos (Lamport 2005): any replica proposes a command straight to the acceptors in a fast round of
 * the key's next instance (2 message delays); collisions are recovered by the key's coordinator with
 * Lamport's selection rule (+2 delays), or by the acceptors themselves. See README.md.
 */
import type { EngineModule, LatencyModel } from '../core/engine.ts'
import { type FastPaxosConfig, parseFastPaxosConfig } from './config.ts'
import { fastPaxosExpectedLatencyMs } from './latency.ts'
import type { FastPaxosMessage } from './messages.ts'
import { FastPaxosReplica } from './replica.ts'

export type { FastPaxosConfig, FastPaxosTestFault } from './config.ts'
export { FASTPAXOS_DEFAULTS, parseFastPaxosConfig } from './config.ts'
export { fastPaxosExpectedLatencyMs, fastPaxosSlowPathLatencyMs } from './latency.ts'
export type { FastPaxosMessage } from './messages.ts'
export { FastPaxosReplica } from './replica.ts'
export { selectValue } from './rule.ts'

export const fastpaxosEngine: EngineModule<FastPaxosMessage, FastPaxosConfig> = {
  name: 'fastpaxos',
  leadership: 'leaderless',
  description:
    'Fast Paxos: per-key instances, proposers send straight to the acceptors (fast quorum, 2 delays); collisions recovered by the key coordinator with the selection rule',
  parseConfig: parseFastPaxosConfig,
  create: (ctx) => new FastPaxosReplica(ctx),
  expectedLatencyMs: (model: LatencyModel, config: FastPaxosConfig) =>
    fastPaxosExpectedLatencyMs(model, config),
}
