/**
 * The origin's side of forwarding, shared by the leader-based engines (Raft, Multi-Paxos, VR): a command
 * that arrives at a replica stays pending there (PendingCommands) until it executes; it goes to the
 * leader at once, to every new leader, and again when its wait is over (DESIGN.md: "forward it to the
 * leader as their own message and reply at the replica where it arrived").
 *
 * The wait doubles per re-forward of the same command (at most 2 ** forwardRetryDoublingsMax x forwardRetryMs,
 * Ios's rule): with a fixed wait, a network whose round trip is near or above forwardRetryMs had every command still
 * in flight forwarded again, and the leader proposed it again (more slots and messages, executed once).
 *
 * Pure: it owns no timer, it asks the engine's context for one (FORWARD_RETRY_TIMER), and the engine
 * routes that timer's firing to onRetryTimeout(). Where the commands go is the engine's `submit`: its
 * own queue on the leader, sendTo() on a follower, nowhere (held) during an election.
 */
import type { Command, CommandId, NodeId } from './command.ts'
import { PendingCommands } from './pending-commands.ts'

export const FORWARD_RETRY_TIMER = 'forward-retry'

/** The part of an EngineContext the forwarder uses (a context whose messages include `forward`). */
export interface ForwarderContext {
  readonly self: NodeId
  now(): number
  setTimer(name: string, afterMs: number): void
  send(to: NodeId, msg: { readonly type: 'forward'; readonly commands: Command[] }): void
}

/** The engine config fields the forwarder reads (the same names in Raft, Multi-Paxos and VR). */
export interface ForwarderConfig {
  /** the most commands pending here */
  readonly maxPendingCommands: number
  /** the wait before the first re-forward, and the retry timer's period */
  readonly forwardRetryMs: number
  /** each re-forward of the same command doubles its wait, at most this many times (0: a fixed wait) */
  readonly forwardRetryDoublingsMax: number
}

export class Forwarder {
  private readonly pending: PendingCommands
  private timerSet = false

  constructor(
    private readonly ctx: ForwarderContext,
    private readonly cfg: ForwarderConfig,
    /** where commands go now: the leader's queue, sendTo(leader), or nowhere while nobody leads */
    private readonly submit: (cmds: Command[]) => void,
  ) {
    if (!(cfg.forwardRetryMs > 0))
      throw new RangeError(`forwardRetryMs must be > 0, got ${cfg.forwardRetryMs}`)
    this.pending = new PendingCommands(cfg.maxPendingCommands)
  }

  get size(): number {
    return this.pending.size
  }

  /** a restart: nothing pending survives (the clients retry), and no timer is set */
  reset(): void {
    this.pending.clear()
    this.timerSet = false
  }

  /**
   * A client command arrived here: kept pending and submitted. Over the limit a new command is dropped
   * unanswered (see PendingCommands.admit): the client retries.
   */
  onRequest(cmd: Command): void {
    if (!this.pending.admit(cmd, this.ctx.now())) return
    this.submit([cmd])
    this.arm()
  }

  /** An executed command: true when it was pending here (so this replica answers its client). */
  settle(id: CommandId): boolean {
    return this.pending.settle(id)
  }

  /** A new leader (or this replica became it): every pending command goes there now. */
  forwardAll(): void {
    this.submit(this.pending.all(this.ctx.now()))
  }

  /** FORWARD_RETRY_TIMER fired: re-forward the commands whose (doubling) wait is over. */
  onRetryTimeout(): void {
    this.timerSet = false
    this.submit(
      this.pending.stale(this.ctx.now(), this.cfg.forwardRetryMs, this.cfg.forwardRetryDoublingsMax),
    )
    this.arm()
  }

  /** Sends commands to the leader as `forward` messages of at most `chunk` commands; none when unknown. */
  sendTo(leader: NodeId | null, cmds: readonly Command[], chunk: number): void {
    if (leader === null || leader === this.ctx.self || cmds.length === 0) return // held until one is known
    if (!(chunk >= 1)) throw new Error(`internal: forward chunk ${chunk}`)
    for (let i = 0; i < cmds.length; i += chunk) {
      this.ctx.send(leader, { type: 'forward', commands: cmds.slice(i, i + chunk) })
    }
  }

  private arm(): void {
    if (this.timerSet || this.pending.size === 0) return
    this.timerSet = true
    this.ctx.setTimer(FORWARD_RETRY_TIMER, this.cfg.forwardRetryMs)
  }
}
