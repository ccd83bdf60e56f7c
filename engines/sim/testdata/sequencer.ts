/**
 * Test fixture (registered nowhere): a fixed-sequencer replication protocol, small enough to be
 * obviously right under the simulator's fault model, to develop the simulator against.
 *
 * r0 (nodes[0]) is the sequencer: it appends every command it receives (directly or forwarded) to its
 * log, persists the entry, then broadcasts it. A value is chosen the moment the sequencer persists it,
 * because no one else ever assigns a slot. Every replica executes the log in slot order and replies to
 * the commands that arrived at it. Followers pull what they miss with a periodic fetch. It is safe with
 * any number of crashes (storage survives) and live only while r0 is up, which the liveness phase
 * restores.
 *
 * `persist: false` is a deliberate bug: the sequencer forgets its log on a crash and reassigns slots,
 * so replicas execute different commands at the same slot. The simulator must catch it.
 */
import { z } from 'zod'
import type { Command, NodeId } from '../../core/command.ts'
import { parseEngineConfig } from '../../core/config.ts'
import type { Engine, EngineContext, EngineModule, EngineStatus, LatencyModel } from '../../core/engine.ts'

const ConfigSchema = z.strictObject({
  persist: z.boolean(),
  syncIntervalMs: z.number().positive(),
  fetchBatchMax: z.number().int().positive(),
})
export type SequencerConfig = z.output<typeof ConfigSchema>
const DEFAULTS: SequencerConfig = { persist: true, syncIntervalMs: 20, fetchBatchMax: 64 }

export type SequencerMessage =
  | { readonly type: 'forward'; readonly cmd: Command }
  | { readonly type: 'entries'; readonly from: number; readonly cmds: readonly Command[] }
  | { readonly type: 'fetch'; readonly from: number }

const LOG_PREFIX = 'log/'
const slotKey = (slot: number): string => `${LOG_PREFIX}${String(slot).padStart(10, '0')}`
const idKey = (cmd: Command): string => `${cmd.id.client}#${cmd.id.seq}`

class Sequencer implements Engine<SequencerMessage> {
  private readonly log: Command[] = []
  private executed = 0
  /** commands that arrived here and await a reply (lost on a crash; the client retries) */
  private readonly waiting = new Set<string>()
  private readonly leader: NodeId

  constructor(private readonly ctx: EngineContext<SequencerMessage, SequencerConfig>) {
    this.leader = ctx.nodes[0]!
  }

  private get isLeader(): boolean {
    return this.ctx.self === this.leader
  }

  start(): void {
    for (const [, cmd] of this.ctx.storage.scan<Command>(LOG_PREFIX)) this.log.push(cmd)
    this.executeReady()
    if (!this.isLeader) this.ctx.setTimer('sync', this.ctx.config.syncIntervalMs)
  }

  onRequest(cmd: Command): void {
    this.waiting.add(idKey(cmd))
    if (this.isLeader) this.append(cmd)
    else this.ctx.send(this.leader, { type: 'forward', cmd })
  }

  onMessage(from: NodeId, msg: SequencerMessage): void {
    switch (msg.type) {
      case 'forward':
        if (this.isLeader) this.append(msg.cmd)
        return
      case 'entries':
        this.onEntries(msg.from, msg.cmds)
        return
      case 'fetch':
        if (this.isLeader) {
          const cmds = this.log.slice(msg.from, msg.from + this.ctx.config.fetchBatchMax)
          this.ctx.send(from, { type: 'entries', from: msg.from, cmds })
        }
        return
    }
  }

  onTimer(name: string): void {
    if (name !== 'sync') throw new Error(`unknown timer ${name}`)
    this.ctx.send(this.leader, { type: 'fetch', from: this.log.length })
    this.ctx.setTimer('sync', this.ctx.config.syncIntervalMs)
  }

  status(): EngineStatus {
    return {
      role: this.isLeader ? 'leader' : 'follower',
      leader: this.leader,
      epoch: 0,
      executed: this.executed,
    }
  }

  assertInvariants(): void {
    if (this.executed > this.log.length)
      throw new Error(`executed ${this.executed} > log length ${this.log.length}`)
  }

  private append(cmd: Command): void {
    const slot = this.log.length
    if (this.ctx.config.persist) this.ctx.storage.put(slotKey(slot), cmd)
    this.log.push(cmd)
    for (const node of this.ctx.nodes) {
      if (node !== this.ctx.self) this.ctx.send(node, { type: 'entries', from: slot, cmds: [cmd] })
    }
    this.executeReady()
  }

  private onEntries(from: number, cmds: readonly Command[]): void {
    if (this.isLeader) return
    for (const [i, cmd] of cmds.entries()) {
      const slot = from + i
      if (slot < this.log.length) continue
      if (slot > this.log.length) break // a gap: the next fetch fills it
      this.ctx.storage.put(slotKey(slot), cmd)
      this.log.push(cmd)
    }
    this.executeReady()
  }

  private executeReady(): void {
    while (this.executed < this.log.length) {
      const cmd = this.log[this.executed]!
      const result = this.ctx.execute(cmd)
      this.executed++
      const key = idKey(cmd)
      if (this.waiting.delete(key)) this.ctx.reply(cmd.id, { status: 'ok', value: result.value })
    }
  }
}

export const sequencerEngine: EngineModule<SequencerMessage, SequencerConfig> = {
  name: 'test-sequencer',
  leadership: 'leader',
  description: 'test fixture: a fixed sequencer (r0) with a durable log',
  parseConfig: (raw) => parseEngineConfig('test-sequencer', ConfigSchema, DEFAULTS, raw),
  create: (ctx) => new Sequencer(ctx),
  expectedLatencyMs(model: LatencyModel): number {
    const leader = model.nodes[0]!
    return model.clientRttMs + (model.origin === leader ? 0 : model.rttMs(model.origin, leader))
  },
}
