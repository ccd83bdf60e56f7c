/** Test rig for the relay: in-process servers standing in for endpoints, and a client that timestamps. */
import { connect, createServer, type Server, type Socket } from 'node:net'
import type { LinkShape } from '../../shaper.ts'

export function shape(delayMs: number, extra: Partial<LinkShape> = {}): LinkShape {
  return {
    delayMs,
    jitterMs: 0,
    jitterDistribution: 'normal',
    lossRate: 0,
    bandwidthBytesPerSec: null,
    ...extra,
  }
}

/** What one side of a connection received, with performance.now() times. */
export class Inbox {
  readonly chunks: { atMs: number; data: Buffer }[] = []
  #waiters: (() => void)[] = []
  closed = false
  error: Error | null = null

  constructor(readonly socket: Socket) {
    socket.on('data', (data: Buffer) => {
      this.chunks.push({ atMs: performance.now(), data })
      this.#notify()
    })
    socket.on('error', (err) => {
      this.error = err
    })
    socket.on('close', () => {
      this.closed = true
      this.#notify()
    })
  }

  get bytes(): Buffer {
    return Buffer.concat(this.chunks.map((c) => c.data))
  }

  #notify(): void {
    const waiters = this.#waiters
    this.#waiters = []
    for (const w of waiters) w()
  }

  /** Wait until `predicate` holds (checked on every chunk and on close), or fail after timeoutMs. */
  async until(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = performance.now() + timeoutMs
    while (!predicate()) {
      const left = deadline - performance.now()
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.#waiters.push(() => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
  }

  /** The time the inbox first held `bytes` bytes. */
  timeOfByte(bytes: number): number {
    let total = 0
    for (const c of this.chunks) {
      total += c.data.length
      if (total >= bytes) return c.atMs
    }
    throw new Error(`only ${total} bytes received, wanted ${bytes}`)
  }
}

/** A server that keeps an Inbox per accepted connection. */
export class Sink {
  readonly inboxes: Inbox[] = []
  #arrivals: ((inbox: Inbox) => void)[] = []

  private constructor(
    readonly server: Server,
    readonly address: string,
  ) {}

  static async start(host: string): Promise<Sink> {
    let sink: Sink | null = null
    // half-open allowed: a test decides when the server side ends
    const server = createServer({ noDelay: true, allowHalfOpen: true }, (socket) => {
      const inbox = new Inbox(socket)
      sink!.inboxes.push(inbox)
      for (const a of sink!.#arrivals.splice(0)) a(inbox)
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen({ host, port: 0 }, () => resolve())
    })
    const a = server.address()
    if (a === null || typeof a === 'string') throw new Error('no address')
    sink = new Sink(server, `${host}:${a.port}`)
    return sink
  }

  /** The next connection (or the nth, counting from 0, if it has already arrived). */
  connection(index: number, timeoutMs = 5000): Promise<Inbox> {
    const existing = this.inboxes[index]
    if (existing !== undefined) return Promise.resolve(existing)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no connection #${index} within ${timeoutMs} ms`)),
        timeoutMs,
      )
      const check = () => {
        const inbox = this.inboxes[index]
        if (inbox !== undefined) {
          clearTimeout(timer)
          resolve(inbox)
        } else this.#arrivals.push(check)
      }
      this.#arrivals.push(check)
    })
  }

  async close(): Promise<void> {
    for (const i of this.inboxes) i.socket.destroy()
    await new Promise<void>((r) => this.server.close(() => r()))
  }
}

export async function dial(address: string): Promise<Inbox> {
  const i = address.lastIndexOf(':')
  const socket = connect({ host: address.slice(0, i), port: Number(address.slice(i + 1)), noDelay: true })
  const inbox = new Inbox(socket)
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('error', reject)
  })
  return inbox
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}
