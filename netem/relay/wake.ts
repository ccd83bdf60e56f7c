/**
 * Wake-ups for the relay's scheduler: "call me back at time T" (performance.now() ms), re-armable, at
 * most one pending.
 *
 * - WorkerWake (the default): a worker thread sleeps in Atomics.wait with a fractional-millisecond
 *   timeout (a futex with a high-resolution timeout, ~50 us slack) and posts a message at T; the main
 *   thread wakes on it like on any I/O. Both threads sleep while waiting: precise to ~0.1-0.3 ms at
 *   almost no CPU, and a sleeping process is what the kernel's scheduler favours on a busy machine.
 * - TimerWake: setTimeout, on libuv's millisecond clock: fires ~1 ms early to ~1 ms late.
 * The scheduler polls (setImmediate) for the last stretch either way; see scheduler.ts.
 */
import { Worker } from 'node:worker_threads'

export interface Wake {
  /** how far from T a wake-up can land: the scheduler polls inside this margin instead of re-arming */
  readonly slackMs: number
  /** resolves once wake-ups can fire (a worker has started) */
  readonly ready: Promise<void>
  /** thenPoll: the caller polls after the wake-up, so firing up to the slack early is fine */
  arm(atMs: number, thenPoll: boolean): void
  disarm(): void
  stop(): void
}

export class TimerWake implements Wake {
  readonly slackMs = 1.5
  readonly ready = Promise.resolve()
  #timer: NodeJS.Timeout | null = null
  #atMs = Number.POSITIVE_INFINITY

  constructor(private readonly onWake: () => void) {}

  arm(atMs: number, thenPoll: boolean): void {
    // an armed timer aiming no later than needed stays; re-arming costs more than it saves
    if (this.#timer !== null && this.#atMs <= atMs + 0.05) return
    this.disarm()
    const inMs = atMs - performance.now()
    this.#atMs = atMs
    this.#timer = setTimeout(
      () => {
        this.#timer = null
        this.#atMs = Number.POSITIVE_INFINITY
        this.onWake()
      },
      // followed by polling: round down (the poll finishes the wait); alone: round up (never early)
      Math.max(1, thenPoll ? Math.floor(inMs) : Math.ceil(inMs)),
    )
  }

  disarm(): void {
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = null
    this.#atMs = Number.POSITIVE_INFINITY
  }

  stop(): void {
    this.disarm()
  }
}

// The worker (plain CommonJS, no loader needed). Slot 0 of `gen` changes whenever the target does;
// `target` is the absolute time in microseconds (timeOrigin + now), 0 for none. After firing, the worker
// waits for the next change, so one target fires once.
const WORKER_SOURCE = `
const { workerData, parentPort } = require('node:worker_threads')
const gen = new Int32Array(workerData, 0, 1)
const target = new BigInt64Array(workerData, 8, 1)
const nowUs = () => (performance.timeOrigin + performance.now()) * 1000
for (;;) {
  const g = Atomics.load(gen, 0)
  const t = Number(Atomics.load(target, 0))
  if (t === 0) { Atomics.wait(gen, 0, g); continue }
  const inMs = (t - nowUs()) / 1000
  if (inMs > 0.03) { Atomics.wait(gen, 0, g, inMs); continue }
  parentPort.postMessage(0)
  Atomics.wait(gen, 0, g)
}
`

export class WorkerWake implements Wake {
  readonly slackMs = 0.1
  readonly ready: Promise<void>
  readonly #gen: Int32Array
  readonly #target: BigInt64Array
  readonly #worker: Worker
  #targetUs = 0n

  constructor(onWake: () => void) {
    const shared = new SharedArrayBuffer(16)
    this.#gen = new Int32Array(shared, 0, 1)
    this.#target = new BigInt64Array(shared, 8, 1)
    this.#worker = new Worker(WORKER_SOURCE, { eval: true, workerData: shared })
    this.#worker.on('message', () => {
      // the worker fired and now waits for a new target: the next arm() must reach it, even if equal
      this.#targetUs = -1n
      onWake()
    })
    this.#worker.on('error', (err) => {
      throw new Error(`relay wake-up worker failed: ${err.message}`)
    })
    // a worker takes tens of milliseconds to boot on a busy machine; once up, it must not keep the
    // process alive on its own
    this.ready = new Promise((resolve) =>
      this.#worker.once('online', () => {
        this.#worker.unref()
        resolve()
      }),
    )
  }

  #set(targetUs: bigint): void {
    if (targetUs === this.#targetUs) return
    this.#targetUs = targetUs
    Atomics.store(this.#target, 0, targetUs)
    Atomics.add(this.#gen, 0, 1)
    Atomics.notify(this.#gen, 0)
  }

  arm(atMs: number): void {
    this.#set(BigInt(Math.round((performance.timeOrigin + atMs) * 1000)))
  }

  disarm(): void {
    this.#set(0n)
  }

  stop(): void {
    this.disarm()
    void this.#worker.terminate()
  }
}
