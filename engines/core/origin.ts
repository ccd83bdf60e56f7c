/**
 * Bookkeeping that every leader-based engine needs for client commands (DESIGN.md: a command may
 * arrive at any replica; the leader orders it; the replica where it arrived answers):
 * - `PendingCommands`: the commands waiting at their origin for execution, with the time each was
 *   last sent to the leader, so a lost forward is sent again;
 * - `CommandQueue`: the leader's queue of commands not yet in the log, which drops a command already
 *   queued or in flight (a retry forwarded twice is ordered once per leadership).
 * Both are bounded; what does not fit is dropped unanswered, like a lost message (the sender retries).
 */
import { type Command, type CommandId, commandIdKey } from './command.ts'

interface Pending {
  readonly cmd: Command
  sentAtMs: number
}

export class PendingCommands {
  private readonly byId = new Map<string, Pending>()

  constructor(private readonly limit: number) {}

  /**
   * Records a command that arrived here (again: its send time is renewed). Returns false when it is
   * new and the limit is reached: the caller drops it unanswered. Not 'rejected': that promises the
   * command never executes anywhere, and a retried id may already be ordered through another replica.
   */
  add(cmd: Command, nowMs: number): boolean {
    const known = this.byId.get(commandIdKey(cmd.id))
    if (known !== undefined) {
      known.sentAtMs = nowMs
      return true
    }
    if (this.byId.size >= this.limit) return false
    this.byId.set(commandIdKey(cmd.id), { cmd, sentAtMs: nowMs })
    return true
  }

  /** Removes a command once executed; true when it was waiting here (answer its client). */
  complete(id: CommandId): boolean {
    return this.byId.delete(commandIdKey(id))
  }

  /** Every waiting command, marked as sent now (a new leader is known). */
  resendAll(nowMs: number): Command[] {
    for (const p of this.byId.values()) p.sentAtMs = nowMs
    return [...this.byId.values()].map((p) => p.cmd)
  }

  /** The commands sent at least `retryMs` ago, marked as sent now. */
  resendStale(nowMs: number, retryMs: number): Command[] {
    const stale: Command[] = []
    for (const p of this.byId.values()) {
      if (nowMs - p.sentAtMs < retryMs) continue
      p.sentAtMs = nowMs
      stale.push(p.cmd)
    }
    return stale
  }

  get size(): number {
    return this.byId.size
  }

  clear(): void {
    this.byId.clear()
  }
}

export class CommandQueue {
  private readonly queue: Command[] = []
  /** ids queued or taken and not yet forgotten (in flight) */
  private readonly ids = new Set<string>()

  constructor(private readonly limit: number) {}

  /** Queues the commands not already queued or in flight, up to the limit (the rest are dropped). */
  push(cmds: readonly Command[]): void {
    for (const cmd of cmds) {
      const key = commandIdKey(cmd.id)
      if (this.ids.has(key)) continue
      if (this.queue.length >= this.limit) break
      this.queue.push(cmd)
      this.ids.add(key)
    }
  }

  /** Takes up to `most` commands off the front; they stay known (in flight) until forgotten. */
  take(most: number): Command[] {
    return this.queue.splice(0, most)
  }

  /** A command was executed (or abandoned): a later copy of it may be queued again. */
  forget(id: CommandId): void {
    this.ids.delete(commandIdKey(id))
  }

  get length(): number {
    return this.queue.length
  }
}
