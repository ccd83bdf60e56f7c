/**
 * Engine name -> engine module: an explicit map, so which engines exist is visible in one place and
 * nothing registers itself by the side effect of an import. Listed in the order of the talk (DESIGN.md).
 */
import type { EngineMessage, EngineModule } from './core/engine.ts'
import { epaxosEngine } from './epaxos/index.ts'
import { fastpaxosEngine } from './fastpaxos/index.ts'
import { iosEngine } from './ios/index.ts'
import { multipaxosEngine } from './multipaxos/index.ts'
import { paxosEngine } from './paxos/index.ts'
import { raftEngine } from './raft/index.ts'
import { vrEngine } from './vr/index.ts'

// biome-ignore lint/suspicious/noExplicitAny: modules differ in message and config types
type AnyEngineModule = EngineModule<any, any>

const ENGINES: ReadonlyMap<string, AnyEngineModule> = new Map<string, AnyEngineModule>([
  [paxosEngine.name, paxosEngine],
  [multipaxosEngine.name, multipaxosEngine],
  [fastpaxosEngine.name, fastpaxosEngine],
  [epaxosEngine.name, epaxosEngine],
  [vrEngine.name, vrEngine],
  [raftEngine.name, raftEngine],
  [iosEngine.name, iosEngine],
])

export function engineNames(): string[] {
  return [...ENGINES.keys()]
}

export function findEngine(name: string): AnyEngineModule | undefined {
  return ENGINES.get(name)
}

/** The engine module for a name; throws an Error listing the known names when there is none. */
export function getEngine(name: string): EngineModule<EngineMessage, unknown> {
  const engine = ENGINES.get(name)
  if (engine === undefined) {
    throw new Error(`unknown engine '${name}'; known engines: ${engineNames().join(', ') || '(none)'}`)
  }
  return engine
}
