/**
 * The external launcher: N members of an external system (schema.ts) as local processes, member i on
 * 127.0.0.(i+1) like our replicas, with its own peer and client ports, a data dir in a temp dir (on
 * disk or tmpfs) removed on stop, and stdout/stderr in `<logDir>/<id>.std{out,err}.log`.
 *
 * Under a topology the members' links go through the shaper (harness/topology-run.ts CellNetwork):
 * per-member peers are each told the shaped address of every link; shared peers all dial a member at
 * its one advertised address, a relay listener on the member's host that tells the source of each
 * connection by a header (netem/shaper.ts `inbound`). Clients reach the members through the shaper
 * as they reach our replicas.
 *
 * Cleanup is by PID, as the local launcher's: stop() sends SIGCONT + SIGTERM, SIGKILL after 5 s.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import {
  accessSync,
  closeSync,
  constants,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, isAbsolute, join } from 'node:path'
import { Agent } from 'undici'
import type { NodeId } from '../../engines/core/command.ts'
import type { InboundSpec } from '../../netem/shaper.ts'
import { type RunClock, startRunClock } from '../../workloads/clock.ts'
import { atPath } from '../../workloads/http-kv-api.ts'
import { trackDir, trackPid, untrackDir, untrackPid } from '../launchers/cleanup.ts'
import { type LaunchedAddresses, REPO_ROOT, replicaHost, signalChild, stopChild } from '../launchers/local.ts'
import { freePorts } from '../launchers/ports.ts'
import type { Cluster, ReplicaExit, ReplicaHandle, ReplicaHealth } from '../launchers/types.ts'
import type { ExternalEngine } from './schema.ts'

export interface ExternalClusterOptions {
  /** the engine's name in the run (etcd, or the experiment's name for a declared one) */
  readonly engine: string
  readonly definition: ExternalEngine
  /** the resolved config (schema.ts externalConfig): `{config.<field>}` */
  readonly config: Readonly<Record<string, string | number | boolean>>
  readonly replicas: number
  /** where the data dirs go; default the definition's */
  readonly dataDir?: 'disk' | 'tmpfs'
  readonly logDir?: string
  readonly clock?: RunClock
  readonly onExit?: (exit: ReplicaExit) => void
  /** the cell's shaped network (CellNetwork.externalPeers); absent: members dial each other directly */
  readonly network?: (
    replicas: readonly LaunchedAddresses[],
    inbound: readonly InboundSpec[],
  ) => Promise<{ route: (self: NodeId, peer: NodeId) => string; shared: boolean }>
  /** how many launches to try when a member could not bind its ports */
  readonly portAttempts?: number
}

/** The program of a definition is not installed: the run skips its cells with this message. */
export class ExternalMissingError extends Error {
  readonly code = 'ERR_EXTERNAL_MISSING'
}

const STOP_GRACE_MS = 5000

/** Whether the definition's program can be run here: an absolute path that is executable, or found on PATH. */
export function programPath(definition: ExternalEngine): string | null {
  const program = definition.command[0]!
  const candidates =
    isAbsolute(program) || program.includes('/')
      ? [program]
      : (process.env.PATH ?? '')
          .split(delimiter)
          .filter((d) => d !== '')
          .map((d) => join(d, program))
  for (const c of candidates) {
    try {
      accessSync(isAbsolute(c) ? c : join(REPO_ROOT, c), constants.X_OK)
      return c
    } catch {
      // not here
    }
  }
  return null
}

/** Why a definition's cells cannot run here (its program is missing), or null when they can. */
export function missingProgram(engine: string, definition: ExternalEngine): string | null {
  if (programPath(definition) !== null) return null
  return `${engine}: '${definition.command[0]}' is not installed (not on PATH)${definition.install !== '' ? `; install: ${definition.install}` : ''}`
}

/** etcd's member id: the first 8 bytes of sha1(sorted peer URLs + cluster token), in hex as its headers carry it. */
export function etcdMemberId(peerUrl: string, clusterToken: string): string {
  return createHash('sha1')
    .update(peerUrl + clusterToken)
    .digest()
    .readBigUInt64BE(0)
    .toString(16)
}

interface MemberSpec {
  readonly i: number
  readonly id: NodeId
  readonly host: string
  readonly peerListen: string
  readonly clientListen: string
  readonly advertisePeer: string
  readonly argv: readonly string[]
  readonly env: Record<string, string>
  readonly dataDir: string
}

/** Fills a member template; the schema has already refused unknown names. */
function fill(template: string, vars: Readonly<Record<string, string>>): string {
  return template.replace(/\{([\w.]+)\}/g, (whole, name: string) => vars[name] ?? whole)
}

class ExternalMember implements ReplicaHandle {
  readonly id: NodeId
  readonly peerAddress: string
  readonly clientAddress: string
  readonly clientUrl: string
  #child: ChildProcess | null = null
  #exited: Promise<void> = Promise.resolve()
  #expectExit = false
  #startedMs = 0

  constructor(
    readonly spec: MemberSpec,
    private readonly cluster: ExternalClusterState,
  ) {
    this.id = spec.id
    this.peerAddress = spec.advertisePeer
    this.clientAddress = spec.clientListen
    this.clientUrl = `http://${spec.clientListen}`
  }

  pid(): number | null {
    return this.#child?.pid ?? null
  }

  running(): boolean {
    return this.#child !== null
  }

  get stderrPath(): string {
    return join(this.cluster.logDir, `${this.id}.stderr.log`)
  }

  async start(): Promise<void> {
    if (this.#child !== null) throw new Error(`member ${this.id} is already running`)
    mkdirSync(this.spec.dataDir, { recursive: true, mode: 0o700 })
    const stdout = openSync(join(this.cluster.logDir, `${this.id}.stdout.log`), 'a')
    const stderr = openSync(this.stderrPath, 'a')
    let child: ChildProcess
    try {
      child = spawn(this.spec.argv[0]!, this.spec.argv.slice(1), {
        cwd: REPO_ROOT,
        env: { ...process.env, ...this.spec.env },
        stdio: ['ignore', stdout, stderr],
      })
    } finally {
      closeSync(stdout)
      closeSync(stderr)
    }
    const pid = child.pid
    if (pid === undefined) {
      const err = await new Promise<Error>((r) => child.once('error', r))
      throw new Error(`member ${this.id}: cannot start '${this.spec.argv[0]}': ${err.message}`)
    }
    child.on('error', (err) =>
      process.stderr.write(`external launcher: ${this.id} (pid ${pid}): ${err.message}\n`),
    )
    trackPid(pid)
    this.#child = child
    this.#expectExit = false
    this.#startedMs = Date.now()
    this.#exited = new Promise((resolveExit) => {
      child.once('exit', (code, signal) => {
        untrackPid(pid)
        if (this.#child === child) this.#child = null
        this.cluster.recordExit({
          replica: this.id,
          pid,
          atUs: this.cluster.clock.nowUs(),
          exitCode: code,
          signal,
          expected: this.#expectExit,
        })
        resolveExit()
      })
    })
  }

  /** Resolves when the health request answers ok; throws when the member exits first or time runs out. */
  async waitHealthy(deadlineMs: number): Promise<void> {
    for (;;) {
      if (this.#child === null) {
        const tail = readTail(this.stderrPath)
        throw new MemberExitedError(
          `member ${this.id} exited before it was healthy; stderr (${this.stderrPath}):\n${tail}`,
          /address already in use/.test(tail),
        )
      }
      if (await this.#probeOk()) return
      if (Date.now() > deadlineMs)
        throw new Error(
          `member ${this.id}: ${this.cluster.definition.health.method} ${this.cluster.definition.health.path} not ok within ${this.cluster.definition.startTimeoutMs} ms; stderr tail:\n${readTail(this.stderrPath)}`,
        )
      await sleep(100)
    }
  }

  async #probeOk(): Promise<boolean> {
    const answer = await this.cluster.request(this.clientUrl, this.cluster.definition.health, 1000)
    return answer !== null && this.cluster.definition.health.ok.includes(answer.status)
  }

  async kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await signalChild(this.#child, signal, this.#exited, () => {
      this.#expectExit = true
    })
  }

  async stop(): Promise<void> {
    await stopChild(this.#child, this.#exited, STOP_GRACE_MS, () => {
      this.#expectExit = true
    })
  }

  async restart(): Promise<void> {
    if (this.#child !== null) await this.stop()
    await this.start()
    await this.waitHealthy(Date.now() + this.cluster.definition.startTimeoutMs)
  }

  /**
   * The health request; with a `leader` probe in the definition, the leader too (null until every
   * member's own id has been seen once). role, epoch and executed are not known for an external system.
   */
  async health(timeoutMs = 1000): Promise<ReplicaHealth | null> {
    if (this.#child === null) return null
    const def = this.cluster.definition
    let leader: NodeId | null = null
    if (def.leader !== undefined) {
      const answer = await this.cluster.request(this.clientUrl, def.leader, timeoutMs)
      if (answer === null || !def.leader.ok.includes(answer.status)) return null
      const self = stringAt(answer.json, def.leader.self)
      const named = stringAt(answer.json, def.leader.leader)
      if (self !== null) this.cluster.selfIds.set(self, this.id)
      leader = named === null ? null : (this.cluster.selfIds.get(named) ?? null)
    } else if (!(await this.#probeOk())) return null
    return {
      id: this.id,
      engine: this.cluster.engine,
      role: leader === null ? 'unknown' : leader === this.id ? 'leader' : 'follower',
      leader,
      epoch: 0,
      executed: 0,
      uptimeMs: Date.now() - this.#startedMs,
    }
  }

  /** An external system has no /metrics in our format: node cost is not measured for it. */
  async metrics(): Promise<unknown> {
    return null
  }
}

class MemberExitedError extends Error {
  constructor(
    message: string,
    readonly portTaken: boolean,
  ) {
    super(message)
  }
}

class ExternalClusterState {
  readonly selfIds = new Map<string, NodeId>()
  readonly agent = new Agent({ keepAliveTimeout: 10_000 })
  readonly exits: ReplicaExit[] = []

  constructor(
    readonly engine: string,
    readonly definition: ExternalEngine,
    readonly logDir: string,
    readonly clock: RunClock,
    private readonly onExit: ((exit: ReplicaExit) => void) | undefined,
  ) {}

  recordExit(exit: ReplicaExit): void {
    this.exits.push(exit)
    this.onExit?.(exit)
  }

  async request(
    origin: string,
    probe: { method: string; path: string; json?: unknown },
    timeoutMs: number,
  ): Promise<{ status: number; json: unknown } | null> {
    try {
      const r = await this.agent.request({
        origin,
        path: probe.path,
        method: probe.method as 'GET',
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        ...(probe.json !== undefined
          ? { body: JSON.stringify(probe.json), headers: { 'content-type': 'application/json' } }
          : {}),
      })
      const text = await r.body.text()
      let json: unknown = null
      try {
        json = JSON.parse(text)
      } catch {
        // a health answer need not be JSON
      }
      return { status: r.statusCode, json }
    } catch {
      return null
    }
  }
}

function stringAt(json: unknown, path: string): string | null {
  const v = atPath(json, path)
  return typeof v === 'string' || typeof v === 'number' ? String(v) : null
}

/** A cluster of external members; it can move its leadership when the definition says how. */
export interface ExternalCluster extends Cluster {
  /**
   * Moves leadership to `to` (definition `moveLeader`, sent to the current leader) and waits until every
   * running member names it; resolves with the leader they agree on then (`to`, or another on timeout).
   */
  moveLeader(to: NodeId, timeoutMs: number): Promise<NodeId | null>
}

export async function startExternalCluster(options: ExternalClusterOptions): Promise<ExternalCluster> {
  const def = options.definition
  const n = options.replicas
  if (!Number.isInteger(n) || n < 1 || n > 50) throw new Error('replicas must be 1..50')
  const missing = missingProgram(options.engine, def)
  if (missing !== null) throw new ExternalMissingError(missing)
  const tempDir = mkdtempSync(
    join((options.dataDir ?? def.dataDir) === 'tmpfs' ? '/dev/shm' : tmpdir(), 'consensus-bench-ext-'),
  )
  trackDir(tempDir)
  const logDir = options.logDir ?? tempDir
  mkdirSync(logDir, { recursive: true })
  const state = new ExternalClusterState(
    options.engine,
    def,
    logDir,
    options.clock ?? startRunClock(),
    options.onExit,
  )
  let members: ExternalMember[] = []
  const stopAll = () => Promise.all(members.map((m) => m.stop()))
  try {
    for (let attempt = 1; ; attempt++) {
      members = (await memberSpecs(options, tempDir, attempt)).map((s) => new ExternalMember(s, state))
      try {
        for (const m of members) await m.start()
        const deadline = Date.now() + def.startTimeoutMs
        await Promise.all(members.map((m) => m.waitHealthy(deadline)))
        break
      } catch (err: unknown) {
        await stopAll()
        if (!(err instanceof MemberExitedError && err.portTaken) || attempt >= (options.portAttempts ?? 3))
          throw err
        state.exits.length = 0
        process.stderr.write(`external launcher: ${err.message.split('\n')[0]}; retrying with new ports\n`)
      }
    }
  } catch (err: unknown) {
    await state.agent.close()
    removeDir(tempDir)
    throw err
  }
  let stopped: Promise<void> | null = null
  return {
    launcher: 'local',
    engine: options.engine,
    replicas: members,
    exits: state.exits,
    replica(id: NodeId): ReplicaHandle {
      const m = members.find((x) => x.id === id)
      if (m === undefined) throw new Error(`no member ${id}`)
      return m
    },
    stop(): Promise<void> {
      stopped ??= (async () => {
        await stopAll()
        await state.agent.close()
        removeDir(tempDir)
      })()
      return stopped
    },
    moveLeader: (to, timeoutMs) => moveLeader(state, members, to, timeoutMs),
  }
}

async function moveLeader(
  state: ExternalClusterState,
  members: readonly ExternalMember[],
  to: NodeId,
  timeoutMs: number,
): Promise<NodeId | null> {
  const request = state.definition.moveLeader
  if (request === undefined) throw new Error(`${state.engine}: the definition has no moveLeader request`)
  const deadline = Date.now() + timeoutMs
  let agreed: NodeId | null = null
  let sent = false
  while (Date.now() < deadline) {
    const running = members.filter((m) => m.running())
    const healths = await Promise.all(running.map((m) => m.health(500)))
    const named = new Set(healths.map((h) => h?.leader ?? null))
    agreed = named.size === 1 ? ([...named][0] ?? null) : null
    if (agreed === to) return to
    const target = [...state.selfIds].find(([, id]) => id === to)?.[0]
    const leader = running.find((m) => m.id === agreed)
    if (!sent && target !== undefined && leader !== undefined) {
      const json = JSON.parse(JSON.stringify(request.json ?? {}).replaceAll('{targetId}', target)) as unknown
      const answer = await state.request(leader.clientUrl, { ...request, json }, 5000)
      if (answer === null || !request.ok.includes(answer.status))
        throw new Error(
          `${state.engine}: ${request.method} ${request.path} at ${leader.id} answered ${answer?.status ?? 'nothing'}: ${JSON.stringify(answer?.json ?? null)}`,
        )
      sent = true
    }
    await sleep(100)
  }
  return agreed
}

interface BaseMember {
  readonly i: number
  readonly id: NodeId
  readonly host: string
  readonly peer: string
  readonly client: string
  /** where the shaper's shared inbound listener for this member goes (peers.mode shared) */
  readonly inbound: string
}

/** Addresses, ports, identities and the filled command of every member, for one launch attempt. */
async function memberSpecs(
  options: ExternalClusterOptions,
  tempDir: string,
  attempt: number,
): Promise<MemberSpec[]> {
  const def = options.definition
  const clusterToken = `consensus-bench-${randomBytes(4).toString('hex')}`
  const base: BaseMember[] = []
  for (let i = 0; i < options.replicas; i++) {
    const host = replicaHost(i)
    const [peer, client, inbound] = await freePorts(host, 3)
    base.push({
      i,
      id: `r${i}`,
      host,
      peer: `${host}:${peer}`,
      client: `${host}:${client}`,
      inbound: `${host}:${inbound}`,
    })
  }
  const shared = def.peers.mode === 'shared'
  const identity = (m: BaseMember) =>
    def.peers.identity === 'etcd-member-id' ? etcdMemberId(`http://${m.inbound}`, clusterToken) : m.id
  const inbound: InboundSpec[] = shared
    ? base.map((to) => ({
        to: to.id,
        header: def.peers.header!,
        sources: Object.fromEntries(base.filter((f) => f !== to).map((f) => [identity(f), f.id])),
        listen: to.inbound,
      }))
    : []
  const network = await options.network?.(
    base.map((m) => ({ id: m.id, host: m.host, peer: m.peer, client: m.client })),
    inbound,
  )
  // shared addresses exist only when the shaper serves them; otherwise a member is reached where it listens
  const advertise = (m: BaseMember) => (shared && network?.shared === true ? m.inbound : m.peer)
  const dial = (self: BaseMember, peer: BaseMember) =>
    shared ? advertise(peer) : network !== undefined ? network.route(self.id, peer.id) : peer.peer
  const members = base.map((m) => `${m.id}=${advertise(m)}`).join(',')
  const membersUrl = base.map((m) => `${m.id}=http://${advertise(m)}`).join(',')
  const config = Object.fromEntries(
    Object.entries(options.config).map(([k, v]) => [`config.${k}`, String(v)]),
  )
  return base.map((m) => {
    const dataDir = join(tempDir, `${m.id}-data-${attempt}`)
    rmSync(dataDir, { recursive: true, force: true })
    const vars: Record<string, string> = {
      ...config,
      i: String(m.i),
      name: m.id,
      host: m.host,
      peerPort: m.peer.split(':')[1]!,
      clientPort: m.client.split(':')[1]!,
      peerListen: m.peer,
      clientListen: m.client,
      advertisePeer: advertise(m),
      peers: base
        .filter((p) => p !== m)
        .map((p) => `${p.id}=${dial(m, p)}`)
        .join(','),
      members,
      membersUrl,
      clusterToken,
      dataDir,
    }
    return {
      i: m.i,
      id: m.id,
      host: m.host,
      peerListen: m.peer,
      clientListen: m.client,
      advertisePeer: advertise(m),
      argv: def.command.map((t) => fill(t, vars)),
      env: Object.fromEntries(Object.entries(def.env).map(([k, t]) => [k, fill(t, vars)])),
      dataDir,
    }
  })
}

function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true })
  untrackDir(dir)
}

function readTail(path: string): string {
  try {
    return readFileSync(path, 'utf8').slice(-2000)
  } catch {
    return ''
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}
