/**
 * A leader's queue of client commands not yet in its log, bounded, which drops a command already queued
 * or in flight: a retry forwarded twice is ordered once per leadership. What does not fit is dropped
 * unanswered, like a lost message (the origin forwards it again). The origin's side is PendingCommands
 * (pending-commands.ts).
 */
import { type Command, type CommandId, commandIdKey } from './command.ts'

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
