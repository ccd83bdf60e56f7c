/**
 * The compose launcher: one container per replica (plus its shaper sidecar, which owns the namespace
 * and the fixed address) on an `internal: true` network, through `docker compose` or `docker-compose`.
 * The project is `cb-<runId>`, unique per run; everything it creates carries that project label, and
 * cleanup removes by that label: on stop(), on a failed start, on SIGINT/SIGTERM (onInterrupt), and, as
 * a last resort, synchronously at process exit.
 *
 * The code is not baked into an image per run: the containers run the offline base image with this
 * checkout bind-mounted read-only at /app (docker/README.md, "Images"). The harness reaches replicas
 * directly on their internal addresses (the host holds the bridge's gateway address), so the load
 * driver runs in the harness, as with the local launcher.
 */
import { execFileSync, spawn } from 'node:child_process'
import { lstatSync, mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs'
import { constants, tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { Agent } from 'undici'
import type { NodeId } from '../../engines/core/command.ts'
import type { LinkCalibration } from '../../netem/calibrate.ts'
import { RELAY_PRIORITY } from '../../netem/priority.ts'
import { RELAY_ENTRY } from '../../netem/relay/index.ts'
import type { RunClock } from '../../workloads/clock.ts'
import { startRunClock } from '../../workloads/clock.ts'
import { onInterrupt, trackDir, trackPid, untrackDir, untrackPid } from './cleanup.ts'
import { BASE_IMAGE_TAG, buildBaseImage } from './compose/base-image.ts'
import {
  CLIENT_PORT,
  type ComposeSpec,
  type ContainerShaper,
  composeYaml,
  PEER_PORT,
  replicaAddress,
  replicaIds,
} from './compose/compose-file.ts'
import { requireDocker, runArgv, runOk } from './compose/docker.ts'
import { LINK_CONTROL_PORT, sidecarLinkControl } from './compose/link-control.ts'
import { containerPids, raiseContainerProcess } from './compose/realtime.ts'
import { CALIBRATED_EVENT, CALIBRATION_SIGNAL, reachable, SHAPED_EVENT } from './compose/sidecar.ts'
import { fetchJson, fetchJsonOrNull } from './http-json.ts'
import { type LaunchedAddresses, REPO_ROOT } from './local.ts'
import type { Cluster, ReplicaExit, ReplicaHandle, ReplicaHealth } from './types.ts'

export interface ComposeClusterOptions {
  readonly engine: string
  readonly engineConfig: Readonly<Record<string, unknown>>
  readonly replicas: number
  readonly seed: number
  readonly storage: 'file' | 'memory'
  /** engines/host processingDelayMs (testing gates); absent or 0: none */
  readonly processingDelayMs?: number
  /** where compose.yaml and the containers' logs go; default: a temp dir removed at stop */
  readonly logDir?: string
  readonly clock?: RunClock
  /** names the compose project `cb-<runId>`: [a-z0-9-], default from the time and the PID */
  readonly runId?: string
  readonly shaper?: ContainerShaper
  readonly links?: ComposeSpec['links']
  readonly sites?: ComposeSpec['sites']
  /**
   * the sidecars calibrate the shaped links with this many probes each, before the replicas start
   * (sidecar.ts); the result is the cluster's `calibration`. Absent, or no links: no calibration.
   */
  readonly calibrationProbes?: number
  /**
   * called once the replicas' addresses are known, before any replica starts: a topology run shapes the
   * client links on the host here (harness/topology-run.ts CellNetwork, scope 'clients')
   */
  readonly hostNetwork?: (replicas: readonly LaunchedAddresses[]) => Promise<unknown>
  /** while the sidecars echo for calibration: probe the host-side (client) links to them */
  readonly calibrateHost?: () => Promise<readonly LinkCalibration[]>
  /** the image the containers run (with this checkout mounted); default: the offline base image */
  readonly image?: string
  /** from `up` to every replica's healthy /health */
  readonly startTimeoutMs?: number
  readonly onExit?: (exit: ReplicaExit) => void
}

const COMPOSE_TIMEOUT_MS = 300_000
const STOP_GRACE_S = 2
const SUBNET_ATTEMPTS = 5
const NETWORK_RM_ATTEMPTS = 10
/** from the sidecars' start to every one's calibrated line */
const CALIBRATION_TIMEOUT_MS = 120_000

export function composeProjectName(runId: string): string {
  if (!/^[a-z0-9][a-z0-9-]{0,40}$/.test(runId))
    throw new Error(`compose launcher: runId '${runId}' must be [a-z0-9-], at most 41 characters`)
  return `cb-${runId}`
}

function defaultRunId(): string {
  return `${Date.now().toString(36)}-${process.pid.toString(36)}`
}

/** Subnets docker networks already use (a new network must not overlap them). */
async function usedSubnets(): Promise<Set<string>> {
  const ids = (await runOk(['docker', 'network', 'ls', '-q'])).split('\n').filter(Boolean)
  if (ids.length === 0) return new Set()
  const out = await runOk([
    'docker',
    'network',
    'inspect',
    '--format',
    '{{range .IPAM.Config}}{{.Subnet}} {{end}}',
    ...ids,
  ])
  return new Set(out.split(/\s+/).filter(Boolean))
}

/** A free 172.30.X.0/24, starting from a place derived from the run id so parallel runs spread out. */
export function pickSubnet(runId: string, used: ReadonlySet<string>, attempt = 0): string {
  let h = attempt * 37
  for (const c of runId) h = (h * 31 + c.charCodeAt(0)) % 253
  for (let k = 0; k < 253; k++) {
    const subnet = `172.30.${1 + ((h + k) % 253)}.0/24`
    if (!used.has(subnet)) return subnet
  }
  throw new Error('compose launcher: every 172.30.X.0/24 subnet is taken; remove unused docker networks')
}

function signalName(exitCode: number | null): string | null {
  if (exitCode === null || exitCode <= 128) return null
  const n = exitCode - 128
  return Object.entries(constants.signals).find(([, v]) => v === n)?.[0] ?? null
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

class ComposeReplica implements ReplicaHandle {
  readonly peerAddress: string
  readonly clientAddress: string
  readonly clientUrl: string
  container = ''
  #pid: number | null = null
  #running = false
  #expectExit = false
  #died: Promise<void> = Promise.resolve()
  #resolveDied: () => void = () => {}

  constructor(
    readonly id: NodeId,
    host: string,
    private readonly agent: Agent,
    private readonly startTimeoutMs: number,
  ) {
    this.peerAddress = `${host}:${PEER_PORT}`
    this.clientAddress = `${host}:${CLIENT_PORT}`
    this.clientUrl = `http://${this.clientAddress}`
  }

  /** called once the container runs (after up, and after each restart) */
  async attach(container: string): Promise<void> {
    this.container = container
    const pid = Number((await runOk(['docker', 'inspect', '--format', '{{.State.Pid}}', container])).trim())
    this.#pid = pid > 0 ? pid : null
    this.#running = true
    this.#expectExit = false
    this.#died = new Promise((r) => {
      this.#resolveDied = r
    })
  }

  /** the events stream saw this container die; returns whether the harness asked for it */
  died(): { pid: number | null; expected: boolean } {
    const seen = { pid: this.#pid, expected: this.#expectExit }
    this.#running = false
    this.#pid = null
    this.#resolveDied()
    return seen
  }

  pid(): number | null {
    return this.#pid
  }

  running(): boolean {
    return this.#running
  }

  async kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (!this.#running) return
    // docker-init (PID 1) cannot pass on SIGSTOP: the cgroup freezer stops the whole container instead
    if (signal === 'SIGSTOP') return void (await runOk(['docker', 'pause', this.container]))
    if (signal === 'SIGCONT') return void (await runArgv(['docker', 'unpause', this.container]))
    this.#expectExit = true
    await runOk(['docker', 'kill', '--signal', signal, this.container])
    await this.#died
  }

  async restart(): Promise<void> {
    if (this.#running) {
      this.#expectExit = true
      await runArgv(['docker', 'unpause', this.container])
      await runOk(['docker', 'stop', '--time', String(STOP_GRACE_S), this.container])
      await this.#died
    }
    await runOk(['docker', 'start', this.container])
    await this.attach(this.container)
    await this.waitHealthy()
  }

  async waitHealthy(): Promise<void> {
    const deadline = Date.now() + this.startTimeoutMs
    while ((await this.health(1000)) === null) {
      if (!this.#running)
        throw new Error(`replica ${this.id} (container ${this.container}) exited before /health answered`)
      if (Date.now() > deadline)
        throw new Error(
          `replica ${this.id}: /health at ${this.clientUrl} did not answer within ${this.startTimeoutMs} ms`,
        )
      await sleep(200)
    }
  }

  async health(timeoutMs = 1000): Promise<ReplicaHealth | null> {
    return (await fetchJsonOrNull(this.agent, this.clientUrl, '/health', timeoutMs)) as ReplicaHealth | null
  }

  async metrics(timeoutMs = 1000): Promise<unknown> {
    return fetchJson(this.agent, this.clientUrl, '/metrics', timeoutMs)
  }
}

function watchDies(project: string, onDie: (line: string) => void): ReturnType<typeof spawn> {
  const events = spawn(
    'docker',
    [
      'events',
      '--filter',
      `label=com.docker.compose.project=${project}`,
      '--filter',
      'event=die',
      '--format',
      '{{json .}}',
    ],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  )
  if (events.pid !== undefined) trackPid(events.pid)
  createInterface({ input: events.stdout! }).on('line', onDie)
  return events
}

/** an exited sidecar's log read again until it is not empty, this many times this far apart */
const LOG_SETTLE_TRIES = 10
const LOG_SETTLE_MS = 200

/**
 * Waits for each sidecar's `event` line in its log (sidecar.ts) and returns them by replica; a sidecar
 * that exits first, or a timeout, fails with the sidecar's log.
 */
async function sidecarEvents(
  containers: ReadonlyMap<string, string>,
  event: string,
  timeoutMs: number,
): Promise<Map<string, Record<string, unknown>>> {
  const deadline = Date.now() + timeoutMs
  const found = new Map<string, Record<string, unknown>>()
  const eventLine = (logs: { stdout: string }) =>
    logs.stdout.split('\n').find((l) => l.includes(`"event":"${event}"`))
  for (;;) {
    for (const [id, container] of containers) {
      if (found.has(id)) continue
      let logs = await runArgv(['docker', 'logs', container])
      let line = eventLine(logs)
      if (line === undefined) {
        const running = (await runArgv(['docker', 'inspect', '--format', '{{.State.Running}}', container]))
          .stdout
        const exited = running.trim() !== 'true'
        // read again once it has exited: it may have written (its error, or the line) after the first
        // read, and dockerd copies a container's output to its log a moment after the writes
        for (let tries = 0; exited && tries < LOG_SETTLE_TRIES; tries++) {
          if (tries > 0) await sleep(LOG_SETTLE_MS)
          logs = await runArgv(['docker', 'logs', container])
          line = eventLine(logs)
          if (line !== undefined || (logs.stdout + logs.stderr).trim() !== '') break
        }
        if (line === undefined && (exited || Date.now() > deadline))
          throw new Error(
            `compose launcher: the sidecar of ${id} ${exited ? 'exited' : `took more than ${timeoutMs} ms`} before its '${event}' line; its log:\n${(logs.stdout + logs.stderr).trim().slice(-2000)}`,
          )
      }
      if (line !== undefined) found.set(id, JSON.parse(line) as Record<string, unknown>)
    }
    if (found.size === containers.size) return found
    await sleep(300)
  }
}

/**
 * The sidecars' relays at the relay's real-time priority, from the host (compose/realtime.ts); one line
 * for the results. Only the relays: a sidecar's prober at SCHED_FIFO was seen spinning at 83% of a core
 * under a load of 100 and starving the host (the relay's polling is capped, scheduler.ts; the sidecar's
 * node process has no such cap), so the probers stay at normal priority.
 */
async function raiseSidecarRelays(containers: ReadonlyMap<string, string>): Promise<string> {
  const results = new Set<string>()
  for (const container of containers.values())
    for (const pid of await containerPids(container, RELAY_ENTRY))
      results.add(raiseContainerProcess(pid, RELAY_PRIORITY))
  return `relay: ${[...results].join(' / ') || 'no relay process found'}`
}

/**
 * Waits until every sidecar's healthcheck passes. Then the replicas' `up` finds every dependency healthy
 * and starts them together: left to compose, each replica starts when its own sidecar's healthcheck
 * next runs (1 s apart at most), and a replica that starts that much before the placed leader times out
 * waiting for it (multipaxos: 500-1000 ms) and takes the leadership (seen: the leader placed on CA, the
 * agreed one on VA or EU, in about one compose run in three).
 */
async function sidecarsHealthy(sidecars: ReadonlyMap<string, string>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (const [id, container] of sidecars) {
    for (;;) {
      const status = (
        await runArgv(['docker', 'inspect', '--format', '{{.State.Health.Status}}', container])
      ).stdout.trim()
      if (status === 'healthy') break
      // 'unhealthy' is not final: a slow calibration outlasts the healthcheck's retries, then it passes
      if (status === '' || Date.now() > deadline)
        throw new Error(`compose launcher: the sidecar of ${id} is ${status || 'gone'}, not healthy`)
      await sleep(200)
    }
  }
}

/**
 * Once the sidecars have shaped: their relays at real-time priority, then, when
 * calibrating, the two steps of sidecar.ts's calibration with the host's probes of the client links in
 * between. Returns the measured links (null without calibration) and the priority line.
 */
async function prepareSidecars(
  sidecars: ReadonlyMap<string, string>,
  options: {
    readonly relay: boolean
    readonly calibrating: boolean
    readonly clientAddresses: readonly string[]
    readonly calibrateHost?: () => Promise<readonly LinkCalibration[]>
  },
): Promise<{ calibration: LinkCalibration[] | null; shaperPriority: string }> {
  // without calibration `up` waited for the sidecars' health: they have shaped by now
  await sidecarEvents(sidecars, SHAPED_EVENT, CALIBRATION_TIMEOUT_MS)
  const shaperPriority = options.relay ? await raiseSidecarRelays(sidecars) : 'kernel'
  if (!options.calibrating) return { calibration: null, shaperPriority }
  const signalAll = async () => {
    for (const container of sidecars.values())
      await runOk(['docker', 'kill', '--signal', CALIBRATION_SIGNAL, container])
  }
  const hostSide = async () => {
    // the sidecars' stand-ins for the client API must listen before the host's probes dial them
    const deadline = Date.now() + CALIBRATION_TIMEOUT_MS
    for (const address of options.clientAddresses) await reachable(address, deadline)
    return (await options.calibrateHost?.()) ?? []
  }
  await signalAll() // go: probe
  const [inContainers, onHost] = await Promise.all([
    sidecarEvents(sidecars, CALIBRATED_EVENT, CALIBRATION_TIMEOUT_MS),
    hostSide(),
  ])
  await signalAll() // done: stop echoing, report ready
  await sidecarsHealthy(sidecars, CALIBRATION_TIMEOUT_MS)
  const calibration = [
    ...[...sidecars.keys()].flatMap(
      (id) => (inContainers.get(id)?.links as LinkCalibration[] | undefined) ?? [],
    ),
    ...onHost,
  ]
  return { calibration, shaperPriority }
}

/** Removes every container and network labelled with the project (compose down's safety net). */
export async function removeProject(project: string): Promise<void> {
  const label = `label=com.docker.compose.project=${project}`
  const containers = (await runArgv(['docker', 'ps', '-aq', '--filter', label])).stdout
    .split('\n')
    .filter(Boolean)
  if (containers.length > 0) await runArgv(['docker', 'rm', '-f', '-v', ...containers])
  const networks = (await runArgv(['docker', 'network', 'ls', '-q', '--filter', label])).stdout
    .split('\n')
    .filter(Boolean)
  if (networks.length > 0) await runArgv(['docker', 'network', 'rm', ...networks])
}

/** The same, synchronously: for process exit, where nothing async runs any more. */
function removeProjectSync(project: string): void {
  const label = `label=com.docker.compose.project=${project}`
  try {
    const ids = execFileSync('docker', ['ps', '-aq', '--filter', label], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
    if (ids.length > 0) execFileSync('docker', ['rm', '-f', '-v', ...ids], { stdio: 'ignore' })
    for (let attempt = 0; attempt < NETWORK_RM_ATTEMPTS; attempt++) {
      const nets = execFileSync('docker', ['network', 'ls', '-q', '--filter', label], { encoding: 'utf8' })
        .split('\n')
        .filter(Boolean)
      if (nets.length === 0) break
      try {
        execFileSync('docker', ['network', 'rm', ...nets], { stdio: 'ignore' })
        break
      } catch {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300) // a synchronous sleep
      }
    }
    const volumes = execFileSync('docker', ['volume', 'ls', '-q', '--filter', label], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
    if (volumes.length > 0) execFileSync('docker', ['volume', 'rm', '-f', ...volumes], { stdio: 'ignore' })
  } catch {
    // nothing more can be done at exit; `docker ps --filter label=com.docker.compose.project=cb-` finds leftovers
  }
}

async function containerOf(project: string, service: string): Promise<string> {
  const out = await runOk([
    'docker',
    'ps',
    '-aq',
    '--filter',
    `label=com.docker.compose.project=${project}`,
    '--filter',
    `label=com.docker.compose.service=${service}`,
  ])
  const id = out.split('\n').find(Boolean)
  if (id === undefined) throw new Error(`compose launcher: no container for service ${service} in ${project}`)
  return id
}

export async function startComposeCluster(options: ComposeClusterOptions): Promise<Cluster> {
  const ids = replicaIds(options.replicas)
  const { compose } = await requireDocker(true)
  const image = options.image ?? BASE_IMAGE_TAG
  if (image === BASE_IMAGE_TAG) await buildBaseImage()
  const runId = options.runId ?? defaultRunId()
  const project = composeProjectName(runId)
  const clock = options.clock ?? startRunClock()
  const tempDir = options.logDir === undefined ? mkdtempSync(join(tmpdir(), 'cb-compose-')) : null
  if (tempDir !== null) trackDir(tempDir)
  const workDir = options.logDir ?? tempDir!
  mkdirSync(workDir, { recursive: true })
  const composeFile = join(workDir, 'compose.yaml')
  const composeArgv = (...args: string[]) => [...compose, '-p', project, '-f', composeFile, ...args]
  const agent = new Agent({ keepAliveTimeout: 10_000 })
  const exits: ReplicaExit[] = []
  const nodeModules = join(REPO_ROOT, 'node_modules')
  const nodeModulesRealPath = lstatSync(nodeModules).isSymbolicLink() ? realpathSync(nodeModules) : null

  const exitHook = () => removeProjectSync(project)
  process.on('exit', exitHook)
  let events: ReturnType<typeof spawn> | null = null
  let replicas: ComposeReplica[] = []
  let stopped: Promise<void> | null = null
  let calibration: LinkCalibration[] | null = null
  let shaperPriority: string | null = null
  const calibrating = (options.calibrationProbes ?? 0) > 0 && (options.links?.length ?? 0) > 0

  const saveLogs = async () => {
    for (const r of replicas) {
      if (r.container === '') continue
      const logs = await runArgv(['docker', 'logs', r.container])
      writeFileSync(join(workDir, `${r.id}.stdout.log`), logs.stdout)
      writeFileSync(join(workDir, `${r.id}.stderr.log`), logs.stderr)
    }
  }
  /** `fast`: on SIGINT there are 3 s: skip the logs and compose's graceful down, remove by label at once */
  const stopWith = (fast: boolean): Promise<void> => {
    stopped ??= (async () => {
      if (!fast) {
        if (options.logDir !== undefined) await saveLogs().catch(() => {})
        await runArgv(composeArgv('down', '-v', '--remove-orphans', '-t', String(STOP_GRACE_S)), {
          timeoutMs: COMPOSE_TIMEOUT_MS,
        })
      }
      await removeProject(project)
      if (events?.pid !== undefined) {
        events.kill('SIGTERM')
        untrackPid(events.pid)
      }
      await agent.close()
      process.off('exit', exitHook)
      removeInterrupt()
      if (tempDir !== null) {
        rmSync(tempDir, { recursive: true, force: true })
        untrackDir(tempDir)
      }
    })()
    return stopped
  }
  const stop = () => stopWith(false)
  const removeInterrupt = onInterrupt(() => stopWith(true))

  let subnet = ''
  try {
    for (let attempt = 0; ; attempt++) {
      subnet = pickSubnet(runId, await usedSubnets(), attempt)
      const spec: ComposeSpec = {
        engine: options.engine,
        engineConfig: options.engineConfig,
        replicas: options.replicas,
        seed: options.seed,
        storage: options.storage,
        ...(options.processingDelayMs ? { processingDelayMs: options.processingDelayMs } : {}),
        subnet,
        code: { kind: 'mount', image, repoRoot: REPO_ROOT, nodeModulesRealPath },
        shaper: options.shaper ?? 'none',
        ...(options.links !== undefined ? { links: options.links } : {}),
        ...(options.sites !== undefined ? { sites: options.sites } : {}),
        ...(calibrating ? { calibrationProbes: options.calibrationProbes } : {}),
      }
      writeFileSync(composeFile, composeYaml(spec, runId, `# project ${project}\n`))
      // die events from here on: unexpected exits are recorded like the local launcher's
      events ??= watchDies(project, onDie)
      // calibrating: the sidecars first (they hold the replicas back until calibration is over)
      const first = calibrating ? ids.map((id) => `${id}-net`) : []
      const up = await runArgv(composeArgv('up', '-d', ...first), { timeoutMs: COMPOSE_TIMEOUT_MS })
      if (up.code === 0) break
      // a parallel run took the subnet between our look and our create: pick again
      if (!/overlap/i.test(up.stderr) || attempt + 1 >= SUBNET_ATTEMPTS)
        throw new Error(`compose launcher: up failed: ${up.stderr.trim().slice(-2000)}`)
      await removeProject(project)
    }
    replicas = ids.map(
      (id, i) => new ComposeReplica(id, replicaAddress(subnet, i), agent, options.startTimeoutMs ?? 120_000),
    )
    await options.hostNetwork?.(
      ids.map((id, i) => {
        const host = replicaAddress(subnet, i)
        return { id, host, peer: `${host}:${PEER_PORT}`, client: `${host}:${CLIENT_PORT}` }
      }),
    )
    const sidecars = new Map<string, string>()
    for (const id of ids) sidecars.set(id, await containerOf(project, `${id}-net`))
    const relay = options.shaper === 'relay' && (options.links?.length ?? 0) > 0
    if (relay || calibrating) {
      const prepared = await prepareSidecars(sidecars, {
        relay,
        calibrating,
        clientAddresses: replicas.map((r) => r.clientAddress),
        ...(options.calibrateHost !== undefined ? { calibrateHost: options.calibrateHost } : {}),
      })
      shaperPriority = prepared.shaperPriority
      calibration = prepared.calibration
      if (calibrating) {
        const up = await runArgv(composeArgv('up', '-d'), { timeoutMs: COMPOSE_TIMEOUT_MS })
        if (up.code !== 0) throw new Error(`compose launcher: up failed: ${up.stderr.trim().slice(-2000)}`)
      }
    }
    for (const r of replicas) await r.attach(await containerOf(project, r.id))
    await Promise.all(replicas.map((r) => r.waitHealthy()))
  } catch (err) {
    await saveLogs().catch(() => {})
    await stop()
    throw err
  }

  function onDie(line: string): void {
    let event: { id?: string; Actor?: { Attributes?: Record<string, string> } }
    try {
      event = JSON.parse(line)
    } catch {
      return
    }
    const attributes = event.Actor?.Attributes ?? {}
    const replica = replicas.find((r) => r.container !== '' && event.id?.startsWith(r.container))
    if (replica === undefined || attributes['consensus-bench.role'] !== 'replica') return
    const exitCode = attributes.exitCode !== undefined ? Number(attributes.exitCode) : null
    const { pid, expected } = replica.died()
    const exit: ReplicaExit = {
      replica: replica.id,
      pid: pid ?? 0,
      atUs: clock.nowUs(),
      exitCode,
      signal: signalName(exitCode),
      expected: expected || stopped !== null,
    }
    exits.push(exit)
    options.onExit?.(exit)
  }

  return {
    launcher: 'compose',
    engine: options.engine,
    replicas,
    exits,
    replica(id: NodeId): ReplicaHandle {
      const r = replicas.find((x) => x.id === id)
      if (r === undefined) throw new Error(`no replica ${id}`)
      return r
    },
    stop,
    // faults on the replica links: the sidecars of both ends (compose/link-control.ts)
    linkControl: sidecarLinkControl(
      new Map(ids.map((id, i) => [id, `${replicaAddress(subnet, i)}:${LINK_CONTROL_PORT}`])),
      agent,
    ),
    ...(calibration !== null ? { calibration } : {}),
    ...(shaperPriority !== null ? { shaperPriority } : {}),
  }
}
