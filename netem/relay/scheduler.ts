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
/**
 * Polling may take at most this share of the relay's time (a decaying average over ~100 ms). Past it,
 * the scheduler stops polling ahead and sleeps until the delivery itself (slightly later deliveries),
 * so dense traffic on many links cannot make the relay burn a core the replicas need.
 */
export const POLL_SHARE_MAX = 0.3
const POLL_AVERAGE_MS = 100

export class Scheduler {
  readonly #heap: Schedulable[] = []
  readonly #wake: Wake
  readonly #timerWake: boolean
  #immediate: NodeJS.Immediate | null = null
  #stopped = false
  /** whether the time since #accountedAtMs was spent polling */
  #polling = false
  #pollShare = 0
  #accountedAtMs = performance.now()

  constructor(
    private readonly spinMs: number,
    wake: WakeKind = 'worker',
  ) {
    if (!(spinMs >= 0)) throw new RangeError(`spinMs must be >= 0, got ${spinMs}`)
    this.#wake = wake === 'worker' ? new WorkerWake(this.#onWake) : new TimerWake(this.#onWake)
    this.#timerWake = wake === 'timer'
  }

  /** resolves once the wake-up source runs (the worker thread has started) */
  get ready(): Promise<void> {
    return this.#wake.ready
  }

  /** the recent share of time spent polling (decaying average), for tests and stats */
  get pollShare(): number {
    return this.#pollShare
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
    if (!this.#stopped) this.#runDue()
  }

  readonly #onImmediate = (): void => {
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

  #account(now: number): void {
    const elapsedMs = now - this.#accountedAtMs
    if (elapsedMs <= 0) return
    this.#accountedAtMs = now
    const keep = Math.exp(-elapsedMs / POLL_AVERAGE_MS)
    this.#pollShare = this.#pollShare * keep + (this.#polling ? 1 - keep : 0)
  }

  #arm(now: number): void {
    if (this.#stopped) return
    this.#account(now)
    const head = this.#heap[0]
    if (head === undefined) {
      this.#polling = false
      this.#wake.disarm()
      return
    }
    const spinMs = this.#pollShare > POLL_SHARE_MAX ? 0 : this.spinMs
    // a wake-up this close could land past the delivery: poll instead of re-arming (a timer that is not
    // followed by polling is rounded up instead, so it never fires early)
    const pollWindowMs = this.#timerWake && spinMs === 0 ? EARLY_MS : spinMs + this.#wake.slackMs
    if (head.dueMs - now <= pollWindowMs) {
      this.#polling = true
      this.#wake.disarm()
      this.#immediate ??= setImmediate(this.#onImmediate)
      return
    }
    this.#polling = false
    if (this.#immediate !== null) {
      clearImmediate(this.#immediate)
      this.#immediate = null
    }
    this.#wake.arm(head.dueMs - spinMs, spinMs > 0)
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
