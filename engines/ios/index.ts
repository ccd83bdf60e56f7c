/**
 * Ios (Heidi Howard's delegated consensus, github.com/heidihoward/ios): a master assigns log indices and
 * delegates their replication to coordinators. See README.md.
 */
import type { EngineModule, LatencyModel } from '../core/engine.ts'
import { type IosConfig, parseIosConfig } from './config.ts'
import { iosExpectedLatencyMs } from './latency.ts'
import type { IosMessage } from './messages.ts'
import { IosReplica } from './replica.ts'

export type { IosConfig, IosTestFault } from './config.ts'
export { IOS_DEFAULTS, parseIosConfig, resolveQuorums } from './config.ts'
export { iosExpectedLatencyMs } from './latency.ts'
export type { IosMessage } from './messages.ts'
export { IosReplica } from './replica.ts'

export const iosEngine: EngineModule<IosMessage, IosConfig> = {
  name: 'ios',
  leadership: 'delegating',
  extras: ['batching', 'held master acknowledgements'],
  description:
    'Ios: a master assigns log indices and delegates their replication to coordinators (flexible quorums)',
  parseConfig: parseIosConfig,
  create: (ctx) => new IosReplica(ctx),
  expectedLatencyMs: (model: LatencyModel, config: IosConfig) => iosExpectedLatencyMs(model, config),
}
