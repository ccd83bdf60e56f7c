/**
 * The persist-then-send rule (etcd's Ready: persist, then send), with group commit.
 *
 * Each engine handler runs inside `run`; the messages and client replies it produces are buffered. When
 * the handler returns, its outputs need every storage write made so far to be durable. If they already
 * are (memory storage, or a handler that wrote nothing while nothing was pending) and no earlier batch
 * is waiting, they leave at once. Otherwise they queue, and one sync covers every handler that ran while
 * the previous sync was in flight; after it, the queued batches are released in the order they ran.
 * A handler that wrote nothing still waits behind pending writes: it may have read them.
 *
 * A failure is final: when a sync fails (fdatasync's error may have dropped dirty pages, so a later
 * success proves nothing) or a handler or release throws, the gate releases nothing more, ever, and
 * reports the error once. Outputs of a handler that threw are dropped: they came from a broken state.
 */
import type { CommandId, NodeId, Outcome } from '../core/command.ts'
import type { DurableStorage } from './storage.ts'

/**
 * A buffered output. A message is encoded when the engine sends it, as the simulator copies it then:
 * an engine may mutate the object afterwards, and what leaves must be what it sent, not state from a
 * later handler whose writes may not be durable yet.
 */
export type Output =
  | { readonly kind: 'send'; readonly to: NodeId; readonly type: string; readonly frame: Buffer }
  | { readonly kind: 'reply'; readonly id: CommandId; readonly outcome: Outcome }

interface Batch {
  readonly needWrites: number
  readonly outputs: Output[]
}

/** Batches waiting for a sync; past this the replica is far behind its disk and that is a bug to see. */
export const MAX_WAITING_BATCHES = 1_000_000

export class OutputGate {
  private current: Output[] | null = null
  private readonly waiting: Batch[] = []
  private syncing = false
  private idleWaiters: Array<() => void> = []
  private failure: { readonly error: unknown } | null = null

  constructor(
    private readonly storage: DurableStorage,
    private readonly release: (output: Output) => void,
    private readonly onSyncError: (err: unknown) => void,
  ) {}

  /** Runs one engine handler, buffering what it sends; handlers never nest. */
  run(handler: () => void): void {
    if (this.current !== null) throw new Error('engine handler re-entered: handlers must not nest')
    const outputs: Output[] = []
    this.current = outputs
    try {
      handler()
    } catch (err) {
      this.current = null
      this.fail(err, false)
      throw err
    }
    this.current = null
    try {
      this.finish(outputs)
    } catch (err) {
      this.fail(err, false)
      throw err
    }
  }

  push(output: Output): void {
    if (this.current === null) throw new Error(`${output.kind} outside an engine handler`)
    this.current.push(output)
  }

  get waitingBatches(): number {
    return this.waiting.length
  }

  /** true after a failed sync or a throwing handler or release: nothing leaves any more */
  get failed(): boolean {
    return this.failure !== null
  }

  /**
   * Resolves once every write is durable and every buffered output is released, or at once after a
   * failure (what is buffered then never leaves).
   */
  drain(): Promise<void> {
    if (
      this.failure !== null ||
      (!this.syncing && this.waiting.length === 0 && this.storage.durableWrites >= this.storage.writes)
    ) {
      return Promise.resolve()
    }
    this.startSync()
    return new Promise((resolve) => this.idleWaiters.push(resolve))
  }

  private finish(outputs: Output[]): void {
    if (this.failure !== null) return
    const needWrites = this.storage.writes
    if (this.waiting.length === 0 && this.storage.durableWrites >= needWrites) {
      for (const output of outputs) this.release(output)
      return
    }
    if (outputs.length > 0) {
      if (this.waiting.length >= MAX_WAITING_BATCHES) throw new Error('output gate: too many waiting batches')
      this.waiting.push({ needWrites, outputs })
    }
    this.startSync()
  }

  private startSync(): void {
    if (this.failure !== null) return
    if (this.syncing || this.storage.durableWrites >= this.storage.writes) {
      this.releaseDurable()
      return
    }
    this.syncing = true
    this.storage.sync().then(
      () => {
        this.syncing = false
        // A throw here (a release that fails) must not become an unhandled rejection and stall the gate.
        try {
          this.releaseDurable()
          this.startSync()
        } catch (err) {
          this.fail(err, true)
        }
      },
      (err: unknown) => {
        this.syncing = false
        this.fail(err, true)
      },
    )
  }

  /** Stops the gate for good; `report` is false when the caller rethrows the error itself. */
  private fail(error: unknown, report: boolean): void {
    if (this.failure !== null) return
    this.failure = { error }
    this.waiting.length = 0
    const waiters = this.idleWaiters
    this.idleWaiters = []
    for (const resolve of waiters) resolve()
    if (report) this.onSyncError(error)
  }

  private releaseDurable(): void {
    if (this.failure !== null) return
    const durable = this.storage.durableWrites
    while (this.waiting.length > 0 && this.waiting[0]!.needWrites <= durable) {
      for (const output of this.waiting.shift()!.outputs) this.release(output)
    }
    if (!this.syncing && this.waiting.length === 0 && durable >= this.storage.writes) {
      const waiters = this.idleWaiters
      this.idleWaiters = []
      for (const resolve of waiters) resolve()
    }
  }
}
