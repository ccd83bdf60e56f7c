/**
 * One timer for the whole relay: a min-heap of the things due next (each queue of chunks is in it once,
 * keyed by its head's delivery time), and a wake-up that is precise to well under a millisecond.
 *
 * Why not one setTimeout per chunk: Node's timers run on libuv's millisecond clock, so a timer fires
 * anywhere from ~1 ms early to ~1 ms late. The scheduler instead sleeps on a timer until `spinMs` before
 * the next delivery and then polls with setImmediate, which still lets every I/O callback run between
 * polls (the loop does not block), until the delivery is due. The price is CPU while polling; with
 * spinMs = 0 it never polls and deliveries are up to ~1-2 ms late. bench/relay.ts measures both sides.
 */

export interface Schedulable {
  /** position in the heap, -1 when not scheduled; owned by the scheduler */
  heapIndex: number
  /** when the next delivery is due (performance.now() ms); read when (re)inserted */
  readonly dueMs: number
  /** deliver what is due at nowMs; return true to be rescheduled at the new dueMs */
  run(nowMs: number): boolean
}

/** a delivery this close to its time is made now rather than polled for once more */
const EARLY_MS = 0.02
/** a timer may fire up to ~1 ms past its target: poll when woken anywhere inside this extra margin */
const TIMER_LATE_MARGIN_MS = 1.5

export class Scheduler {
  readonly #heap: Schedulable[] = []
  #timer: NodeJS.Timeout | null = null
  #timerTargetMs = Number.POSITIVE_INFINITY
  #immediate: NodeJS.Immediate | null = null
  #stopped = false

  constructor(private readonly spinMs: number) {
    if (!(spinMs >= 0)) throw new RangeError(`spinMs must be >= 0, got ${spinMs}`)
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
    this.#clear()
    for (const item of this.#heap) item.heapIndex = -1
    this.#heap.length = 0
  }

  readonly #wake = (): void => {
    this.#timer = null
    this.#timerTargetMs = Number.POSITIVE_INFINITY
    this.#immediate = null
    this.#runDue()
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
      this.#clear()
      return
    }
    const remainingMs = head.dueMs - now
    // a timer re-armed this close could fire past the delivery: poll instead
    const pollWindowMs = this.spinMs === 0 ? EARLY_MS : this.spinMs + TIMER_LATE_MARGIN_MS
    if (remainingMs <= pollWindowMs) {
      if (this.#timer !== null) {
        clearTimeout(this.#timer)
        this.#timer = null
        this.#timerTargetMs = Number.POSITIVE_INFINITY
      }
      this.#immediate ??= setImmediate(this.#wake)
      return
    }
    const targetMs = head.dueMs - this.spinMs
    // an armed timer aiming no later than needed stays; re-arming costs more than it saves
    if (this.#timer !== null && this.#timerTargetMs <= targetMs + 0.05) return
    if (this.#timer !== null) clearTimeout(this.#timer)
    if (this.#immediate !== null) {
      clearImmediate(this.#immediate)
      this.#immediate = null
    }
    this.#timerTargetMs = targetMs
    // timers-only mode rounds up (never early); polling mode rounds down (the poll finishes the wait)
    const delayMs = this.spinMs === 0 ? Math.ceil(targetMs - now) : Math.floor(targetMs - now)
    this.#timer = setTimeout(this.#wake, Math.max(1, delayMs))
  }

  #clear(): void {
    if (this.#timer !== null) clearTimeout(this.#timer)
    if (this.#immediate !== null) clearImmediate(this.#immediate)
    this.#timer = null
    this.#immediate = null
    this.#timerTargetMs = Number.POSITIVE_INFINITY
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
