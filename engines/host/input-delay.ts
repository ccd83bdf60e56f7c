/**
 * The host's processing-delay knob (replica config `processingDelayMs`, engines/host/README.md): every
 * input from outside the engine (a client command, a peer message, a message to itself) reaches the
 * engine `delayMs` after it arrived, in arrival order. It exists to test regression gates (harness/gate/)
 * with a known slowdown of any engine, without touching engine code: engines stay free of clocks and
 * timers, the host holds the inputs. Timers are not delayed (they are the engine's own, not inputs).
 */

/** Inputs held at once; past it an input is dropped (peer messages are retransmitted, clients retry). */
export const MAX_DELAYED_INPUTS = 1_000_000

interface Held {
  readonly dueMs: number
  readonly deliver: () => void
}

export class InputDelay {
  /** FIFO: the delay is constant and the clock monotonic, so due times never decrease */
  #queue: Held[] = []
  #head = 0
  #timer: NodeJS.Timeout | null = null
  #closed = false
  #firing = false
  /** inputs dropped because MAX_DELAYED_INPUTS were held */
  dropped = 0

  constructor(
    readonly delayMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(Number.isFinite(delayMs) && delayMs >= 0))
      throw new RangeError(`processing delay must be a finite number of ms >= 0, got ${delayMs}`)
  }

  /** Runs `deliver` now (no delay) or once the delay has passed, after every input pushed before it. */
  push(deliver: () => void): void {
    if (this.#closed) return
    if (this.delayMs === 0) {
      deliver()
      return
    }
    if (this.#queue.length - this.#head >= MAX_DELAYED_INPUTS) {
      this.dropped++
      return
    }
    this.#queue.push({ dueMs: this.now() + this.delayMs, deliver })
    if (this.#timer === null && !this.#firing) this.#arm()
  }

  /** inputs waiting */
  get held(): number {
    return this.#queue.length - this.#head
  }

  /** Drops every held input (a closing replica answers no more): like a crash, nothing is delivered. */
  close(): void {
    this.#closed = true
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = null
    this.#queue = []
    this.#head = 0
  }

  #arm(): void {
    const first = this.#queue[this.#head]
    if (first === undefined) return
    this.#timer = setTimeout(() => this.#fire(), Math.max(0, first.dueMs - this.now()))
  }

  #fire(): void {
    this.#timer = null
    const now = this.now()
    this.#firing = true
    try {
      while (!this.#closed) {
        const next = this.#queue[this.#head]
        if (next === undefined || next.dueMs > now) break
        this.#head++
        next.deliver()
      }
    } finally {
      this.#firing = false
    }
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head)
      this.#head = 0
    }
    if (!this.#closed) this.#arm()
  }
}
