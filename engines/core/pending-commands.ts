/**
 * The client commands waiting, at the replica where they arrived (their origin), for their execution:
 * what a leader-based engine keeps so that it can forward them to the leader, forward them again after a
 * leader change or a timeout, and answer the client when it executes them (DESIGN.md: "forward it to the
 * leader as their own message and reply at the replica where it arrived"). Bounded. Used by Raft,
 * Multi-Paxos and VR through Forwarder (forwarder.ts); the leader's side of forwarding is CommandQueue
 * (command-queue.ts).
 */
import { type Command, type CommandId, commandIdKey } from './command.ts'

interface Pending {
  readonly cmd: Command
  forwardedAtMs: number
  /** times stale() returned it since it arrived or since the last all(): each doubles its next wait */
  reforwards: number
}

export class PendingCommands {
  private readonly byId = new Map<string, Pending>()

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`limit must be >= 1, got ${limit}`)
  }

  get size(): number {
    return this.byId.size
  }

  /**
   * Records a command that arrived now (a retried id is refreshed). Returns false for a new command
   * when the limit is reached: the caller drops it unanswered, like a lost request, and the client
   * retries. Not 'rejected': that promises the command never executes anywhere, and a retried id may
   * already be pending at (or executed through) another replica.
   */
  admit(cmd: Command, nowMs: number): boolean {
    const key = commandIdKey(cmd.id)
    const known = this.byId.get(key)
    if (known !== undefined) {
      known.forwardedAtMs = nowMs
      return true
    }
    if (this.byId.size >= this.limit) return false
    this.byId.set(key, { cmd, forwardedAtMs: nowMs, reforwards: 0 })
    return true
  }

  /** Forgets an executed command; true when it was pending here (so this replica answers its client). */
  settle(id: CommandId): boolean {
    return this.byId.delete(commandIdKey(id))
  }

  /**
   * Every pending command, in arrival order, marked as forwarded now, its back-off reset: this is the
   * forward to a new leader, a path whose speed nothing has measured yet.
   */
  all(nowMs: number): Command[] {
    const cmds: Command[] = []
    for (const p of this.byId.values()) {
      p.forwardedAtMs = nowMs
      p.reforwards = 0
      cmds.push(p.cmd)
    }
    return cmds
  }

  /**
   * The commands whose wait is over, marked as forwarded now. A command waits retryMs after its first
   * forward, and twice as long after each re-forward returned here, at most 2 ** doublingsMax x retryMs:
   * a command still in flight on a slow path is not sent again every retryMs.
   */
  stale(nowMs: number, retryMs: number, doublingsMax: number): Command[] {
    if (!Number.isInteger(doublingsMax) || doublingsMax < 0)
      throw new RangeError(`doublingsMax must be an integer >= 0, got ${doublingsMax}`)
    const cmds: Command[] = []
    for (const p of this.byId.values()) {
      if (nowMs - p.forwardedAtMs < retryMs * 2 ** Math.min(p.reforwards, doublingsMax)) continue
      p.forwardedAtMs = nowMs
      p.reforwards++
      cmds.push(p.cmd)
    }
    return cmds
  }

  clear(): void {
    this.byId.clear()
  }
}
