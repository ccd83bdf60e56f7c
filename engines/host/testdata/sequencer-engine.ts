/**
 * A fixture engine for the host tests, not a consensus protocol: the first node is a fixed sequencer.
 * Other replicas forward commands to it; it persists each command in the next slot, executes it, and
 * sends it to every follower, which persist and execute slots in order. The replica a command arrived
 * at answers its client. No failover: enough to exercise storage, timers, framing and the client API.
 */
import { z } from 'zod'
import type { Command, NodeId } from '../../core/command.ts'
import { parseEngineConfig } from '../../core/config.ts'
import type { Engine, EngineContext, EngineModule } from '../../core/engine.ts'

type Msg =
  | { type: 'forward'; cmd: Command; origin: NodeId }
  | { type: 'apply'; slot: number; cmd: Command; origin: NodeId }
  | { type: 'ping'; at: number }

const configSchema = z.strictObject({ pingIntervalMs: z.number().positive() })
type Config = z.output<typeof configSchema>
const defaults: Config = { pingIntervalMs: 200 }

/** applies waiting for an earlier slot; past this the follower drops them (a fixture, not a protocol) */
const MAX_PENDING_APPLIES = 10_000

function slotKey(slot: number): string {
  return `log/${String(slot).padStart(12, '0')}`
}

class SequencerEngine implements Engine<Msg> {
  private executed = 0
  private readonly pending = new Map<number, { cmd: Command; origin: NodeId }>()

  constructor(private readonly ctx: EngineContext<Msg, Config>) {}

  private get leader(): NodeId {
    return this.ctx.nodes[0]!
  }

  start(): void {
    for (const [, entry] of this.ctx.storage.scan<{ cmd: Command }>('log/')) {
      this.ctx.execute(entry.cmd)
      this.executed++
    }
    this.ctx.setTimer('ping', this.ctx.config.pingIntervalMs)
  }

  onRequest(cmd: Command): void {
    if (this.ctx.self === this.leader) this.sequence(cmd, this.ctx.self)
    else this.ctx.send(this.leader, { type: 'forward', cmd, origin: this.ctx.self })
  }

  onMessage(from: NodeId, msg: Msg): void {
    if (msg.type === 'forward' && this.ctx.self === this.leader) this.sequence(msg.cmd, msg.origin)
    else if (msg.type === 'apply' && from === this.leader) this.onApply(msg.slot, msg.cmd, msg.origin)
  }

  onTimer(name: string): void {
    if (name !== 'ping') return
    for (const node of this.ctx.nodes) {
      if (node !== this.ctx.self) this.ctx.send(node, { type: 'ping', at: this.ctx.now() })
    }
    this.ctx.setTimer('ping', this.ctx.config.pingIntervalMs)
  }

  status() {
    return {
      role: this.ctx.self === this.leader ? ('leader' as const) : ('follower' as const),
      leader: this.leader,
      epoch: 1,
      executed: this.executed,
    }
  }

  private sequence(cmd: Command, origin: NodeId): void {
    const slot = this.executed + 1
    this.ctx.storage.put(slotKey(slot), { cmd })
    const result = this.ctx.execute(cmd)
    this.executed = slot
    this.ctx.emit({ type: 'commit', commands: 1 })
    for (const node of this.ctx.nodes) {
      if (node !== this.ctx.self) this.ctx.send(node, { type: 'apply', slot, cmd, origin })
    }
    if (origin === this.ctx.self) this.ctx.reply(cmd.id, { status: 'ok', value: result.value })
  }

  private onApply(slot: number, cmd: Command, origin: NodeId): void {
    if (slot <= this.executed) return
    if (this.pending.size < MAX_PENDING_APPLIES) this.pending.set(slot, { cmd, origin })
    for (
      let next = this.pending.get(this.executed + 1);
      next !== undefined;
      next = this.pending.get(this.executed + 1)
    ) {
      this.pending.delete(this.executed + 1)
      this.executed++
      this.ctx.storage.put(slotKey(this.executed), { cmd: next.cmd })
      const result = this.ctx.execute(next.cmd)
      if (next.origin === this.ctx.self) this.ctx.reply(next.cmd.id, { status: 'ok', value: result.value })
    }
  }
}

export const sequencerEngine: EngineModule<Msg, Config> = {
  name: 'test-sequencer',
  leadership: 'leader',
  description: 'test fixture: a fixed sequencer replicating to all; no failover',
  parseConfig: (raw) => parseEngineConfig('test-sequencer', configSchema, defaults, raw),
  create: (ctx) => new SequencerEngine(ctx),
  expectedLatencyMs: (model) => model.clientRttMs,
}
