/**
 * compose.yaml for one experiment: per replica a network holder + shaper sidecar (`<id>-net`, cap
 * NET_ADMIN, owns the fixed address) and the replica (`<id>`, `network_mode: service:<id>-net`), an
 * `internal: true` network with fixed addresses, and optionally a driver service. The file is
 * self-contained: each replica's config and each sidecar's shaping spec travel as environment values,
 * so the same file works with `docker compose` v2, `docker-compose` v1 and (see stack-file.ts) swarm.
 *
 * Why the sidecar owns the namespace (not the replica): a killed and restarted replica container gets
 * its namespace back from the sidecar, so the address and the tc/netem qdiscs survive faults.
 */
import { stringify } from 'yaml'
import type { LinkShape } from '../../../netem/shaper.ts'

export const PEER_PORT = 7000
export const CLIENT_PORT = 8000
/** replica i is at <subnet>.(REPLICA_HOST_OFFSET + i); the driver at .DRIVER_HOST */
export const REPLICA_HOST_OFFSET = 10
export const DRIVER_HOST = 5
export const MAX_COMPOSE_REPLICAS = 200

/** Where the project's code comes from in the containers. */
export type CodeSource =
  /** an image with the project inside (docker/Dockerfile) */
  | { readonly kind: 'image'; readonly image: string; readonly build?: boolean }
  /** the base image plus read-only bind mounts of this checkout: no build per run (the launcher) */
  | {
      readonly kind: 'mount'
      readonly image: string
      readonly repoRoot: string
      /** node_modules' real path when it is a symlink out of the checkout (a worktree), else null */
      readonly nodeModulesRealPath: string | null
    }

/**
 * 'kernel': tc/netem in the sidecar; 'relay': the userspace relay in the sidecar (kernels without
 * sch_netem), handing its listen addresses to the replica through a shared volume; 'none': nothing to
 * shape (lan, or no topology)
 */
export type ContainerShaper = 'kernel' | 'relay' | 'none'

export interface ComposeSpec {
  readonly engine: string
  readonly engineConfig: Readonly<Record<string, unknown>>
  readonly replicas: number
  readonly seed: number
  readonly storage: 'file' | 'memory'
  /** engines/host processingDelayMs (testing gates); absent or 0: none */
  readonly processingDelayMs?: number
  /** an IPv4 /24 like 172.30.7.0/24 */
  readonly subnet: string
  readonly code: CodeSource
  readonly shaper: ContainerShaper
  /** shaped directions between replicas (ids r0..); empty = unshaped */
  readonly links?: readonly { readonly from: string; readonly to: string; readonly shape: LinkShape }[]
  /** replica id -> site name (labels; swarm placement) */
  readonly sites?: Readonly<Record<string, string>>
  /** the sidecars calibrate their shaped links with this many probes each before the replicas start */
  readonly calibrationProbes?: number
  /** a driver service that loads the replicas and prints its summary; null = the driver runs elsewhere */
  readonly driver?: DriverSpec | null
}

export interface DriverSpec {
  readonly durationMs: number
  readonly clientsPerSite: number
  readonly conflict: number
  readonly readRatio: number
}

/** What one sidecar reads from CB_SHAPER_SPEC. */
export interface SidecarSpec {
  readonly self: string
  readonly shaper: ContainerShaper
  /** this replica's own address (numeric, or a name resolved at start in swarm) */
  readonly host: string
  readonly peers: readonly { readonly id: string; readonly host: string }[]
  readonly links: readonly { readonly to: string; readonly shape: LinkShape }[]
  /** the reverse directions (peer -> self): the relay delays replies on the connections self dials */
  readonly reverseLinks: readonly { readonly from: string; readonly shape: LinkShape }[]
  readonly runId: string
  /** measure the outgoing links before the replica starts (sidecar.ts); absent: no calibration */
  readonly calibrate?: { readonly probesPerLink: number }
}

export class ComposeSpecError extends Error {
  override readonly name = 'ComposeSpecError'
}

export function replicaIds(n: number): string[] {
  if (!Number.isInteger(n) || n < 1 || n > MAX_COMPOSE_REPLICAS)
    throw new ComposeSpecError(`replicas: ${n} is not a whole number from 1 to ${MAX_COMPOSE_REPLICAS}`)
  return Array.from({ length: n }, (_, i) => `r${i}`)
}

/** `172.30.7.0/24` -> its first three octets; anything else is an error naming the fix. */
export function subnetPrefix(subnet: string): string {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.0\/24$/.exec(subnet)
  if (m === null || m.slice(1).some((o) => Number(o) > 255))
    throw new ComposeSpecError(`subnet: '${subnet}' is not an IPv4 /24 like 172.30.7.0/24`)
  return `${m[1]}.${m[2]}.${m[3]}`
}

export function replicaAddress(subnet: string, index: number): string {
  return `${subnetPrefix(subnet)}.${REPLICA_HOST_OFFSET + index}`
}

/** The engines/host config of replica `index` (see engines/host/config.ts). */
export function replicaConfig(spec: ComposeSpec, index: number, hostOf: (i: number) => string) {
  const ids = replicaIds(spec.replicas)
  const id = ids[index]!
  return {
    id,
    engine: spec.engine,
    engineConfig: spec.engineConfig,
    nodes: ids.map((peer, i) => ({ id: peer, peerAddress: `${hostOf(i)}:${PEER_PORT}` })),
    listen: { peer: `${hostOf(index)}:${PEER_PORT}`, client: `${hostOf(index)}:${CLIENT_PORT}` },
    // inside the container's writable layer: it survives kill + restart (docker start), like local files
    storage: spec.storage === 'file' ? { kind: 'file', dir: `/tmp/cb-data/${id}` } : { kind: 'memory' },
    seed: spec.seed + index,
    ...(spec.processingDelayMs ? { processingDelayMs: spec.processingDelayMs } : {}),
  }
}

export function sidecarSpec(
  spec: ComposeSpec,
  index: number,
  hostOf: (i: number) => string,
  runId: string,
): SidecarSpec {
  const ids = replicaIds(spec.replicas)
  const self = ids[index]!
  const links = (spec.links ?? []).filter((l) => l.from === self).map((l) => ({ to: l.to, shape: l.shape }))
  const reverseLinks = (spec.links ?? [])
    .filter((l) => l.to === self)
    .map((l) => ({ from: l.from, shape: l.shape }))
  for (const l of spec.links ?? []) {
    if (!ids.includes(l.from) || !ids.includes(l.to))
      throw new ComposeSpecError(`links: ${l.from} -> ${l.to} names a replica outside r0..r${ids.length - 1}`)
  }
  if (spec.shaper === 'none' && links.length > 0)
    throw new ComposeSpecError(`shaper: 'none' but ${self} has ${links.length} shaped links (use 'kernel')`)
  return {
    self,
    shaper: spec.shaper,
    host: hostOf(index),
    peers: ids.map((id, i) => ({ id, host: hostOf(i) })).filter((p) => p.id !== self),
    links,
    reverseLinks,
    runId,
    ...(spec.calibrationProbes !== undefined && links.length > 0
      ? { calibrate: { probesPerLink: spec.calibrationProbes } }
      : {}),
  }
}

/** Shell-free? No: the config is written from an env value first. `$$` is compose's escape for `$`. */
export function replicaCommand(): string[] {
  return [
    'sh',
    '-c',
    'printf "%s" "$$CB_REPLICA_CONFIG" > /tmp/replica.json && exec node --import tsx engines/host/main.ts --config /tmp/replica.json',
  ]
}

// biome-ignore lint/suspicious/noTemplateCurlyInString: a compose variable, not a JS template
export const COMPOSE_BASE_IMAGE_ARG = '${CB_BASE_IMAGE:-node:20-bookworm-slim}'

/**
 * Relay mode: the sidecar writes {peerId: relay address} here (a volume shared with the replica), and
 * the replica's prelude puts those addresses into its config before it starts.
 */
export const RELAY_ADDRESSES_DIR = '/shaper'
export const RELAY_ADDRESSES_FILE = `${RELAY_ADDRESSES_DIR}/peers.json`

export function relayReplicaCommand(): string[] {
  return [
    'sh',
    '-c',
    'node --import tsx harness/launchers/compose/replica-config.ts /tmp/replica.json && exec node --import tsx engines/host/main.ts --config /tmp/replica.json',
  ]
}

export const SIDECAR_ENTRY = 'harness/launchers/compose/sidecar.ts'
/** the sidecar touches this file once the links are shaped; its healthcheck (and so the replica) waits */
export const SIDECAR_READY_FILE = '/tmp/shaper.ready'

function codeFields(code: CodeSource): Record<string, unknown> {
  if (code.kind === 'image') {
    return code.build
      ? {
          image: code.image,
          build: {
            context: '.',
            dockerfile: 'docker/Dockerfile',
            // compose's own substitution (v1 and v2): online the official image, offline the imported one
            args: { BASE_IMAGE: COMPOSE_BASE_IMAGE_ARG },
          },
        }
      : { image: code.image }
  }
  const volumes = [`${code.repoRoot}:/app:ro`]
  if (code.nodeModulesRealPath !== null)
    volumes.push(`${code.nodeModulesRealPath}:${code.nodeModulesRealPath}:ro`)
  return { image: code.image, volumes, working_dir: '/app' }
}

/** The compose document as a plain object (tests look at its structure). */
export function composeDocument(spec: ComposeSpec, runId = 'compose'): Record<string, unknown> {
  const ids = replicaIds(spec.replicas)
  const hostOf = (i: number) => replicaAddress(spec.subnet, i)
  const services: Record<string, unknown> = {}
  // every service names the same build: v1 would otherwise try to pull a service's image it has not built yet
  // (there is no registry); the builds after the first are cache hits
  const code = codeFields(spec.code)
  const relay = spec.shaper === 'relay'
  const volumes: Record<string, unknown> = {}
  const withShared = (id: string) => {
    if (!relay) return code
    volumes[`${id}-shaper`] = {}
    const mounts = [...((code.volumes as string[] | undefined) ?? []), `${id}-shaper:${RELAY_ADDRESSES_DIR}`]
    return { ...code, volumes: mounts }
  }
  for (const [i, id] of ids.entries()) {
    const site = spec.sites?.[id]
    const labels = {
      'consensus-bench.replica': id,
      ...(site !== undefined ? { 'consensus-bench.site': site } : {}),
    }
    services[`${id}-net`] = {
      ...withShared(id),
      command: ['node', '--import', 'tsx', SIDECAR_ENTRY],
      environment: { CB_SHAPER_SPEC: JSON.stringify(sidecarSpec(spec, i, hostOf, runId)) },
      cap_add: ['NET_ADMIN'],
      init: true,
      labels: { ...labels, 'consensus-bench.role': 'shaper' },
      networks: { bench: { ipv4_address: hostOf(i) } },
      healthcheck: {
        test: [
          'CMD',
          'node',
          '-e',
          `process.exit(require('fs').existsSync('${SIDECAR_READY_FILE}') ? 0 : 1)`,
        ],
        interval: '1s',
        timeout: '5s',
        retries: 60,
      },
    }
    services[id] = {
      ...withShared(id),
      command: relay ? relayReplicaCommand() : replicaCommand(),
      environment: { CB_REPLICA_CONFIG: JSON.stringify(replicaConfig(spec, i, hostOf)) },
      init: true,
      labels: { ...labels, 'consensus-bench.role': 'replica' },
      network_mode: `service:${id}-net`,
      depends_on: { [`${id}-net`]: { condition: 'service_healthy' } },
    }
  }
  if (spec.driver) {
    services.driver = {
      ...code,
      command: ['node', '--import', 'tsx', 'harness/launchers/compose/driver-main.ts'],
      environment: {
        CB_DRIVER: JSON.stringify({
          ...spec.driver,
          seed: spec.seed,
          replicas: ids.map((id, i) => ({ id, clientUrl: `http://${hostOf(i)}:${CLIENT_PORT}` })),
        }),
      },
      labels: { 'consensus-bench.role': 'driver' },
      networks: { bench: { ipv4_address: `${subnetPrefix(spec.subnet)}.${DRIVER_HOST}` } },
      depends_on: ids,
    }
  }
  return {
    // 2.4: the newest format docker-compose v1 reads with network_mode service:, ipam and healthy conditions;
    // compose v2 accepts it too (it ignores the version key)
    version: '2.4',
    services,
    networks: {
      bench: { driver: 'bridge', internal: true, ipam: { config: [{ subnet: spec.subnet }] } },
    },
    ...(relay ? { volumes } : {}),
  }
}

export function composeYaml(spec: ComposeSpec, runId = 'compose', header = ''): string {
  const top = `# Generated by consensus-bench (harness/launchers/compose/compose-file.ts); see docker/README.md.\n${header}`
  return top + stringify(composeDocument(spec, runId), { lineWidth: 0, aliasDuplicateObjects: false })
}
