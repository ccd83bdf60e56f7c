/**
 * One engine's protocol cost alone: n replicas of an engine in one process, messages passed by reference
 * through a FIFO queue (no encoding, no network, no copies), storage a plain Map, time frozen (so no
 * timer ever fires: the initial leader's election is the only thing that is not a client command).
 * What it measures is the engine's own CPU per committed command, which the runtimes then add to.
 */
import type { Command, CommandId, NodeId, Outcome } from '../engines/core/command.ts'
import type { Engine, EngineMessage, EngineModule, Storage } from '../engines/core/engine.ts'
import { KvStateMachine } from '../engines/core/kv.ts'
import { scanMap } from '../engines/host/storage.ts'

class MapStorage implements Storage {
  private readonly map = new Map<string, unknown>()
  get<T>(key: string): T | undefined {
    return this.map.get(key) as T | undefined
  }
  put(key: string, value: unknown): void {
    this.map.set(key, value)
  }
  delete(key: string): void {
    this.map.delete(key)
  }
  scan<T>(prefix: string): Array<[string, T]> {
    return scanMap<T>(this.map, prefix)
  }
}

export interface InMemoryCluster {
  /** submits commands at `origin` and runs until every message is delivered; returns replies seen */
  submit(origin: NodeId, commands: readonly Command[]): number
  readonly ids: readonly NodeId[]
  messagesDelivered(): number
}

export function startInMemoryCluster<Msg extends EngineMessage, Config>(
  module: EngineModule<Msg, Config>,
  n: number,
  config: Config,
): InMemoryCluster {
  const ids = Array.from({ length: n }, (_, i) => `r${i}`)
  const queue: Array<{ from: NodeId; to: NodeId; msg: Msg }> = []
  const engines = new Map<NodeId, Engine<Msg>>()
  let replies = 0
  let delivered = 0
  let randomState = 1
  for (const id of ids) {
    const kv = new KvStateMachine()
    const engine = module.create({
      self: id,
      nodes: ids,
      config,
      now: () => 0,
      random: () => {
        randomState = (randomState * 48271) % 2147483647
        return randomState / 2147483647
      },
      send: (to, msg) => queue.push({ from: id, to, msg }),
      setTimer: () => {},
      clearTimer: () => {},
      storage: new MapStorage(),
      execute: (cmd) => kv.apply(cmd).result,
      snapshotState: () => kv.snapshot(),
      installState: (snapshot) => kv.install(snapshot),
      reply: (_id: CommandId, _outcome: Outcome) => {
        replies++
      },
      emit: () => {},
    })
    engines.set(id, engine)
  }
  const drain = (): void => {
    for (let i = 0; i < queue.length; i++) {
      const { from, to, msg } = queue[i]!
      engines.get(to)!.onMessage(from, msg)
      delivered++
    }
    queue.length = 0
  }
  for (const engine of engines.values()) engine.start()
  drain()
  return {
    ids,
    submit(origin, commands) {
      const before = replies
      const engine = engines.get(origin)!
      for (const cmd of commands) engine.onRequest(cmd)
      drain()
      return replies - before
    },
    messagesDelivered: () => delivered,
  }
}
