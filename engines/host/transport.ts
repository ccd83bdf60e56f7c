/**
 * Peer transport over TCP. Each replica opens its own outbound connection to every peer and sends only
 * on it; it accepts inbound connections and only receives on them. So a link's two directions are
 * independent, as in a network that loses one direction, and a shaping relay can sit at a peer address.
 *
 * Outbound: connect to the peer's configured address, send a hello frame naming ourselves, then the
 * queued frames. On close or error, reconnect with exponential backoff and jitter. While disconnected,
 * frames wait in a bounded queue (the oldest is dropped past the limit: the protocols retransmit).
 * Inbound: the first frame must be a hello naming a known peer; later frames must be engine messages
 * (objects with a string `type`). Anything else closes that connection and nothing else.
 */
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net'
import type { NodeId } from '../core/command.ts'
import type { EngineMessage } from '../core/engine.ts'
import type { HostPort } from './config.ts'
import { encodeFrame, FrameDecoder, helloFrame, isHello, MAX_FRAME_BYTES } from './frame.ts'
import type { ReplicaMetrics } from './metrics.ts'

export interface TransportLimits {
  /** frames kept per peer while disconnected; the oldest is dropped past it */
  maxQueuedFrames: number
  /** and bytes: 10,000 frames of up to 16 MiB each would be no memory bound at all */
  maxQueuedBytes: number
  /** bytes buffered in a connected socket before new frames are dropped */
  maxSocketBufferBytes: number
  maxFrameBytes: number
  reconnectDelayMsMin: number
  reconnectDelayMsMax: number
  /** an inbound connection that sends no hello within this time is closed */
  helloTimeoutMs: number
}

export const DEFAULT_TRANSPORT_LIMITS: TransportLimits = {
  maxQueuedFrames: 10_000,
  maxQueuedBytes: 64 * 1024 * 1024,
  maxSocketBufferBytes: 64 * 1024 * 1024,
  maxFrameBytes: MAX_FRAME_BYTES,
  reconnectDelayMsMin: 50,
  reconnectDelayMsMax: 1_000,
  helloTimeoutMs: 5_000,
}

/** bytes an inbound connection may buffer before its hello: a hello is a few dozen */
const MAX_HELLO_FRAME_BYTES = 1024

/** a connection that stayed up this long resets the reconnect backoff */
const STABLE_CONNECTION_MS = 1_000

export interface TransportOptions {
  readonly self: NodeId
  readonly peers: ReadonlyArray<{ readonly id: NodeId; readonly address: HostPort }>
  readonly listen: HostPort
  readonly limits: TransportLimits
  readonly metrics: ReplicaMetrics
  readonly log: (line: string) => void
  readonly onMessage: (from: NodeId, msg: EngineMessage) => void
}

function isEngineMessage(value: unknown): value is EngineMessage {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    typeof (value as EngineMessage).type === 'string'
  )
}

/**
 * Dial peers from our own listen address when it is a specific IPv4 address: on loopback every replica
 * has its own 127.0.0.x, and a kernel shaper (netem/kernel) tells links apart by source and destination.
 * A wildcard or a host name leaves the choice to the OS.
 */
export function sourceAddressFor(listenHost: string): string | undefined {
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(listenHost) || listenHost === '0.0.0.0') return undefined
  return listenHost
}

class OutboundLink {
  private socket: Socket | null = null
  private connected = false
  private readonly queue: Buffer[] = []
  private queuedBytes = 0
  private attempt = 0
  private connectedAtMs = 0
  private corked = false
  private timer: NodeJS.Timeout | null = null
  private closed = false

  constructor(
    private readonly self: NodeId,
    readonly peer: NodeId,
    private readonly address: HostPort,
    /** the source address to dial from (our own listen host), or undefined to let the OS pick */
    private readonly localAddress: string | undefined,
    private readonly limits: TransportLimits,
    private readonly metrics: ReplicaMetrics,
    private readonly log: (line: string) => void,
  ) {}

  start(): void {
    this.dial()
  }

  send(frame: Buffer): void {
    if (this.closed) return
    if (this.connected && this.socket !== null) {
      if (this.socket.writableLength > this.limits.maxSocketBufferBytes) {
        this.metrics.transport.framesDropped++
        return
      }
      if (!this.corked) {
        // Frames released in one turn (a handler's batch, a group commit) go out in one writev.
        const socket = this.socket
        this.corked = true
        socket.cork()
        process.nextTick(() => {
          this.corked = false
          socket.uncork()
        })
      }
      this.socket.write(frame)
      return
    }
    while (
      this.queue.length > 0 &&
      (this.queue.length >= this.limits.maxQueuedFrames ||
        this.queuedBytes + frame.length > this.limits.maxQueuedBytes)
    ) {
      this.queuedBytes -= this.queue.shift()!.length
      this.metrics.transport.framesDropped++
    }
    this.queue.push(frame)
    this.queuedBytes += frame.length
  }

  close(): void {
    this.closed = true
    if (this.timer !== null) clearTimeout(this.timer)
    this.socket?.destroy()
    this.socket = null
    this.queue.length = 0
    this.queuedBytes = 0
  }

  private dial(): void {
    if (this.closed) return
    const socket = tcpConnect({
      host: this.address.host,
      port: this.address.port,
      ...(this.localAddress !== undefined ? { localAddress: this.localAddress } : {}),
    })
    this.socket = socket
    socket.setNoDelay(true)
    socket.on('connect', () => {
      if (this.closed) return
      this.connected = true
      this.connectedAtMs = performance.now()
      this.metrics.transport.connects++
      this.log(`peer ${this.peer}: connected to ${this.address.host}:${this.address.port}`)
      socket.write(encodeFrame(helloFrame(this.self)))
      for (const frame of this.queue) socket.write(frame)
      this.queue.length = 0
      this.queuedBytes = 0
    })
    // The peer never sends on our outbound connection; anything it sends is ignored.
    socket.on('data', () => {})
    socket.on('error', () => {}) // 'close' follows and schedules the reconnect
    socket.on('close', () => {
      if (this.socket === socket) {
        if (this.connected) {
          this.log(`peer ${this.peer}: outbound connection closed, reconnecting`)
          // Back off from scratch only after a connection that lasted: a peer that accepts and then
          // drops us at once must not be redialled in a tight loop.
          if (performance.now() - this.connectedAtMs > STABLE_CONNECTION_MS) this.attempt = 0
        }
        this.connected = false
        this.socket = null
        this.scheduleReconnect()
      }
    })
  }

  private scheduleReconnect(): void {
    if (this.closed) return
    const ceilingMs = Math.min(
      this.limits.reconnectDelayMsMax,
      this.limits.reconnectDelayMsMin * 2 ** Math.min(this.attempt, 20),
    )
    this.attempt++
    // Jitter in [ceiling/2, ceiling): replicas restarted together do not reconnect in lockstep.
    const delayMs = ceilingMs / 2 + (Math.random() * ceilingMs) / 2
    this.timer = setTimeout(() => {
      this.timer = null
      this.dial()
    }, delayMs)
  }
}

export class PeerTransport {
  private readonly links = new Map<NodeId, OutboundLink>()
  private readonly inbound = new Set<Socket>()
  /** the inbound connection each peer said hello on last */
  private readonly inboundFrom = new Map<NodeId, Socket>()
  private server: Server | null = null

  constructor(private readonly options: TransportOptions) {
    for (const peer of options.peers) {
      if (peer.id === options.self) throw new Error('a replica is not its own peer')
      this.links.set(
        peer.id,
        new OutboundLink(
          options.self,
          peer.id,
          peer.address,
          sourceAddressFor(options.listen.host),
          options.limits,
          options.metrics,
          options.log,
        ),
      )
    }
  }

  /** Binds the peer listener; rejects with the listen error (EADDRINUSE, EADDRNOTAVAIL, ...). */
  listen(): Promise<void> {
    const server = createServer((socket) => this.accept(socket))
    this.server = server
    return new Promise((resolve, reject) => {
      server.once('error', reject)
      server.listen({ host: this.options.listen.host, port: this.options.listen.port }, () => {
        server.off('error', reject)
        server.on('error', (err) => this.options.log(`peer listener error: ${err.message}`))
        resolve()
      })
    })
  }

  /** The bound peer address as host:port (resolves port 0). */
  boundAddress(): string {
    const info = this.server?.address()
    if (info === null || info === undefined || typeof info === 'string')
      throw new Error('peer listener not bound')
    return `${info.address}:${info.port}`
  }

  /** Starts the outbound connections. */
  connect(): void {
    for (const link of this.links.values()) link.start()
  }

  /** Sends one engine message; returns the frame's size in bytes. */
  send(to: NodeId, msg: EngineMessage): number {
    return this.sendFrame(to, encodeFrame(msg))
  }

  /** Sends one engine message already encoded with encodeFrame; returns its size in bytes. */
  sendFrame(to: NodeId, frame: Buffer): number {
    const link = this.links.get(to)
    if (link === undefined) throw new Error(`send to unknown node '${to}'`)
    link.send(frame)
    return frame.length
  }

  async close(): Promise<void> {
    for (const link of this.links.values()) link.close()
    for (const socket of this.inbound) socket.destroy()
    this.inbound.clear()
    this.inboundFrom.clear()
    const server = this.server
    this.server = null
    if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()))
  }

  private accept(socket: Socket): void {
    this.inbound.add(socket)
    const decoder = new FrameDecoder(this.options.limits.maxFrameBytes)
    const where = `${socket.remoteAddress}:${socket.remotePort}`
    let from: NodeId | null = null
    const helloTimer = setTimeout(() => reject('no hello'), this.options.limits.helloTimeoutMs)
    const reject = (why: string): void => {
      clearTimeout(helloTimer)
      if (socket.destroyed) return
      this.options.metrics.transport.malformedConnections++
      this.options.log(`inbound peer connection from ${where} (${from ?? 'no hello yet'}) closed: ${why}`)
      socket.destroy()
    }
    socket.on('data', (chunk: Buffer) => {
      let frames: Array<{ value: unknown; bytes: number }>
      try {
        frames = decoder.push(chunk)
      } catch (err) {
        reject((err as Error).message)
        return
      }
      for (const { value, bytes } of frames) {
        if (socket.destroyed) return
        if (from === null) {
          if (!isHello(value)) return reject('first frame is not a hello')
          if (!this.links.has(value.hello)) return reject(`hello from unknown node '${value.hello}'`)
          from = value.hello
          clearTimeout(helloTimer)
          // A peer dials again only after its last connection died; if ours has not noticed (no FIN:
          // a host that vanished, a relay), close it: no half-open socket piles up, and frames it still
          // delivers late cannot arrive behind newer ones.
          const previous = this.inboundFrom.get(from)
          this.inboundFrom.set(from, socket)
          if (previous !== undefined && !previous.destroyed) {
            this.options.log(`peer ${from}: new inbound connection from ${where}, closing the previous one`)
            previous.destroy()
          }
          continue
        }
        if (!isEngineMessage(value)) return reject('frame is not an engine message')
        this.options.metrics.countReceived(value.type, bytes)
        this.options.onMessage(from, value)
      }
      // Until a peer has said who it is, buffer no more than a hello needs.
      if (from === null && decoder.pendingBytes > MAX_HELLO_FRAME_BYTES) reject('hello frame too large')
    })
    socket.on('error', () => {})
    socket.on('close', () => {
      clearTimeout(helloTimer)
      this.inbound.delete(socket)
      if (from !== null && this.inboundFrom.get(from) === socket) this.inboundFrom.delete(from)
    })
  }
}
