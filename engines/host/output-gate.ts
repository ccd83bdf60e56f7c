/**
 * The persist-then-send rule (etcd's Ready: persist, then send), with group commit.
 *
 * Each engine handler runs inside `run`; the messages and client replies it produces are buffered. When
 * the handler returns, its outputs need every storage write made so far to be durable. If they already
 * are (memory storage, or a handler that wrote nothing while nothing was pending) and no earlier batch
 * is waiting, they leave at once. Otherwise they queue, and one sync covers every handler that ran while
 * the previous sync was in flight; after it, the queued batches are released in the order they ran.
 * A handler that wrote nothing still waits behind pending writes: it may have read them.
 */
import type { CommandId, NodeId, Outcome } from '../core/command.ts'
import type { EngineMessage } from '../core/engine.ts'
import type { DurableStorage } from './storage.ts'

export type Output =
  | { readonly kind: 'send'; readonly to: NodeId; readonly msg: EngineMessage }
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
    } finally {
      this.current = null
      this.finish(outputs)
    }
  }

  push(output: Output): void {
    if (this.current === null) throw new Error(`${output.kind} outside an engine handler`)
    this.current.push(output)
  }

  get waitingBatches(): number {
    return this.waiting.length
  }

  /** Resolves once every write is durable and every buffered output is released. */
  drain(): Promise<void> {
    if (!this.syncing && this.waiting.length === 0 && this.storage.durableWrites >= this.storage.writes) {
      return Promise.resolve()
    }
    this.startSync()
    return new Promise((resolve) => this.idleWaiters.push(resolve))
  }

  private finish(outputs: Output[]): void {
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
    if (this.syncing || this.storage.durableWrites >= this.storage.writes) {
      this.releaseDurable()
      return
    }
    this.syncing = true
    this.storage.sync().then(
      () => {
        this.syncing = false
        this.releaseDurable()
        this.startSync()
      },
      (err: unknown) => {
        this.syncing = false
        this.onSyncError(err)
      },
    )
  }

  private releaseDurable(): void {
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
