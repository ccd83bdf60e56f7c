/**
 * EPaxos (Moraru, Andersen, Kaminsky, SOSP'13): leaderless; every replica leads its clients' commands,
 * committing in one round trip to a fast quorum when no interfering command is concurrent (fast path),
 * in two otherwise (slow path). See README.md.
 */
import type { EngineModule, LatencyModel } from '../core/engine.ts'
import { type EpaxosConfig, parseEpaxosConfig } from './config.ts'
import { epaxosFastPathLatencyMs } from './latency.ts'
import type { EpaxosMessage } from './messages.ts'
import { EpaxosReplica } from './replica.ts'

export type { EpaxosConfig, EpaxosTestFault } from './config.ts'
export { EPAXOS_DEFAULTS, parseEpaxosConfig } from './config.ts'
export { executeCommitted } from './execute.ts'
export { epaxosFastPathLatencyMs, epaxosSlowPathLatencyMs } from './latency.ts'
export type { EpaxosMessage } from './messages.ts'
export { EpaxosReplica } from './replica.ts'

export const epaxosEngine: EngineModule<EpaxosMessage, EpaxosConfig> = {
  name: 'epaxos',
  leadership: 'leaderless',
  description:
    'EPaxos: any replica commits a command in 1 RTT to a fast quorum when no interfering command is concurrent, 2 RTT otherwise; execution by dependency-graph SCCs',
  parseConfig: parseEpaxosConfig,
  create: (ctx) => new EpaxosReplica(ctx),
  // the fast path: the figure at conflict 0 (epaxosSlowPathLatencyMs gives the slow path's)
  expectedLatencyMs: (model: LatencyModel, _config: EpaxosConfig) => epaxosFastPathLatencyMs(model),
}
