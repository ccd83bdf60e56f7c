/**
 * One wake-up source for the whole relay: a min-heap of the things due next (each queue of chunks is in
 * it once, keyed by its head's delivery time), so only one wake-up is armed at a time.
 *
 * Why not one setTimeout per chunk: Node's timers run on libuv's millisecond clock, so a timer fires
 * anywhere from ~1 ms early to ~1 ms late. The scheduler instead sleeps until `spinMs` before the next
 * delivery (wake.ts: a worker thread by default, precise to a fraction of a millisecond) and then polls
 * with setImmediate, which still lets every I/O callback run between polls (the loop never blocks),
 * until the delivery is due. Polling costs CPU; the worker keeps the polled stretch short.
 * bench/relay.ts measures the added latency and the CPU of each mode.
 */
import { TimerWake, type Wake, WorkerWake } from './wake.ts'

export interface Schedulable {
  /** position in the heap, -1 when not scheduled; owned by the scheduler */
  heapIndex: number
  /** when the next delivery is due (performance.now() ms); read when (re)inserted */
  readonly dueMs: number
  /** deliver what is due at nowMs; return true to be rescheduled at the new dueMs */
  run(nowMs: number): boolean
}

export type WakeKind = 'worker' | 'timer'

/** a delivery this close to its time is made now rather than polled for once more */
export const EARLY_MS = 0.02

export class Scheduler {
  readonly #heap: Schedulable[] = []
  readonly #wake: Wake
  readonly #pollWindowMs: number
  #immediate: NodeJS.Immediate | null = null
  #stopped = false

  constructor(
    private readonly spinMs: number,
    wake: WakeKind = 'worker',
  ) {
    if (!(spinMs >= 0)) throw new RangeError(`spinMs must be >= 0, got ${spinMs}`)
    this.#wake = wake === 'worker' ? new WorkerWake(this.#onWake) : new TimerWake(this.#onWake, spinMs === 0)
    // a wake-up this close could land past the delivery: poll instead of re-arming
    this.#pollWindowMs = wake === 'timer' && spinMs === 0 ? EARLY_MS : spinMs + this.#wake.slackMs
  }

  /** resolves once the wake-up source runs (the worker thread has started) */
  get ready(): Promise<void> {
    return this.#wake.ready
  }

  get size(): number {
    return this.#heap.length
  }

  /** Insert (or re-key) an item; it runs at its dueMs. */
  schedule(item: Schedulable): void {
    if (this.#stopped) return
    if (item.heapIndex >= 0) this.#remove(item)
    item.heapIndex = this.#heap.length
    this.#heap.push(item)
    this.#up(item.heapIndex)
    if (item.heapIndex === 0) this.#arm(performance.now())
  }

  unschedule(item: Schedulable): void {
    if (item.heapIndex >= 0) this.#remove(item)
  }

  stop(): void {
    this.#stopped = true
    this.#wake.stop()
    if (this.#immediate !== null) clearImmediate(this.#immediate)
    this.#immediate = null
    for (const item of this.#heap) item.heapIndex = -1
    this.#heap.length = 0
  }

  readonly #onWake = (): void => {
    this.#immediate = null
    if (!this.#stopped) this.#runDue()
  }

  #runDue(): void {
    const now = performance.now()
    // bounded: each item runs at most once per wake, so a zero-delay flood cannot starve I/O
    for (let budget = this.#heap.length; budget > 0 && this.#heap.length > 0; budget--) {
      const head = this.#heap[0]!
      if (head.dueMs > now + EARLY_MS) break
      this.#remove(head)
      if (head.run(now) && !this.#stopped) this.schedule(head)
    }
    this.#arm(performance.now())
  }

  #arm(now: number): void {
    if (this.#stopped) return
    const head = this.#heap[0]
    if (head === undefined) {
      this.#wake.disarm()
      return
    }
    if (head.dueMs - now <= this.#pollWindowMs) {
      this.#wake.disarm()
      this.#immediate ??= setImmediate(this.#onWake)
      return
    }
    if (this.#immediate !== null) {
      clearImmediate(this.#immediate)
      this.#immediate = null
    }
    this.#wake.arm(head.dueMs - this.spinMs)
  }

  #remove(item: Schedulable): void {
    const i = item.heapIndex
    const last = this.#heap.pop()!
    item.heapIndex = -1
    if (last === item) return
    this.#heap[i] = last
    last.heapIndex = i
    this.#down(i)
    this.#up(last.heapIndex)
  }

  #up(i: number): void {
    const heap = this.#heap
    const item = heap[i]!
    while (i > 0) {
      const parent = (i - 1) >> 1
      const p = heap[parent]!
      if (p.dueMs <= item.dueMs) break
      heap[i] = p
      p.heapIndex = i
      i = parent
    }
    heap[i] = item
    item.heapIndex = i
  }

  #down(i: number): void {
    const heap = this.#heap
    const n = heap.length
    const item = heap[i]!
    for (;;) {
      let child = 2 * i + 1
      if (child >= n) break
      const right = child + 1
      if (right < n && heap[right]!.dueMs < heap[child]!.dueMs) child = right
      const c = heap[child]!
      if (c.dueMs >= item.dueMs) break
      heap[i] = c
      c.heapIndex = i
      i = child
    }
    heap[i] = item
    item.heapIndex = i
  }
}
