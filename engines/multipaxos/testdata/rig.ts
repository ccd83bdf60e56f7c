/**
 * A small deterministic cluster rig for unit tests of one engine, before (and besides) the simulator:
 * a mock EngineContext per node, one event queue ordered by (time, sequence), fixed link delay, and
 * drop / crash / restart under the test's control. Not a simulator: no random faults, no history checks.
 */
import type { Command, CommandId, NodeId, Outcome } from '../../core/command.ts'
import type { Engine, EngineContext, EngineEvent, EngineMessage, EngineModule } from '../../core/engine.ts'
import { KvStateMachine } from '../../core/kv.ts'
import { Rng } from '../../core/runtime/rng.ts'
import { SimStorage } from '../../sim/storage.ts'

type Event =
  | {
      at: number
      seq: number
      kind: 'msg'
      from: NodeId
      to: NodeId
      msg: EngineMessage
      incarnation: number
    }
  | { at: number; seq: number; kind: 'timer'; node: NodeId; name: string; incarnation: number; token: number }

export interface Delivered<Msg> {
  readonly at: number
  readonly from: NodeId
  readonly to: NodeId
  readonly msg: Msg
}

export class RigNode<Msg extends EngineMessage> {
  readonly storage = new SimStorage()
  kv = new KvStateMachine()
  engine: Engine<Msg> | null = null
  incarnation = 0
  readonly timers = new Map<string, number>()
  readonly replies: Array<{ id: CommandId; outcome: Outcome; at: number }> = []
  readonly events: EngineEvent[] = []
  /** command keys executed, in order, this incarnation */
  executedLog: string[] = []
  constructor(readonly id: NodeId) {}
}

export class ClusterRig<Msg extends EngineMessage, Config> {
  readonly nodes: Map<NodeId, RigNode<Msg>>
  readonly ids: NodeId[]
  now = 0
  private seq = 0
  private timerToken = 0
  private readonly queue: Event[] = []
  private unsorted = false
  readonly random: () => number
  /** return true to drop a message */
  dropIf: (from: NodeId, to: NodeId, msg: Msg) => boolean = () => false
  readonly delivered: Array<Delivered<Msg>> = []
  /** extra uniform delay in [0, jitterMs) per message: reorders messages */
  jitterMs = 0
  /** probability that a message is delivered twice */
  duplicateProb = 0
  /** record delivered messages (tests that inspect them); off for long fuzz runs */
  recordDelivered = true
  /** bound on events per run call: a protocol that never goes quiet fails the test instead of hanging */
  maxEvents = 200_000

  constructor(
    private readonly module: EngineModule<Msg, Config>,
    n: number,
    private readonly config: Config,
    readonly linkDelayMs = 5,
    seed = 1,
  ) {
    this.ids = Array.from({ length: n }, (_, i) => `r${i}`)
    this.nodes = new Map(this.ids.map((id) => [id, new RigNode<Msg>(id)]))
    const rng = new Rng(seed, 'rig')
    this.random = () => rng.next()
  }

  node(id: NodeId): RigNode<Msg> {
    const node = this.nodes.get(id)
    if (node === undefined) throw new Error(`no node ${id}`)
    return node
  }

  startAll(): void {
    for (const id of this.ids) this.boot(id)
  }

  boot(id: NodeId): void {
    const node = this.node(id)
    node.incarnation++
    node.kv = new KvStateMachine()
    node.executedLog = []
    node.timers.clear()
    node.engine = this.module.create(this.context(node))
    node.engine.start()
    node.engine.assertInvariants?.()
  }

  crash(id: NodeId): void {
    const node = this.node(id)
    node.engine = null
    node.incarnation++
    node.timers.clear()
  }

  request(id: NodeId, cmd: Command): void {
    const node = this.node(id)
    if (node.engine === null) throw new Error(`${id} is down`)
    node.engine.onRequest(cmd)
    node.engine.assertInvariants?.()
  }

  /** Runs events until the queue is empty or time passes `untilMs`. */
  runUntil(untilMs: number): void {
    let events = 0
    while (this.queue.length > 0) {
      if (this.unsorted) {
        this.queue.sort((a, b) => a.at - b.at || a.seq - b.seq)
        this.unsorted = false
      }
      const ev = this.queue[0]!
      if (ev.at > untilMs) break
      this.queue.shift()
      this.now = Math.max(this.now, ev.at)
      if (++events > this.maxEvents) throw new Error('rig: too many events')
      this.dispatch(ev)
    }
    this.now = Math.max(this.now, untilMs)
  }

  runFor(ms: number): void {
    this.runUntil(this.now + ms)
  }

  private dispatch(ev: Event): void {
    if (ev.kind === 'msg') {
      const node = this.node(ev.to)
      if (node.engine === null) return
      if (this.recordDelivered)
        this.delivered.push({ at: this.now, from: ev.from, to: ev.to, msg: ev.msg as Msg })
      node.engine.onMessage(ev.from, structuredClone(ev.msg) as Msg)
      node.engine.assertInvariants?.()
    } else {
      const node = this.node(ev.node)
      if (node.engine === null || ev.incarnation !== node.incarnation) return
      if (node.timers.get(ev.name) !== ev.token) return
      node.timers.delete(ev.name)
      node.engine.onTimer(ev.name)
      node.engine.assertInvariants?.()
    }
  }

  private context(node: RigNode<Msg>): EngineContext<Msg, Config> {
    const incarnation = node.incarnation
    return {
      self: node.id,
      nodes: this.ids,
      config: this.config,
      now: () => this.now,
      random: () => this.random(),
      send: (to, msg) => {
        if (node.incarnation !== incarnation) return
        if (this.dropIf(node.id, to, msg)) return
        const copies = this.duplicateProb > 0 && this.random() < this.duplicateProb ? 2 : 1
        for (let c = 0; c < copies; c++) {
          const jitter = this.jitterMs > 0 ? this.random() * this.jitterMs : 0
          this.unsorted = true
          this.queue.push({
            at: this.now + this.linkDelayMs + jitter,
            seq: this.seq++,
            kind: 'msg',
            from: node.id,
            to,
            msg: structuredClone(msg),
            incarnation,
          })
        }
      },
      setTimer: (name, afterMs) => {
        const token = ++this.timerToken
        node.timers.set(name, token)
        this.unsorted = true
        this.queue.push({
          at: this.now + afterMs,
          seq: this.seq++,
          kind: 'timer',
          node: node.id,
          name,
          incarnation,
          token,
        })
      },
      clearTimer: (name) => {
        node.timers.delete(name)
      },
      storage: node.storage,
      execute: (cmd) => {
        node.executedLog.push(`${cmd.id.client}#${cmd.id.seq}`)
        return node.kv.apply(cmd).result
      },
      snapshotState: () => node.kv.snapshot(),
      installState: (snapshot) => node.kv.install(snapshot),
      reply: (id, outcome) => {
        node.replies.push({ id, outcome, at: this.now })
      },
      emit: (event) => {
        node.events.push(event)
      },
    }
  }
}

let seqCounter = 0
export function put(client: string, key: string, value: string, seq = ++seqCounter): Command {
  return { id: { client, seq }, op: 'put', key, value }
}
export function get(client: string, key: string, seq = ++seqCounter): Command {
  return { id: { client, seq }, op: 'get', key }
}
