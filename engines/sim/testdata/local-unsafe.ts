/**
 * Test fixture (registered nowhere): deliberately unsafe. Each replica executes a command the moment
 * it arrives, replies, and tells the others, who execute it when told. There is no agreement, so
 * replicas execute conflicting commands in different orders and reads go stale: the simulator's
 * execution-order check and the linearizability checker must both catch it.
 */
import type { Command, NodeId } from '../../core/command.ts'
import type { Engine, EngineContext, EngineModule, EngineStatus } from '../../core/engine.ts'

export type LocalMessage = { readonly type: 'apply'; readonly cmd: Command }

class LocalUnsafe implements Engine<LocalMessage> {
  private executed = 0

  constructor(private readonly ctx: EngineContext<LocalMessage, null>) {}

  start(): void {}

  onRequest(cmd: Command): void {
    const result = this.ctx.execute(cmd)
    this.executed++
    this.ctx.reply(cmd.id, { status: 'ok', value: result.value })
    for (const node of this.ctx.nodes) if (node !== this.ctx.self) this.ctx.send(node, { type: 'apply', cmd })
  }

  onMessage(_from: NodeId, msg: LocalMessage): void {
    this.ctx.execute(msg.cmd)
    this.executed++
  }

  onTimer(): void {}

  status(): EngineStatus {
    return { role: 'peer', leader: null, epoch: 0, executed: this.executed }
  }
}

export const localUnsafeEngine: EngineModule<LocalMessage, null> = {
  name: 'test-local-unsafe',
  leadership: 'leaderless',
  description: 'test fixture: executes locally without agreement (unsafe on purpose)',
  parseConfig: () => null,
  create: (ctx) => new LocalUnsafe(ctx),
  expectedLatencyMs: (model) => model.clientRttMs,
}
