/**
 * The simulator's agenda: a binary min-heap of events keyed (time, insertion sequence). The sequence
 * breaks ties, so events due at the same simulated time run in the order they were scheduled, which
 * keeps a run deterministic.
 */

interface Entry<T> {
  readonly timeUs: number
  readonly seq: number
  readonly item: T
}

export class EventQueue<T> {
  private readonly heap: Array<Entry<T>> = []
  private nextSeq = 0

  /** capacity: a bound on queued events; exceeding it is a runaway engine (or simulator) bug */
  constructor(private readonly capacity: number) {}

  get size(): number {
    return this.heap.length
  }

  push(timeUs: number, item: T): void {
    if (!Number.isFinite(timeUs)) throw new RangeError(`event time must be finite, got ${timeUs}`)
    if (this.heap.length >= this.capacity)
      throw new RangeError(`event queue is full (${this.capacity} events): something schedules without bound`)
    const entry: Entry<T> = { timeUs, seq: this.nextSeq++, item }
    const heap = this.heap
    heap.push(entry)
    let i = heap.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!before(entry, heap[parent]!)) break
      heap[i] = heap[parent]!
      i = parent
    }
    heap[i] = entry
  }

  /** The earliest event's time, or undefined when empty. */
  peekTimeUs(): number | undefined {
    return this.heap[0]?.timeUs
  }

  pop(): { timeUs: number; item: T } | undefined {
    const heap = this.heap
    const top = heap[0]
    if (top === undefined) return undefined
    const last = heap.pop()!
    if (heap.length > 0) {
      let i = 0
      const n = heap.length
      for (;;) {
        const left = 2 * i + 1
        if (left >= n) break
        const right = left + 1
        const child = right < n && before(heap[right]!, heap[left]!) ? right : left
        if (!before(heap[child]!, last)) break
        heap[i] = heap[child]!
        i = child
      }
      heap[i] = last
    }
    return { timeUs: top.timeUs, item: top.item }
  }
}

function before<T>(a: Entry<T>, b: Entry<T>): boolean {
  return a.timeUs < b.timeUs || (a.timeUs === b.timeUs && a.seq < b.seq)
}
