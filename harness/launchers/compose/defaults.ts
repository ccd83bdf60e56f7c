/**
 * The user-facing compose file (the committed /compose.yaml): images built from docker/Dockerfile
 * (`docker compose up --build`, with CB_BASE_IMAGE=consensus-bench/base:node20 offline), a fixed subnet,
 * no shaping (lan), and a driver service that loads the replicas and prints a summary.
 */
import { composeYaml } from './compose-file.ts'

export const DEFAULT_SUBNET = '172.30.0.0/24'

export function defaultComposeYaml(options: { engine: string; replicas: number; seed: number }): string {
  const header =
    `# ${options.replicas} ${options.engine} replicas, unshaped; regenerate with\n` +
    `#   consensus-bench docker compose-file --engine ${options.engine} --replicas ${options.replicas} --out compose.yaml\n` +
    '# Offline: consensus-bench docker base-image && CB_BASE_IMAGE=consensus-bench/base:node20 docker compose up --build\n'
  return composeYaml(
    {
      engine: options.engine,
      engineConfig: {},
      replicas: options.replicas,
      seed: options.seed,
      storage: 'file',
      subnet: DEFAULT_SUBNET,
      code: { kind: 'image', image: 'consensus-bench/app:local', build: true },
      shaper: 'none',
      driver: { durationMs: 20_000, clientsPerSite: 4, conflict: 0.1, readRatio: 0.5 },
    },
    'compose',
    header,
  )
}
