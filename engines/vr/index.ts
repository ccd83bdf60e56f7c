/**
 * Viewstamped Replication Revisited (Liskov & Cowling 2012): a primary orders ops with Prepare /
 * PrepareOK / Commit; view changes, recovery and state transfer as in the paper. See README.md.
 */
import type { EngineModule, LatencyModel } from '../core/engine.ts'
import { parseVrConfig, type VrConfig } from './config.ts'
import { vrExpectedLatencyMs } from './latency.ts'
import type { VrMessage } from './messages.ts'
import { VrReplica } from './replica.ts'

export type { VrConfig, VrTestFault } from './config.ts'
export { initialPrimary, parseVrConfig, primaryOfView, VR_DEFAULTS } from './config.ts'
export { vrExpectedLatencyMs } from './latency.ts'
export type { Op, VrMessage } from './messages.ts'
export { VrReplica } from './replica.ts'

export const vrEngine: EngineModule<VrMessage, VrConfig> = {
  name: 'vr',
  leadership: 'leader',
  description: 'Viewstamped Replication Revisited (Liskov & Cowling 2012): 1 RTT at the primary',
  parseConfig: parseVrConfig,
  create: (ctx) => new VrReplica(ctx),
  expectedLatencyMs: (model: LatencyModel, _config: VrConfig) => vrExpectedLatencyMs(model),
}
