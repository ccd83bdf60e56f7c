/**
 * The engine contract (DESIGN.md, "The engine contract").
 *
 * An engine is a pure, event-driven state machine: it never does I/O and never reads a clock or a random
 * source of its own. The same engine code runs inside the simulator (engines/sim), inside a replica
 * process (engines/host) and inside a container. Everything it may do goes through EngineContext.
 */
import type { Command, CommandId, NodeId, Outcome, Result } from './command.ts'
import type { KvSnapshot } from './kv.ts'

export type { KvSnapshot } from './kv.ts'

/** Every engine message is plain data with a string discriminant; the runtime counts messages by type. */
export interface EngineMessage {
  readonly type: string
}

/**
 * Durable state. Writes made during one handler are durable before any message or reply sent by that
 * handler leaves the node (persist, then send). Reads see every earlier write at once.
 * Values are plain data (what msgpack encodes); the runtime copies them, so mutating a value after
 * `put` does not change what is stored.
 */
export interface Storage {
  get<T>(key: string): T | undefined
  put(key: string, value: unknown): void
  delete(key: string): void
  /** Every stored [key, value] whose key starts with prefix, in ascending key order. */
  scan<T>(prefix: string): Array<[string, T]>
}

/** Observability events: the runtime counts them in /metrics and the simulator records them. */
export type EngineEvent =
  | { readonly type: 'commit'; readonly commands: number }
  | { readonly type: 'fast-path' }
  | { readonly type: 'slow-path' }
  | { readonly type: 'elected'; readonly epoch: number }
  | { readonly type: 'stepped-down'; readonly epoch: number }
  | { readonly type: 'recovery'; readonly detail: string }
  /** log compaction: the engine took a snapshot of the state machine covering its log up to `index` */
  | { readonly type: 'snapshot-taken'; readonly index: number }
  /** a snapshot sent by another replica (e.g. Raft's InstallSnapshot) replaced the state machine */
  | { readonly type: 'snapshot-installed'; readonly index: number }
  /** a restart began from the snapshot in durable storage (then replays the log after it) */
  | { readonly type: 'snapshot-restored'; readonly index: number }

export type EngineRole = 'leader' | 'follower' | 'candidate' | 'recovering' | 'peer'

/** A pure snapshot of what the engine believes, for /health, tests and the "kill the leader" fault. */
export interface EngineStatus {
  readonly role: EngineRole
  /** the node this replica believes leads, when the protocol has one and it knows */
  readonly leader: NodeId | null
  /** term, view or ballot round */
  readonly epoch: number
  /** how many log positions / instances this replica has executed */
  readonly executed: number
}

export interface EngineContext<Msg extends EngineMessage, Config> {
  readonly self: NodeId
  /** every replica, in a fixed order shared by all replicas (self included) */
  readonly nodes: readonly NodeId[]
  readonly config: Config
  /** milliseconds, monotonic; simulated (and possibly skewed) time in the simulator */
  now(): number
  /** uniform in [0, 1), from the runtime's seeded source */
  random(): number
  send(to: NodeId, msg: Msg): void
  /** one timer per name; setting it again replaces it */
  setTimer(name: string, afterMs: number): void
  clearTimer(name: string): void
  readonly storage: Storage
  /** apply to the replicated KV state machine, in the agreed order; at most once per command id */
  execute(cmd: Command): Result
  /**
   * Log compaction: the state machine's whole state (data and the client sessions that make execution
   * at-most-once) as plain data, to store or send. It reflects every command executed so far.
   */
  snapshotState(): KvSnapshot
  /**
   * Replaces the state machine's state with a snapshot from `snapshotState` (of this replica, from
   * storage after a restart, or of another replica, received in a message). Commands the snapshot covers
   * are duplicates afterwards. Install only a state that extends what was executed here (an agreed
   * prefix at least as long); the simulator checks this.
   */
  installState(snapshot: KvSnapshot): void
  /** answer the client whose command arrived at this replica */
  reply(id: CommandId, outcome: Outcome): void
  emit(event: EngineEvent): void
}

export interface Engine<Msg extends EngineMessage> {
  /** first boot, and every restart: recover from ctx.storage */
  start(): void
  /** a client command arrived at this replica */
  onRequest(cmd: Command): void
  onMessage(from: NodeId, msg: Msg): void
  onTimer(name: string): void
  status(): EngineStatus
  /** throws when an internal invariant does not hold; the simulator calls it after every event */
  assertInvariants?(): void
}

/** The facts about a deployment that the message-pattern latency bound needs. */
export interface LatencyModel {
  readonly nodes: readonly NodeId[]
  /** round-trip time between two replicas, ms */
  rttMs(a: NodeId, b: NodeId): number
  /** the replica the client sends its commands to */
  readonly origin: NodeId
  /** round-trip time between the client and its origin replica, ms */
  readonly clientRttMs: number
  /** for leader-based engines: the leader to assume (the configured or initial one) */
  readonly leader: NodeId
}

export type Leadership = 'leaderless' | 'on-demand' | 'leader' | 'delegating'

export interface EngineModule<Msg extends EngineMessage = EngineMessage, Config = unknown> {
  readonly name: string
  readonly leadership: Leadership
  readonly description: string
  /**
   * Validates raw config (from an experiment file or the command line) merged over the defaults.
   * Unknown keys are rejected. Throws a ConfigError naming the field and the fix.
   */
  parseConfig(raw: unknown): Config
  create(ctx: EngineContext<Msg, Config>): Engine<Msg>
  /**
   * Features beyond the protocol's basic form (as its paper gives it) that this engine's code carries,
   * in a few words each ('log compaction', 'check-quorum'): the understandability claim weighs code
   * size, and must not compare an engine with them against one without as if alike.
   */
  readonly extras?: readonly string[]
  /** the ideal client latency (ms) from the protocol's message pattern: the physical bound */
  expectedLatencyMs(model: LatencyModel, config: Config): number
}

/** Invalid engine configuration. `field` is a dotted path; `fix` says what to do about it. */
export class ConfigError extends Error {
  readonly code = 'ERR_ENGINE_CONFIG'
  constructor(
    readonly field: string,
    problem: string,
    readonly fix: string,
  ) {
    super(`${field}: ${problem} (fix: ${fix})`)
    this.name = 'ConfigError'
  }
}
