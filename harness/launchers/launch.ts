/**
 * Which launcher a run uses: `local` (processes on 127.0.0.x) or `compose` (containers). The run
 * orchestration calls startCluster with the local launcher's options; the compose launcher takes the
 * ones that mean something for containers (a fake hostEntry cannot run in a container: refused).
 */
import { startComposeCluster } from './compose.ts'
import { type LocalClusterOptions, startLocalCluster } from './local.ts'
import type { Cluster } from './types.ts'

export const LAUNCHERS = ['local', 'compose'] as const
export type LauncherKind = (typeof LAUNCHERS)[number]

export function startCluster(kind: LauncherKind, options: LocalClusterOptions): Promise<Cluster> {
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
  })
}
