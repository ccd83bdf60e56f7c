/**
 * `relayShaper`: the userspace Shaper. apply() spawns one relay process (netem/relay/main.ts) for the
 * whole network, waits for its ready line, and returns a ShapedNetwork that drives it over its
 * stdin/stdout control channel. The PID is tracked (harness/launchers/cleanup.ts), so a harness that
 * exits or is interrupted kills it too; a harness killed with SIGKILL closes the relay's stdin, and the
 * relay exits on its own.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { trackPid, untrackPid } from '../../harness/launchers/cleanup.ts'
import type { LinkShape, NetworkSpec, PartitionMode, ShapedNetwork, Shaper } from '../shaper.ts'
import { makeRealtime, type RealtimeResult } from './realtime.ts'
import {
  parseLinkShape,
  parseNetworkSpec,
  type RelayInboundAddress,
  type RelayLinkAddress,
  type RelayStart,
  type RelayStats,
} from './spec.ts'

const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)))
/** the relay program (a container's sidecar runs it too: the compose launcher finds it by this name) */
export const RELAY_ENTRY = 'netem/relay/main.ts'
const STDERR_TAIL_CHARS = 4000
const STOP_GRACE_MS = 2000

export interface RelayShaperOptions {
  /** seeds the relay's jitter and loss draws; default 1 */
  readonly seed?: number
  /** the loopback address the relay listens on; default 127.0.0.250 (clear of replicas' 127.0.0.1..) */
  readonly listenHost?: string
  /** how long before a delivery the relay polls instead of sleeping (precision vs CPU); default 0.2 */
  readonly spinMs?: number
  /** what wakes the relay before a delivery: 'worker' (default, precise) or 'timer' (setTimeout) */
  readonly wake?: 'worker' | 'timer'
  /** from spawn to the ready line; default 20 s (tsx compiles on first start; the machine may be busy) */
  readonly startTimeoutMs?: number
  /**
   * run the relay's threads under SCHED_FIFO at this priority (1-99), best effort (realtime.ts):
   * its deliveries then do not wait for a CPU on a busy machine; default null (normal scheduling)
   */
  readonly realtimePriority?: number | null
}

/** The ShapedNetwork the relay gives back, with what tests and benchmarks need beyond the interface. */
export interface RelayNetwork extends ShapedNetwork {
  readonly pid: number
  readonly links: readonly RelayLinkAddress[]
  inboundAddressFor(to: string): string
  stats(): Promise<RelayStats>
  /** resolves when the process has exited (after close(), or on its own) */
  readonly exited: Promise<void>
  /** what came of `realtimePriority`; null when not asked for */
  readonly realtime: RealtimeResult | null
}

type Reply = { id: number; ok: true; stats?: RelayStats } | { id: number; ok: false; error: string }

class RelayProcess implements RelayNetwork {
  readonly pid: number
  readonly links: readonly RelayLinkAddress[]
  readonly exited: Promise<void>
  realtime: RealtimeResult | null = null
  readonly #child: ChildProcess
  readonly #addresses: Map<string, string>
  readonly #inbound: Map<string, string>
  readonly #endpoints: readonly string[]
  readonly #pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>()
  #nextId = 1
  #alive = true
  #closing: Promise<void> | null = null

  constructor(
    child: ChildProcess,
    links: readonly RelayLinkAddress[],
    endpoints: readonly string[],
    exited: Promise<void>,
    private readonly stderrTail: () => string,
    inbound: readonly RelayInboundAddress[] = [],
  ) {
    this.#inbound = new Map(inbound.map((i) => [i.to, i.address]))
    this.#child = child
    this.pid = child.pid!
    this.links = links
    this.#endpoints = endpoints
    this.#addresses = new Map(links.map((l) => [`${l.from}>${l.to}`, l.address]))
    this.exited = exited.then(() => {
      this.#alive = false
      for (const p of this.#pending.values())
        p.reject(new Error(`relay (pid ${this.pid}) exited; stderr:\n${this.stderrTail()}`))
      this.#pending.clear()
    })
  }

  onReply(reply: Reply): void {
    const p = this.#pending.get(reply.id)
    if (p === undefined) return
    this.#pending.delete(reply.id)
    p.resolve(reply)
  }

  addressFor(from: string, to: string): string {
    const address = this.#addresses.get(`${from}>${to}`)
    if (address !== undefined) return address
    for (const id of [from, to])
      if (!this.#endpoints.includes(id))
        throw new Error(`relay: unknown endpoint "${id}"; known: ${this.#endpoints.join(', ')}`)
    throw new Error(`relay: no route ${from} -> ${to}: "${to}" has no listenAddress in the NetworkSpec`)
  }

  inboundAddressFor(to: string): string {
    const address = this.#inbound.get(to)
    if (address === undefined)
      throw new Error(`relay: no shared inbound address for "${to}" in the NetworkSpec`)
    return address
  }

  async #request(body: Record<string, unknown>): Promise<Reply> {
    if (!this.#alive || this.#closing !== null) throw new Error(`relay (pid ${this.pid}) is closed`)
    const id = this.#nextId++
    const reply = new Promise<Reply>((resolve, reject) => this.#pending.set(id, { resolve, reject }))
    this.#child.stdin!.write(`${JSON.stringify({ id, ...body })}\n`)
    const r = await reply
    if (!r.ok) throw new Error(`relay: ${body.op}: ${r.error}`)
    return r
  }

  async setLink(from: string, to: string, shape: LinkShape): Promise<void> {
    await this.#request({ op: 'setLink', from, to, shape: parseLinkShape(shape, `setLink(${from}, ${to})`) })
  }

  async partition(from: string, to: string, mode: PartitionMode): Promise<void> {
    await this.#request({ op: 'partition', from, to, mode })
  }

  async heal(from: string, to: string): Promise<void> {
    await this.#request({ op: 'heal', from, to })
  }

  async stats(): Promise<RelayStats> {
    const r = await this.#request({ op: 'stats' })
    if (!r.ok || r.stats === undefined) throw new Error('relay: stats: no stats in the reply')
    return r.stats
  }

  close(): Promise<void> {
    this.#closing ??= this.#stop()
    return this.#closing
  }

  async #stop(): Promise<void> {
    if (this.#alive) {
      // closing stdin is the relay's signal to close its sockets and exit; SIGKILL if it does not
      this.#child.stdin!.end()
      const timer = setTimeout(() => killQuietly(this.pid), STOP_GRACE_MS)
      await this.exited
      clearTimeout(timer)
    }
    untrackPid(this.pid)
  }
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL')
  } catch {
    // already gone
  }
}

export function createRelayShaper(options: RelayShaperOptions = {}): Shaper {
  const start = (spec: NetworkSpec): Omit<RelayStart, 'spec'> & { spec: NetworkSpec } => ({
    spec,
    seed: options.seed ?? 1,
    listenHost: options.listenHost ?? '127.0.0.250',
    spinMs: options.spinMs ?? 0.2,
    wake: options.wake ?? 'worker',
  })
  return {
    kind: 'relay',
    apply: async (spec) => {
      const checked = parseNetworkSpec(spec, 'relay shaper: NetworkSpec')
      const network = await startRelay(start(checked), options.startTimeoutMs ?? 20_000)
      const priority = options.realtimePriority ?? null
      if (priority !== null) network.realtime = makeRealtime(network.pid, priority)
      return network
    },
  }
}

/** The relay shaper with its defaults (seed 1, 127.0.0.250, worker wake-ups, 0.2 ms polling). */
export const relayShaper: Shaper = createRelayShaper()

async function startRelay(
  start: RelayStart & { spec: NetworkSpec },
  startTimeoutMs: number,
): Promise<RelayProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', RELAY_ENTRY], {
    cwd: REPO_ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  const pid = child.pid
  if (pid === undefined) {
    const err = await new Promise<Error>((r) => child.once('error', r))
    throw new Error(`relay: spawn failed: ${err.message}`)
  }
  trackPid(pid)
  child.on('error', (err) => process.stderr.write(`relay (pid ${pid}): ${err.message}\n`))
  // a relay that died makes writes fail with EPIPE; the exit is what reports it
  child.stdin!.on('error', () => {})
  let stderr = ''
  child.stderr!.setEncoding('utf8')
  child.stderr!.on('data', (s: string) => {
    stderr = (stderr + s).slice(-STDERR_TAIL_CHARS)
  })
  const exited = new Promise<void>((r) => child.once('exit', () => r()))
  void exited.then(() => untrackPid(pid))

  let network: RelayProcess | null = null
  const ready = new Promise<RelayProcess>((resolveReady, rejectReady) => {
    const lines = createInterface({ input: child.stdout! })
    lines.on('line', (line) => {
      let message: {
        event?: string
        id?: number
        links?: RelayLinkAddress[]
        inbound?: RelayInboundAddress[]
      }
      try {
        message = JSON.parse(line)
      } catch {
        return // not ours
      }
      if (network !== null && typeof message.id === 'number') network.onReply(message as Reply)
      else if (network === null && message.event === 'ready') {
        network = new RelayProcess(
          child,
          message.links ?? [],
          start.spec.endpoints.map((e) => e.id),
          exited,
          () => stderr,
          message.inbound ?? [],
        )
        resolveReady(network)
      }
    })
    void exited.then(() => {
      if (network === null)
        rejectReady(
          new Error(`relay exited before its ready line (code ${child.exitCode}); stderr:\n${stderr}`),
        )
    })
  })
  child.stdin!.write(`${JSON.stringify(start)}\n`)
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, rejectTimeout) => {
    timer = setTimeout(
      () =>
        rejectTimeout(
          new Error(`relay did not print its ready line within ${startTimeoutMs} ms; stderr:\n${stderr}`),
        ),
      startTimeoutMs,
    )
  })
  try {
    return await Promise.race([ready, timeout])
  } catch (err) {
    killQuietly(pid)
    await exited
    throw err
  } finally {
    clearTimeout(timer)
  }
}
