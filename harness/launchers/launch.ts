/**
 * Which launcher a run uses: `local` (processes on 127.0.0.x) or `compose` (containers). The run
 * orchestration calls startCluster with the local launcher's options; the compose launcher takes the
 * ones that mean something for containers (a fake hostEntry cannot run in a container: refused), and
 * a topology run's containerNetwork.
 */
import type { LinkCalibration } from '../../netem/calibrate.ts'
import { type ComposeClusterOptions, startComposeCluster } from './compose.ts'
import { type LocalClusterOptions, startLocalCluster } from './local.ts'
import type { Cluster } from './types.ts'

export const LAUNCHERS = ['local', 'compose'] as const
export type LauncherKind = (typeof LAUNCHERS)[number]

/**
 * A topology run's network in containers (harness/topology-run.ts containerNetwork): the sidecars shape
 * the replica-to-replica links and calibrate them; the client links are shaped on the host through
 * `peerAddresses` (called with the containers' addresses) and probed by `calibrateHost`.
 */
export interface ContainerNetwork {
  readonly shaper: NonNullable<ComposeClusterOptions['shaper']>
  readonly links: NonNullable<ComposeClusterOptions['links']>
  readonly sites: NonNullable<ComposeClusterOptions['sites']>
  readonly calibrationProbes: number
  readonly calibrateHost: () => Promise<readonly LinkCalibration[]>
}

export interface ClusterOptions extends LocalClusterOptions {
  /** compose only (the local launcher shapes every link through peerAddresses) */
  readonly containerNetwork?: ContainerNetwork
}

export function startCluster(kind: LauncherKind, options: ClusterOptions): Promise<Cluster> {
  if (kind === 'local') return startLocalCluster(options)
  if (options.hostEntry !== undefined)
    throw new Error(
      'the compose launcher runs engines/host/main.ts in containers; hostEntry is for the local launcher',
    )
  return startComposeCluster({
    engine: options.engine,
    engineConfig: options.engineConfig,
    replicas: options.replicas,
    seed: options.seed,
    storage: options.storage,
    ...(options.processingDelayMs ? { processingDelayMs: options.processingDelayMs } : {}),
    ...(options.logDir !== undefined ? { logDir: options.logDir } : {}),
    ...(options.clock !== undefined ? { clock: options.clock } : {}),
    ...(options.onExit !== undefined ? { onExit: options.onExit } : {}),
    ...(options.peerAddresses !== undefined ? { hostNetwork: options.peerAddresses } : {}),
    ...(options.containerNetwork !== undefined
      ? {
          shaper: options.containerNetwork.shaper,
          links: options.containerNetwork.links,
          sites: options.containerNetwork.sites,
          calibrationProbes: options.containerNetwork.calibrationProbes,
          calibrateHost: options.containerNetwork.calibrateHost,
        }
      : {}),
  })
}
