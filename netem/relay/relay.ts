/**
 * The relay itself (runs inside netem/relay/main.ts): one TCP listener per directed pair (from, to) where
 * `to` listens, forwarding to `to`'s listenAddress. Every byte waits in a queue until its delivery time.
 *
 * Directions, not connections, carry the shape: a connection accepted on the (A, B) listener sends A->B
 * bytes through direction A->B and B->A bytes (the replies) through direction B->A, so the same shape
 * applies whether A dials B or B dials A. A direction also owns the bandwidth (shared by its connections)
 * and its partition state. Byte order within a connection is kept: a chunk is never delivered before the
 * chunk ahead of it, whatever its jitter drew.
 */
import { connect, createServer, type Server, type Socket } from 'node:net'
import { Rng } from '../../engines/core/runtime/rng.ts'
import { newLatencyHistogram } from '../../workloads/latency.ts'
import type { LinkShape, NetworkSpec, PartitionMode } from '../shaper.ts'
import { sampleJitterMs, sampleLossDelayMs } from './jitter.ts'
import { EARLY_MS, type Schedulable, Scheduler, type WakeKind } from './scheduler.ts'
import { type RelayInboundAddress, type RelayLinkAddress, type RelayStats, UNSHAPED } from './spec.ts'

/** a pipe with this many bytes queued (or unwritten at its destination) stops reading its source */
const QUEUE_BYTES_HIGH = 1024 * 1024
const QUEUE_BYTES_LOW = 256 * 1024
/** at most this many queued chunks per pipe: many tiny writes pause the source too */
const QUEUE_CHUNKS_HIGH = 20_000

interface Chunk {
  /** null: the sender's FIN, delivered as end() */
  readonly data: Buffer | null
  readonly deliverAtMs: number
}

/** what a delivered chunk's slot holds until the queue is compacted, so its buffer can be collected */
const DELIVERED: Chunk = { data: null, deliverAtMs: Number.NEGATIVE_INFINITY }

class Direction {
  partition: PartitionMode | null = null
  /** when the (shared) wire of this direction is free again: the bandwidth cap's serialization queue */
  txFreeAtMs = 0
  readonly pipes = new Set<Pipe>()
  reverse!: Direction

  constructor(
    readonly from: string,
    readonly to: string,
    public shape: LinkShape,
    readonly rng: Rng,
  ) {}

  /** When a chunk of `bytes` sent now arrives, before the order clamp. */
  arrivalMs(nowMs: number, bytes: number): number {
    const s = this.shape
    let sentMs = nowMs
    if (s.bandwidthBytesPerSec !== null && bytes > 0) {
      sentMs = Math.max(nowMs, this.txFreeAtMs) + (bytes * 1000) / s.bandwidthBytesPerSec
      this.txFreeAtMs = sentMs
    }
    const rttMs = s.delayMs + this.reverse.shape.delayMs
    const lossMs = bytes > 0 ? sampleLossDelayMs(this.rng, s.lossRate, bytes, rttMs) : 0
    return Math.max(nowMs, sentMs + s.delayMs + sampleJitterMs(this.rng, s) + lossMs)
  }
}

/** One direction of one connection: src's bytes, queued, then written to dst. */
class Pipe implements Schedulable {
  heapIndex = -1
  readonly #queue: Chunk[] = []
  #head = 0
  #queuedBytes = 0
  #lastDeliverAtMs = 0
  #paused = false
  #ended = false

  constructor(
    readonly direction: Direction,
    private readonly src: Socket,
    private readonly dst: Socket,
    private readonly relay: Relay,
  ) {
    dst.on('drain', () => this.#maybeResume())
  }

  get dueMs(): number {
    return this.#queue[this.#head]?.deliverAtMs ?? Number.POSITIVE_INFINITY
  }

  get pending(): boolean {
    return this.#head < this.#queue.length
  }

  push(data: Buffer): void {
    if (this.#ended) return
    this.#enqueue({ data, deliverAtMs: this.direction.arrivalMs(performance.now(), data.length) })
    this.#queuedBytes += data.length
    if (
      this.#queuedBytes + this.dst.writableLength > QUEUE_BYTES_HIGH ||
      this.#queue.length - this.#head > QUEUE_CHUNKS_HIGH
    ) {
      this.#paused = true
      this.src.pause()
    }
  }

  pushEnd(): void {
    if (this.#ended) return
    this.#ended = true
    this.#enqueue({ data: null, deliverAtMs: this.direction.arrivalMs(performance.now(), 0) })
  }

  #enqueue(chunk: Chunk): void {
    // the order clamp: never before the chunk ahead
    const deliverAtMs = Math.max(chunk.deliverAtMs, this.#lastDeliverAtMs)
    this.#lastDeliverAtMs = deliverAtMs
    this.#queue.push(deliverAtMs === chunk.deliverAtMs ? chunk : { data: chunk.data, deliverAtMs })
    if (this.#queue.length - this.#head === 1) this.wake()
  }

  /** (Re)enter the scheduler unless held by a partition. */
  wake(): void {
    if (this.pending && this.direction.partition !== 'hold') this.relay.scheduler.schedule(this)
  }

  run(nowMs: number): boolean {
    if (this.direction.partition === 'hold') return false // heal() wakes it
    const queue = this.#queue
    while (this.#head < queue.length && queue[this.#head]!.deliverAtMs <= nowMs + EARLY_MS) {
      const chunk = queue[this.#head]!
      queue[this.#head] = DELIVERED
      this.#head++
      if (chunk.data === null) {
        if (!this.dst.destroyed) this.dst.end()
        continue
      }
      this.#queuedBytes -= chunk.data.length
      this.relay.countDelivered(chunk.data.length, nowMs - chunk.deliverAtMs)
      if (!this.dst.destroyed) this.dst.write(chunk.data)
    }
    // compact when empty, and now and then, so the array does not grow for the connection's lifetime
    if (this.#head === queue.length) {
      queue.length = 0
      this.#head = 0
    } else if (this.#head > 1024 && this.#head * 2 > queue.length) {
      queue.splice(0, this.#head)
      this.#head = 0
    }
    this.#maybeResume()
    return this.pending
  }

  #maybeResume(): void {
    if (!this.#paused || this.src.destroyed) return
    if (this.#queuedBytes + this.dst.writableLength > QUEUE_BYTES_LOW) return
    if (this.#queue.length - this.#head > QUEUE_CHUNKS_HIGH / 2) return
    this.#paused = false
    this.src.resume()
  }

  dispose(): void {
    this.relay.scheduler.unschedule(this)
    this.direction.pipes.delete(this)
  }
}

class Connection {
  readonly forward: Pipe
  readonly backward: Pipe
  #closed = false

  constructor(
    readonly listener: Listener,
    readonly client: Socket,
    readonly upstream: Socket,
    relay: Relay,
  ) {
    this.forward = new Pipe(listener.direction, client, upstream, relay)
    this.backward = new Pipe(listener.direction.reverse, upstream, client, relay)
    listener.direction.pipes.add(this.forward)
    listener.direction.reverse.pipes.add(this.backward)
    client.on('data', (data: Buffer) => this.forward.push(data))
    upstream.on('data', (data: Buffer) => this.backward.push(data))
    client.on('end', () => this.forward.pushEnd())
    upstream.on('end', () => this.backward.pushEnd())
    // an error on one side (a reset, a refused connect) resets the other: no delay model for RSTs
    client.on('error', () => this.close(true))
    upstream.on('error', () => this.close(true))
    const onClose = () => {
      if (client.destroyed && upstream.destroyed) this.close(false)
    }
    client.on('close', onClose)
    upstream.on('close', onClose)
  }

  close(reset: boolean): void {
    if (this.#closed) return
    this.#closed = true
    this.forward.dispose()
    this.backward.dispose()
    this.listener.connections.delete(this)
    for (const socket of [this.client, this.upstream]) {
      if (socket.destroyed) continue
      try {
        if (reset) socket.resetAndDestroy()
        else socket.destroy()
      } catch {
        socket.destroy() // resetAndDestroy refuses some states (no handle yet); a plain close then
      }
    }
  }
}

class Listener {
  readonly connections = new Set<Connection>()
  readonly server: Server
  address = ''

  constructor(
    readonly direction: Direction,
    private readonly target: { host: string; port: number },
    /** the source address for the upstream connection, so the server sees its peer's loopback address */
    private readonly localAddress: string | undefined,
    private readonly relay: Relay,
  ) {
    this.server = createServer({ allowHalfOpen: true, noDelay: true, pauseOnConnect: true }, (client) =>
      this.#accept(client),
    )
  }

  /** A reset partition in either direction kills the connection: TCP needs both ways. */
  get refusing(): boolean {
    return this.direction.partition === 'reset' || this.direction.reverse.partition === 'reset'
  }

  #accept(client: Socket): void {
    this.adopt(client, null)
  }

  /**
   * Relays a connection accepted here or on a shared inbound listener (which has already read `head`,
   * the bytes it identified the source by): they go first, in order, before anything else the client sends.
   */
  adopt(client: Socket, head: Buffer | null): void {
    if (this.refusing) {
      client.on('error', () => {})
      try {
        client.resetAndDestroy()
      } catch {
        client.destroy()
      }
      return
    }
    const upstream = connect({
      host: this.target.host,
      port: this.target.port,
      allowHalfOpen: true,
      noDelay: true,
      ...(this.localAddress === undefined ? {} : { localAddress: this.localAddress }),
    })
    const connection = new Connection(this, client, upstream, this.relay)
    this.connections.add(connection)
    this.relay.countConnection()
    if (head !== null && head.length > 0) connection.forward.push(head)
    client.resume()
  }

  async listen(host: string): Promise<void> {
    this.address = await listenOn(this.server, host, 0, 'listener')
  }

  resetAll(): void {
    for (const c of [...this.connections]) c.close(true)
  }
}

/** At most this many bytes are read from a shared inbound connection to find its source header. */
const INBOUND_HEAD_MAX_BYTES = 16 * 1024

/**
 * A shared inbound listener (NetworkSpec `inbound`): one address for every peer of `to`, for systems
 * whose members must all dial a peer at the same address (etcd: a member's peer URL is one cluster-wide
 * fact). The source of a connection is read from its first HTTP request's header (etcd's
 * `X-Server-From`), and the connection is then relayed exactly as if it had been accepted on the
 * (source, to) listener. A connection whose source is not found (no such header, an unknown value, or
 * not HTTP) is forwarded unshaped: etcd's version and probing requests carry no source header.
 */
class InboundListener {
  readonly server: Server
  readonly #direct = new Set<Socket>()
  address = ''

  constructor(
    private readonly header: string,
    private readonly sources: ReadonlyMap<string, Listener>,
    private readonly target: { host: string; port: number },
  ) {
    this.server = createServer({ allowHalfOpen: true, noDelay: true }, (client) => this.#accept(client))
  }

  #accept(client: Socket): void {
    let head = Buffer.alloc(0)
    const onData = (data: Buffer) => {
      head = Buffer.concat([head, data])
      const end = head.indexOf('\r\n\r\n')
      if (end < 0 && head.length < INBOUND_HEAD_MAX_BYTES) return
      client.off('data', onData)
      client.off('end', onEnd)
      client.pause()
      const source = end < 0 ? undefined : headerValue(head.subarray(0, end).toString('latin1'), this.header)
      const listener = source === undefined ? undefined : this.sources.get(source)
      if (listener !== undefined) listener.adopt(client, head)
      else this.#forwardDirect(client, head)
    }
    const onEnd = () => client.destroy()
    client.on('data', onData)
    client.on('end', onEnd)
    client.on('error', () => client.destroy())
  }

  #forwardDirect(client: Socket, head: Buffer): void {
    const upstream = connect({ host: this.target.host, port: this.target.port, noDelay: true })
    this.#direct.add(client)
    this.#direct.add(upstream)
    const closeBoth = () => {
      client.destroy()
      upstream.destroy()
      this.#direct.delete(client)
      this.#direct.delete(upstream)
    }
    upstream.on('error', closeBoth)
    client.on('error', closeBoth)
    client.on('close', closeBoth)
    upstream.on('close', closeBoth)
    upstream.write(head)
    client.pipe(upstream)
    upstream.pipe(client)
    client.resume()
  }

  async listen(host: string, port: number): Promise<void> {
    this.address = await listenOn(this.server, host, port, 'inbound listener')
  }

  close(): Promise<void> {
    for (const s of this.#direct) s.destroy()
    this.#direct.clear()
    return new Promise((resolve) => this.server.close(() => resolve()))
  }
}

/** The value of an HTTP request header (case-insensitive name) in a request head, or undefined. */
export function headerValue(head: string, name: string): string | undefined {
  const wanted = name.toLowerCase()
  for (const line of head.split('\r\n').slice(1)) {
    const colon = line.indexOf(':')
    if (colon > 0 && line.slice(0, colon).trim().toLowerCase() === wanted) return line.slice(colon + 1).trim()
  }
  return undefined
}

/** Listens on host:port (0: any), resolving with the bound host:port. */
function listenOn(server: Server, host: string, port: number, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen({ host, port, exclusive: true }, () => {
      server.off('error', reject)
      const a = server.address()
      if (a === null || typeof a === 'string') {
        reject(new Error(`relay: could not read the bound address on ${host}`))
        return
      }
      const address = `${host}:${a.port}`
      // after listening, an accept can still fail (EMFILE): report it, keep serving the others
      server.on('error', (err) => process.stderr.write(`relay: ${what} ${address}: ${err.message}\n`))
      resolve(address)
    })
  })
}

function splitAddress(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':')
  return { host: address.slice(0, i), port: Number(address.slice(i + 1)) }
}

export interface RelayOptions {
  readonly seed: number
  readonly listenHost: string
  readonly spinMs: number
  readonly wake: WakeKind
}

export class Relay {
  readonly scheduler: Scheduler
  readonly #directions = new Map<string, Direction>()
  readonly #listeners = new Map<string, Listener>()
  readonly #inbound: InboundListener[] = []
  readonly #rng: Rng
  #bytesDelivered = 0
  #chunksDelivered = 0
  #connectionsTotal = 0
  /** how late each delivery ran after its time, in us: the relay's own timer precision */
  #lateness = newLatencyHistogram()

  constructor(
    private readonly spec: NetworkSpec,
    private readonly options: RelayOptions,
  ) {
    this.scheduler = new Scheduler(options.spinMs, options.wake)
    this.#rng = new Rng(options.seed, 'netem-relay')
    const ids = spec.endpoints.map((e) => e.id)
    for (const from of ids) for (const to of ids) if (from !== to) this.#direction(from, to)
    for (const link of spec.links) this.#direction(link.from, link.to).shape = link.shape
    for (const d of this.#directions.values()) d.reverse = this.#direction(d.to, d.from)
  }

  #direction(from: string, to: string): Direction {
    const key = `${from}>${to}`
    let d = this.#directions.get(key)
    if (d === undefined) {
      d = new Direction(from, to, UNSHAPED, this.#rng.fork(key))
      this.#directions.set(key, d)
    }
    return d
  }

  #existing(from: string, to: string): Direction {
    const d = this.#directions.get(`${from}>${to}`)
    if (d === undefined)
      throw new Error(
        `no link ${from} -> ${to}: endpoints are ${this.spec.endpoints.map((e) => e.id).join(', ')}`,
      )
    return d
  }

  /** Listen for every directed pair whose `to` listens; returns where each `from` dials. */
  async start(): Promise<RelayLinkAddress[]> {
    await this.scheduler.ready
    const out: RelayLinkAddress[] = []
    for (const from of this.spec.endpoints) {
      for (const to of this.spec.endpoints) {
        if (from === to || to.listenAddress === null) continue
        // a loopback source address cannot reach a destination off loopback (a container, from the host)
        const localAddress =
          from.host.startsWith('127.') && to.listenAddress.startsWith('127.') ? from.host : undefined
        const listener = new Listener(
          this.#existing(from.id, to.id),
          splitAddress(to.listenAddress),
          localAddress,
          this,
        )
        await listener.listen(this.options.listenHost)
        this.#listeners.set(`${from.id}>${to.id}`, listener)
        out.push({ from: from.id, to: to.id, address: listener.address })
      }
    }
    return out
  }

  /** Listen once per shared inbound entry of the spec; returns where every source dials each `to`. */
  async startInbound(): Promise<RelayInboundAddress[]> {
    const out: RelayInboundAddress[] = []
    for (const entry of this.spec.inbound ?? []) {
      const to = this.spec.endpoints.find((e) => e.id === entry.to)
      if (to?.listenAddress == null)
        throw new Error(`inbound ${entry.to}: no such endpoint with a listenAddress`)
      const sources = new Map<string, Listener>()
      for (const [value, from] of Object.entries(entry.sources)) {
        const listener = this.#listeners.get(`${from}>${entry.to}`)
        if (listener === undefined) throw new Error(`inbound ${entry.to}: unknown source endpoint "${from}"`)
        sources.set(value, listener)
      }
      const inbound = new InboundListener(entry.header, sources, splitAddress(to.listenAddress))
      const at =
        entry.listen === undefined ? { host: this.options.listenHost, port: 0 } : splitAddress(entry.listen)
      await inbound.listen(at.host, at.port)
      this.#inbound.push(inbound)
      out.push({ to: entry.to, address: inbound.address })
    }
    return out
  }

  setLink(from: string, to: string, shape: LinkShape): void {
    const d = this.#existing(from, to)
    d.shape = shape
    // a lower cap applies from now on, not after the backlog computed at the old rate
    d.txFreeAtMs = Math.min(d.txFreeAtMs, performance.now())
  }

  partition(from: string, to: string, mode: PartitionMode): void {
    const d = this.#existing(from, to)
    d.partition = mode
    if (mode === 'reset') {
      this.#listeners.get(`${from}>${to}`)?.resetAll()
      this.#listeners.get(`${to}>${from}`)?.resetAll()
    } else {
      for (const pipe of d.pipes) this.scheduler.unschedule(pipe)
    }
  }

  heal(from: string, to: string): void {
    const d = this.#existing(from, to)
    d.partition = null
    for (const pipe of d.pipes) pipe.wake()
  }

  countDelivered(bytes: number, lateMs: number): void {
    this.#bytesDelivered += bytes
    this.#chunksDelivered++
    this.#lateness.recordValue(Math.max(0, Math.round(lateMs * 1000)))
  }

  countConnection(): void {
    this.#connectionsTotal++
  }

  stats(): RelayStats {
    const cpu = process.cpuUsage()
    let open = 0
    for (const l of this.#listeners.values()) open += l.connections.size
    const late = this.#lateness
    this.#lateness = newLatencyHistogram()
    return {
      cpuUserUs: cpu.user,
      cpuSystemUs: cpu.system,
      bytesDelivered: this.#bytesDelivered,
      chunksDelivered: this.#chunksDelivered,
      connectionsOpen: open,
      connectionsTotal: this.#connectionsTotal,
      lateUsP50: Math.min(late.getValueAtPercentile(50), late.maxValue),
      lateUsP99: Math.min(late.getValueAtPercentile(99), late.maxValue),
      lateUsMax: late.maxValue,
    }
  }

  async close(): Promise<void> {
    this.scheduler.stop()
    const closing: Promise<void>[] = []
    for (const l of this.#listeners.values()) {
      l.resetAll()
      closing.push(new Promise((resolve) => l.server.close(() => resolve())))
    }
    this.#listeners.clear()
    for (const inbound of this.#inbound.splice(0)) closing.push(inbound.close())
    await Promise.all(closing)
  }
}
