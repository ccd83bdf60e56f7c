/**
 * The local launcher: N replica processes (engines/host) on this machine, replica i on its own loopback
 * address 127.0.0.(i+1) with free ports. No root, no Docker.
 *
 * It waits for each replica's `listening` line and a healthy /health, retries with fresh ports when a
 * port was taken between probing and binding, captures each replica's stderr (and stdout) into a log
 * file, records every exit, and always cleans up what it started, by PID: on stop(), on a start failure,
 * and on SIGINT/SIGTERM of the harness (see cleanup.ts).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import {
  closeSync,
  createWriteStream,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { Agent } from 'undici'
import type { NodeId } from '../../engines/core/command.ts'
import type { RunClock } from '../../workloads/clock.ts'
import { startRunClock } from '../../workloads/clock.ts'
import { trackDir, trackPid, untrackDir, untrackPid } from './cleanup.ts'
import { fetchJson, fetchJsonOrNull } from './http-json.ts'
import { freePorts } from './ports.ts'
import type { Cluster, ReplicaExit, ReplicaHandle, ReplicaHealth } from './types.ts'

export const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)))

export interface LocalClusterOptions {
  readonly engine: string
  readonly engineConfig: Readonly<Record<string, unknown>>
  readonly replicas: number
  readonly seed: number
  readonly storage: 'file' | 'memory'
  /** each replica's processingDelayMs (engines/host/input-delay.ts), for testing gates; absent or 0: none */
  readonly processingDelayMs?: number
  /** where `<id>.stderr.log`, `<id>.stdout.log` and `<id>.config.json` go; default: the temp dir */
  readonly logDir?: string
  /** the clock exit times are measured on; default: a clock started now */
  readonly clock?: RunClock
  /** the replica program, relative to the repo root; tests point this at a fake */
  readonly hostEntry?: string
  /** per replica: from spawn to a healthy /health */
  readonly startTimeoutMs?: number
  /** how many times to retry with fresh ports when one was taken */
  readonly portAttempts?: number
  /** called on every replica exit, expected or not */
  readonly onExit?: (exit: ReplicaExit) => void
  /**
   * Where each replica dials each peer, given where they all listen: a link shaper's relay addresses
   * (harness/topology-run.ts). Called again with new ports when a launch is retried. Default: direct.
   */
  readonly peerAddresses?: (
    replicas: readonly LaunchedAddresses[],
  ) => Promise<(self: NodeId, peer: NodeId) => string>
}

/** Where one replica listens, before it is started. */
export interface LaunchedAddresses {
  readonly id: NodeId
  readonly host: string
  readonly peer: string
  readonly client: string
}

/**
 * CONSENSUS_BENCH_CPU_PROFILE_DIR=<dir>: every replica process runs with node's --cpu-prof and writes a
 * V8 CPU profile (.cpuprofile, for Chrome DevTools or speedscope) into that directory when it exits. For
 * finding where a replica's CPU per command goes (engines/ios/README.md, Figures); NODE_OPTIONS cannot
 * carry --cpu-prof.
 */
function cpuProfileArgs(): string[] {
  const dir = process.env.CONSENSUS_BENCH_CPU_PROFILE_DIR
  return dir === undefined || dir === '' ? [] : ['--cpu-prof', `--cpu-prof-dir=${dir}`]
}

/** The replica's stderr said it could not bind: pick new ports and try again. */
class PortTakenError extends Error {}

const DEFAULT_HOST_ENTRY = 'engines/host/main.ts'
const STOP_GRACE_MS = 2000
const MAX_REPLICAS = 200

export function replicaHost(index: number): string {
  if (!Number.isInteger(index) || index < 0 || index >= MAX_REPLICAS)
    throw new Error(`bad replica index ${index}`)
  return `127.0.0.${index + 1}`
}

interface ReplicaSpec {
  readonly id: NodeId
  readonly host: string
  readonly peerPort: number
  readonly clientPort: number
}

class LocalReplica implements ReplicaHandle {
  readonly id: NodeId
  readonly peerAddress: string
  readonly clientAddress: string
  readonly clientUrl: string
  #child: ChildProcess | null = null
  #exited: Promise<void> = Promise.resolve()
  #expectExit = false

  constructor(
    spec: ReplicaSpec,
    private readonly configPath: string,
    private readonly logDir: string,
    private readonly entry: string,
    private readonly startTimeoutMs: number,
    private readonly clock: RunClock,
    private readonly agent: Agent,
    private readonly recordExit: (exit: ReplicaExit) => void,
  ) {
    this.id = spec.id
    this.peerAddress = `${spec.host}:${spec.peerPort}`
    this.clientAddress = `${spec.host}:${spec.clientPort}`
    this.clientUrl = `http://${this.clientAddress}`
  }

  pid(): number | null {
    return this.#child?.pid ?? null
  }

  running(): boolean {
    return this.#child !== null
  }

  get stderrPath(): string {
    return join(this.logDir, `${this.id}.stderr.log`)
  }

  async start(): Promise<void> {
    if (this.#child !== null) throw new Error(`replica ${this.id} is already running`)
    const stderrStart = fileSize(this.stderrPath)
    const stderrFd = openSync(this.stderrPath, 'a')
    // Opened synchronously: a stream that opens its file later fails with ENOENT (an uncaught 'error')
    // when a failed launch has already removed the directory.
    const stdoutLog = createWriteStream('', { fd: openSync(join(this.logDir, `${this.id}.stdout.log`), 'a') })
    stdoutLog.on('error', (err) =>
      process.stderr.write(`local launcher: replica ${this.id}: stdout log: ${err.message}\n`),
    )
    let child: ChildProcess
    try {
      child = spawn(
        process.execPath,
        [...cpuProfileArgs(), '--import', 'tsx', this.entry, '--config', this.configPath],
        {
          cwd: REPO_ROOT,
          stdio: ['ignore', 'pipe', stderrFd],
        },
      )
    } finally {
      closeSync(stderrFd) // the child has its own copy
    }
    const pid = child.pid
    if (pid === undefined) {
      stdoutLog.end()
      // the reason comes as an 'error' event a tick later; unheard, it would be an uncaught exception
      const err = await new Promise<Error>((resolveError) => child.once('error', resolveError))
      throw new Error(`replica ${this.id}: spawn failed: ${err.message}`)
    }
    // once spawned, 'error' only means a signal could not be sent: report it, never crash on it
    child.on('error', (err) =>
      process.stderr.write(`local launcher: replica ${this.id} (pid ${pid}): ${err.message}\n`),
    )
    trackPid(pid)
    this.#child = child
    this.#expectExit = false
    this.#exited = new Promise((resolveExit) => {
      child.once('exit', (code, signal) => {
        untrackPid(pid)
        if (this.#child === child) this.#child = null
        this.recordExit({
          replica: this.id,
          pid,
          atUs: this.clock.nowUs(),
          exitCode: code,
          signal,
          expected: this.#expectExit,
        })
        resolveExit()
      })
    })

    const listening = new Promise<void>((resolveListen, rejectListen) => {
      const lines = createInterface({ input: child.stdout! })
      let seen = false
      lines.on('line', (line) => {
        stdoutLog.write(line + '\n')
        if (seen) return
        try {
          const event = JSON.parse(line) as { event?: unknown; id?: unknown }
          if (event.event === 'listening' && event.id === this.id) {
            seen = true
            resolveListen()
          }
        } catch {
          // not the ready line; keep it in the log only
        }
      })
      lines.on('close', () => stdoutLog.end())
      child.once('exit', (code, signal) => {
        if (seen) return
        const stderr = readTail(this.stderrPath, stderrStart)
        if (/port taken/.test(stderr))
          rejectListen(new PortTakenError(`replica ${this.id}: ${lastLine(stderr)}`))
        else {
          rejectListen(
            new Error(
              `replica ${this.id} exited before listening (code ${code}, signal ${signal}); ` +
                `stderr (${this.stderrPath}):\n${stderr.slice(-2000)}`,
            ),
          )
        }
      })
    })
    const deadline = Date.now() + this.startTimeoutMs
    await withTimeout(listening, this.startTimeoutMs, `replica ${this.id} did not print its listening line`)
    while ((await this.health(500)) === null) {
      if (this.#child === null) throw new Error(`replica ${this.id} exited while waiting for /health`)
      if (Date.now() > deadline) throw new Error(`replica ${this.id}: /health did not answer in time`)
      await sleep(50)
    }
  }

  async kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await signalChild(this.#child, signal, this.#exited, () => {
      this.#expectExit = true
    })
  }

  /** SIGTERM, then SIGKILL after a grace period. */
  async stop(): Promise<void> {
    await stopChild(this.#child, this.#exited, STOP_GRACE_MS, () => {
      this.#expectExit = true
    })
  }

  async restart(): Promise<void> {
    if (this.#child !== null) await this.stop()
    await this.start()
  }

  async health(timeoutMs = 1000): Promise<ReplicaHealth | null> {
    return (await fetchJsonOrNull(this.agent, this.clientUrl, '/health', timeoutMs)) as ReplicaHealth | null
  }

  async metrics(timeoutMs = 1000): Promise<unknown> {
    return fetchJson(this.agent, this.clientUrl, '/metrics', timeoutMs)
  }
}

export async function startLocalCluster(options: LocalClusterOptions): Promise<Cluster> {
  const n = options.replicas
  if (!Number.isInteger(n) || n < 1 || n > MAX_REPLICAS)
    throw new Error(`replicas must be 1..${MAX_REPLICAS}`)
  const clock = options.clock ?? startRunClock()
  const entry = options.hostEntry ?? DEFAULT_HOST_ENTRY
  const tempDir = mkdtempSync(join(tmpdir(), 'consensus-bench-'))
  trackDir(tempDir)
  const logDir = options.logDir ?? tempDir
  mkdirSync(logDir, { recursive: true })
  const exits: ReplicaExit[] = []
  const agent = new Agent({ keepAliveTimeout: 10_000 })
  const recordExit = (exit: ReplicaExit) => {
    exits.push(exit)
    options.onExit?.(exit)
  }

  let replicas: LocalReplica[] = []
  const stopAll = async () => {
    await Promise.all(replicas.map((r) => r.stop()))
  }
  const attempts = options.portAttempts ?? 5
  try {
    for (let attempt = 1; ; attempt++) {
      replicas = await createReplicas()
      try {
        await Promise.all(replicas.map((r) => r.start()))
        break
      } catch (err: unknown) {
        await stopAll()
        if (!(err instanceof PortTakenError) || attempt >= attempts) throw err
        // those processes are gone and replaced: their exits are not this cluster's (nor faults of the run)
        exits.length = 0
        process.stderr.write(`local launcher: ${err.message}; retrying with new ports\n`)
      }
    }
  } catch (err: unknown) {
    await agent.close()
    removeDir(tempDir)
    throw err
  }

  async function createReplicas(): Promise<LocalReplica[]> {
    const specs: ReplicaSpec[] = []
    for (let i = 0; i < n; i++) {
      const host = replicaHost(i)
      const [peerPort, clientPort] = await freePorts(host, 2)
      specs.push({ id: `r${i}`, host, peerPort: peerPort!, clientPort: clientPort! })
    }
    const nodes = specs.map((s) => ({ id: s.id, peerAddress: `${s.host}:${s.peerPort}` }))
    const dial = await options.peerAddresses?.(
      specs.map((s) => ({
        id: s.id,
        host: s.host,
        peer: `${s.host}:${s.peerPort}`,
        client: `${s.host}:${s.clientPort}`,
      })),
    )
    return specs.map((spec, i) => {
      const dataDir = join(tempDir, `${spec.id}-data`)
      // every launch attempt starts empty: a discarded attempt's replicas may have run and written state
      rmSync(dataDir, { recursive: true, force: true })
      const config = {
        id: spec.id,
        engine: options.engine,
        engineConfig: options.engineConfig,
        nodes:
          dial === undefined
            ? nodes
            : nodes.map((n) => (n.id === spec.id ? n : { id: n.id, peerAddress: dial(spec.id, n.id) })),
        listen: { peer: `${spec.host}:${spec.peerPort}`, client: `${spec.host}:${spec.clientPort}` },
        storage: options.storage === 'file' ? { kind: 'file', dir: dataDir } : { kind: 'memory' },
        seed: options.seed + i,
        ...(options.processingDelayMs ? { processingDelayMs: options.processingDelayMs } : {}),
      }
      const configPath = join(logDir, `${spec.id}.config.json`)
      writeFileSync(configPath, JSON.stringify(config, null, 2) + '\n')
      return new LocalReplica(
        spec,
        configPath,
        logDir,
        entry,
        options.startTimeoutMs ?? 30_000,
        clock,
        agent,
        recordExit,
      )
    })
  }

  let stopped: Promise<void> | null = null
  return {
    launcher: 'local',
    engine: options.engine,
    replicas,
    exits,
    replica(id: NodeId): ReplicaHandle {
      const r = replicas.find((x) => x.id === id)
      if (r === undefined) throw new Error(`no replica ${id}`)
      return r
    },
    stop(): Promise<void> {
      stopped ??= (async () => {
        await stopAll()
        await agent.close()
        removeDir(tempDir)
      })()
      return stopped
    },
  }
}

/**
 * Sends `signal` to a replica's process and resolves once it has exited (`exited`); SIGSTOP and SIGCONT
 * resolve at once. `expect` marks the exit as asked for, before the signal goes.
 */
export async function signalChild(
  child: ChildProcess | null,
  signal: NodeJS.Signals,
  exited: Promise<void>,
  expect: () => void,
): Promise<void> {
  if (child === null) return
  if (signal === 'SIGSTOP' || signal === 'SIGCONT') {
    child.kill(signal)
    return
  }
  expect()
  child.kill(signal)
  await exited
}

/** SIGCONT (a stopped process cannot act on SIGTERM) and SIGTERM, then SIGKILL after `graceMs`. */
export async function stopChild(
  child: ChildProcess | null,
  exited: Promise<void>,
  graceMs: number,
  expect: () => void,
): Promise<void> {
  if (child === null) return
  expect()
  child.kill('SIGCONT')
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
  await exited
  clearTimeout(timer)
}

function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true })
  untrackDir(dir)
}

function fileSize(path: string): number {
  try {
    return statSync(path).size
  } catch {
    return 0
  }
}

function readTail(path: string, from: number): string {
  try {
    return readFileSync(path).subarray(from).toString('utf8')
  } catch {
    return ''
  }
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n')
  return lines[lines.length - 1] ?? ''
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([p, timeout])
  } finally {
    clearTimeout(timer)
  }
}
