/** The deterministic simulator's public API. */
export type { ExecutionOrder } from './execution-order.ts'
export { deriveFaultProfile, type FaultProfile, NO_FAULTS } from './faults.ts'
export {
  type RunSeedsHooks,
  replayCommand,
  runSeeds,
  type SeedFailure,
  type SeedRunOptions,
  type SeedsReport,
  seedFailure,
} from './run-seeds.ts'
export { parseSeeds } from './seeds.ts'
export {
  type InboundCut,
  type LinearizabilityVerdict,
  type SimOptions,
  type SimResult,
  type SimStats,
  simulate,
} from './simulator.ts'
export { SimStorage } from './storage.ts'
