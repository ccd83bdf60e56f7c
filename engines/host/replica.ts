/**
 * One replica: an engine module hosted with real timers, TCP peers, an HTTP client API and storage.
 * `startReplica` is the library API (tests run replicas in-process with it); main.ts is the process.
 *
 * Every engine entry point (start, onRequest, onMessage, onTimer) runs through the OutputGate, which
 * holds the handler's messages and replies until its storage writes are durable (output-gate.ts).
 */
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { type Command, type CommandId, commandIdKey, type NodeId, type Outcome } from '../core/command.ts'
import {
  ConfigError,
  type Engine,
  type EngineContext,
  type EngineMessage,
  type EngineModule,
  type EngineStatus,
} from '../core/engine.ts'
import { KvStateMachine } from '../core/kv.ts'
import { Rng } from '../core/runtime/rng.ts'
import { engineNames, findEngine } from '../registry.ts'
import { parseAddress, peerIds, type ReplicaConfig, ReplicaConfigError } from './config.ts'
import { FileStorage } from './file-storage.ts'
import { decodeValue, encodeFrame, FRAME_HEADER_BYTES } from './frame.ts'
import { type ClientAnswer, createClientApi } from './http-api.ts'
import { InputDelay } from './input-delay.ts'
import { type MetricsSnapshot, ReplicaMetrics } from './metrics.ts'
import { type Output, OutputGate } from './output-gate.ts'
import { type DurableStorage, MemoryStorage } from './storage.ts'
import { DEFAULT_TRANSPORT_LIMITS, PeerTransport, type TransportLimits } from './transport.ts'

// biome-ignore lint/suspicious/noExplicitAny: modules differ in message and config types
type AnyEngineModule = EngineModule<any, any>

export interface ReplicaOptions {
  /** host this module instead of getEngine(config.engine): for tests and fixture engines */
  readonly engineOverride?: AnyEngineModule
  /** where log lines go; default stderr, prefixed with the replica id */
  readonly log?: (line: string) => void
  /** an engine handler threw or storage failed; default: log it and close the replica */
  readonly onFatal?: (err: Error) => void
  readonly transportLimits?: Partial<TransportLimits>
  /** file storage compaction threshold (bytes of log) */
  readonly compactLogBytes?: number
  /** the config file's name, for error messages */
  readonly configFile?: string
}

export interface HealthReport extends EngineStatus {
  readonly id: NodeId
  readonly engine: string
  readonly uptimeMs: number
  /** wall-clock time (ms since the epoch) of this incarnation's last `elected` event, or null */
  readonly lastElectedAtMs: number | null
}

export interface ReplicaHandle {
  readonly id: NodeId
  readonly engine: string
  /** the addresses actually bound (host:port) */
  readonly peerAddress: string
  readonly clientAddress: string
  health(): HealthReport
  metrics(): MetricsSnapshot
  /** stop accepting, answer held requests 503, flush storage, close every socket; idempotent */
  close(): Promise<void>
  /** resolves when the replica has closed, for whatever reason */
  readonly closed: Promise<void>
}

/** A listen address is in use (or not available on this host): main.ts exits 1 with this message. */
export class PortTakenError extends Error {
  readonly code = 'ERR_PORT_TAKEN'
  constructor(
    readonly address: string,
    cause: Error,
  ) {
    super(`port taken: ${address}`, { cause })
    this.name = 'PortTakenError'
  }
}

/** the longest delay setTimeout honours */
const MAX_TIMER_MS = 2 ** 31 - 1

function resolveEngine(
  config: ReplicaConfig,
  options: ReplicaOptions,
): { module: AnyEngineModule; engineConfig: unknown } {
  const file = options.configFile ?? '<config>'
  const module = options.engineOverride ?? findEngine(config.engine)
  if (module === undefined) {
    throw new ReplicaConfigError(
      file,
      'engine',
      `unknown engine '${config.engine}'`,
      `use one of: ${engineNames().join(', ') || '(none registered)'}`,
    )
  }
  try {
    return { module, engineConfig: module.parseConfig(config.engineConfig) }
  } catch (err) {
    if (err instanceof ConfigError) {
      throw new ReplicaConfigError(file, `engineConfig (${err.field})`, err.message, err.fix)
    }
    throw err
  }
}

function listenHttp(server: Server, address: string): Promise<void> {
  const { host, port } = parseAddress(address)
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen({ host, port }, () => {
      server.off('error', reject)
      resolve()
    })
  })
}

function boundAddress(info: AddressInfo | string | null, fallback: string): string {
  return info !== null && typeof info === 'object' ? `${info.address}:${info.port}` : fallback
}

function isListenError(err: unknown): err is Error {
  const code = (err as NodeJS.ErrnoException).code
  return code === 'EADDRINUSE' || code === 'EADDRNOTAVAIL' || code === 'EACCES'
}

export async function startReplica(
  config: ReplicaConfig,
  options: ReplicaOptions = {},
): Promise<ReplicaHandle> {
  const { module, engineConfig } = resolveEngine(config, options)
  const log = options.log ?? ((line: string) => process.stderr.write(`[${config.id}] ${line}\n`))
  const storage: DurableStorage =
    config.storage.kind === 'file'
      ? await FileStorage.open(
          config.storage.dir,
          options.compactLogBytes === undefined ? {} : { compactLogBytes: options.compactLogBytes },
        )
      : new MemoryStorage()
  if (storage instanceof FileStorage && storage.tornBytes > 0) {
    log(`storage: cut a torn tail of ${storage.tornBytes} bytes after ${storage.replayedRecords} records`)
  }
  const metrics = new ReplicaMetrics(config.id, module.name, () => storage.stats)
  const kv = new KvStateMachine()
  // replicas of one run draw different but reproducible streams
  const random = new Rng(config.seed, `replica/${config.id}`)
  const timers = new Map<string, NodeJS.Timeout>()
  // the processing-delay knob: client commands and messages reach the engine this much later (input-delay.ts)
  const inputs = new InputDelay(config.processingDelayMs ?? 0)
  const waiters = new Map<string, Set<(answer: ClientAnswer) => void>>()
  let engine: Engine<EngineMessage> | null = null
  let closing: Promise<void> | null = null
  /** set once startReplica returns the handle; a fatal error before that fails the start instead */
  let started = false
  let startError: Error | null = null
  let resolveClosed: () => void = () => {}
  const closed = new Promise<void>((resolve) => {
    resolveClosed = resolve
  })

  const fatal = (err: unknown): void => {
    const error = err instanceof Error ? err : new Error(String(err))
    if (!started) {
      startError ??= error
      return
    }
    if (options.onFatal !== undefined) options.onFatal(error)
    else {
      log(`fatal: ${error.stack ?? error.message}`)
      handle.close().catch((closeErr: unknown) => log(`close after fatal: ${(closeErr as Error).message}`))
    }
  }

  /** Runs one engine entry point; a throw is an engine bug (a failed assertion) and is fatal. */
  const runHandler = (handler: (engine: Engine<EngineMessage>) => void): void => {
    if (engine === null || closing !== null) return
    const current = engine
    try {
      gate.run(() => handler(current))
    } catch (err) {
      fatal(err)
    }
  }

  const deliverReply = (id: CommandId, outcome: Outcome): void => {
    const key = commandIdKey(id)
    const set = waiters.get(key)
    if (set === undefined) return // the client gave up, or the command came from another replica
    waiters.delete(key)
    for (const respond of set) respond(outcome)
  }

  const release = (output: Output): void => {
    if (output.kind === 'reply') {
      deliverReply(output.id, output.outcome)
      return
    }
    if (output.to === config.id) {
      // A copy, delivered on a later turn like any message, so the engine never sees its own object.
      const copy = decodeValue(output.frame.subarray(FRAME_HEADER_BYTES)) as EngineMessage
      metrics.countSelfSent(output.type)
      setImmediate(() => {
        metrics.countReceived(copy.type, 0)
        inputs.push(() => runHandler((e) => e.onMessage(config.id, copy)))
      })
      return
    }
    metrics.countSent(output.type, transport.sendFrame(output.to, output.frame))
  }

  const gate = new OutputGate(storage, release, fatal)
  const transport = new PeerTransport({
    self: config.id,
    peers: peerIds(config).map((id) => ({
      id,
      address: parseAddress(config.nodes.find((n) => n.id === id)!.peerAddress),
    })),
    listen: parseAddress(config.listen.peer),
    limits: { ...DEFAULT_TRANSPORT_LIMITS, ...options.transportLimits },
    metrics,
    log,
    onMessage: (from, msg) => inputs.push(() => runHandler((e) => e.onMessage(from, msg))),
  })

  const nodes = config.nodes.map((n) => n.id)
  let lastElectedAtMs: number | null = null
  const ctx: EngineContext<EngineMessage, unknown> = {
    self: config.id,
    nodes,
    config: engineConfig,
    now: () => performance.now(),
    random: () => random.next(),
    send(to, msg) {
      if (!nodes.includes(to)) throw new Error(`engine sent to unknown node '${to}'`)
      if (typeof msg.type !== 'string') throw new Error('engine message without a string type')
      gate.push({ kind: 'send', to, type: msg.type, frame: encodeFrame(msg) })
    },
    setTimer(name, afterMs) {
      const old = timers.get(name)
      if (old !== undefined) clearTimeout(old)
      timers.delete(name)
      // As in the simulator: a non-finite delay is a bug, a negative one means now.
      if (!Number.isFinite(afterMs)) throw new RangeError(`timer '${name}': not a finite delay: ${afterMs}`)
      timers.set(
        name,
        setTimeout(
          () => {
            timers.delete(name)
            runHandler((e) => e.onTimer(name))
          },
          // setTimeout fires after 1 ms past 2^31-1 ms; cap it instead (24.8 days)
          Math.min(Math.max(afterMs, 0), MAX_TIMER_MS),
        ),
      )
    },
    clearTimer(name) {
      const old = timers.get(name)
      if (old !== undefined) clearTimeout(old)
      timers.delete(name)
    },
    storage,
    execute: (cmd: Command) => kv.apply(cmd).result,
    snapshotState: () => kv.snapshot(),
    installState: (snapshot) => kv.install(snapshot),
    reply(id, outcome) {
      gate.push({ kind: 'reply', id, outcome })
    },
    emit: (event) => {
      // wall clock, so a harness on the same host can time an election from its own kill to here
      if (event.type === 'elected') lastElectedAtMs = performance.timeOrigin + performance.now()
      // log compaction is rare (every snapshotEveryEntries entries) and worth a line in the replica's log
      if (event.type === 'snapshot-installed' || event.type === 'snapshot-restored')
        log(`${event.type} at index ${event.index} (${kv.applied} commands in the state machine)`)
      metrics.countEvent(event)
    },
  }

  const health = (): HealthReport => {
    const status = engine?.status() ?? { role: 'recovering', leader: null, epoch: 0, executed: 0 }
    return {
      id: config.id,
      engine: module.name,
      role: status.role,
      leader: status.leader,
      epoch: status.epoch,
      executed: status.executed,
      uptimeMs: metrics.uptimeMs(),
      lastElectedAtMs,
    }
  }

  const http = createClientApi(
    {
      command(cmd, respond, onAbort) {
        metrics.requests.received++
        if (closing !== null) {
          // a request on a keep-alive connection after close() began: no engine will answer it
          metrics.requests.replied++
          respond('shutting-down')
          return
        }
        metrics.requests.inFlight++
        const key = commandIdKey(cmd.id)
        let answered = false
        const waiter = (answer: ClientAnswer): void => {
          answered = true
          metrics.requests.inFlight--
          metrics.requests.replied++
          respond(answer)
        }
        let set = waiters.get(key)
        if (set === undefined) {
          set = new Set()
          waiters.set(key, set)
        }
        set.add(waiter)
        onAbort(() => {
          if (answered) return
          answered = true
          metrics.requests.inFlight--
          const current = waiters.get(key)
          current?.delete(waiter)
          if (current?.size === 0) waiters.delete(key)
        })
        inputs.push(() => runHandler((e) => e.onRequest(cmd)))
      },
      health,
      metrics: () => metrics.snapshot(),
      inFlight: () => metrics.requests.inFlight,
    },
    log,
  )

  try {
    await transport.listen()
  } catch (err) {
    await storage.close()
    if (isListenError(err)) throw new PortTakenError(config.listen.peer, err)
    throw err
  }
  try {
    await listenHttp(http, config.listen.client)
  } catch (err) {
    await transport.close()
    await storage.close()
    if (isListenError(err)) throw new PortTakenError(config.listen.client, err)
    throw err
  }

  const close = (): Promise<void> => {
    if (closing !== null) return closing
    closing = (async () => {
      for (const timer of timers.values()) clearTimeout(timer)
      timers.clear()
      inputs.close()
      const httpClosed = new Promise<void>((resolve) => http.close(() => resolve()))
      for (const [key, set] of waiters) {
        waiters.delete(key)
        for (const respond of set) respond('shutting-down') // outcome unknown: not a rejection
      }
      http.closeIdleConnections()
      // Persist what the engine wrote; the outputs it held may still go out before the sockets close.
      await Promise.race([gate.drain(), new Promise((resolve) => setTimeout(resolve, 500).unref())])
      // Let the answers just written reach their clients before the sockets go.
      http.closeIdleConnections()
      await Promise.race([httpClosed, new Promise((resolve) => setTimeout(resolve, 100).unref())])
      http.closeAllConnections()
      await transport.close()
      let storageError: unknown = null
      try {
        // After a failure, what the engine wrote since must not become durable: a crash would lose it.
        await storage.close(!gate.failed)
      } catch (err) {
        storageError = err
      }
      await httpClosed
      resolveClosed()
      if (storageError !== null) throw storageError
    })()
    return closing
  }

  try {
    engine = module.create(ctx) as Engine<EngineMessage>
    runHandler((e) => e.start())
  } catch (err) {
    startError ??= err instanceof Error ? err : new Error(String(err))
  }
  if (startError !== null) {
    await close().catch(() => {})
    throw startError
  }
  transport.connect()

  const handle: ReplicaHandle = {
    id: config.id,
    engine: module.name,
    peerAddress: transport.boundAddress(),
    clientAddress: boundAddress(http.address(), config.listen.client),
    health,
    metrics: () => metrics.snapshot(),
    close,
    closed,
  }
  started = true
  return handle
}
