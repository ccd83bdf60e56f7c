/**
 * Many seeds, one verdict: runs the simulator once per seed and keeps what failed, with the command
 * that replays each failure. The `sim` command and the conformance suite both use it.
 */
import type { EngineModule } from '../core/engine.ts'
import { CRASH_STORM } from './faults.ts'
import { type SimOptions, type SimResult, simulate } from './simulator.ts'

export type SeedRunOptions = Omit<SimOptions, 'engine' | 'seed'>

export interface SeedFailure {
  readonly seed: number
  /** 'safety' (order divergence, invariant, linearizability) wins over 'liveness' */
  readonly kind: 'safety' | 'liveness'
  readonly linearizabilityViolation: boolean
  readonly problems: readonly string[]
  readonly faultsApplied: readonly string[]
  /** the one command that replays this seed */
  readonly replay: string
}

export interface SeedsReport {
  readonly engine: string
  readonly seeds: number
  readonly passed: number
  readonly failures: SeedFailure[]
  /** seeds whose history the checker could not decide within its budget (not failures) */
  readonly linearizabilityUnknown: number[]
  readonly committed: number
  readonly events: number
  /** engine event type (EngineEvent) -> how many seeds emitted it at least once */
  readonly seedsWithEvent: Record<string, number>
}

export interface RunSeedsHooks {
  /** called after each seed, for progress */
  readonly onSeed?: (result: SimResult, done: number, total: number) => void
  /** the CLI flags that reproduce these options (appended to the replay command) */
  readonly replayFlags?: string
  /** the name the engine is registered under, for the replay command; default its module name */
  readonly replayEngine?: string
}

export function runSeeds(
  // biome-ignore lint/suspicious/noExplicitAny: any engine
  engine: EngineModule<any, any>,
  seeds: readonly number[],
  options: SeedRunOptions = {},
  hooks: RunSeedsHooks = {},
): SeedsReport {
  const failures: SeedFailure[] = []
  const unknown: number[] = []
  let committed = 0
  let events = 0
  const seedsWithEvent: Record<string, number> = {}
  const flags = hooks.replayFlags ?? replayFlagsFor(options)
  seeds.forEach((seed, index) => {
    const result = simulate({ ...options, engine, seed })
    committed += result.stats.committed
    events += result.stats.events
    for (const [type, count] of Object.entries(result.stats.engineEvents))
      if (count > 0) seedsWithEvent[type] = (seedsWithEvent[type] ?? 0) + 1
    if (result.linearizability.verdict === 'unknown') unknown.push(seed)
    const failure = seedFailure(result, flags, hooks.replayEngine)
    if (failure !== null) failures.push(failure)
    hooks.onSeed?.(result, index + 1, seeds.length)
  })
  return {
    engine: engine.name,
    seeds: seeds.length,
    passed: seeds.length - failures.length,
    failures,
    linearizabilityUnknown: unknown,
    committed,
    events,
    seedsWithEvent,
  }
}

/** What went wrong in one run, or null when it passed. */
export function seedFailure(
  result: SimResult,
  replayFlags = '',
  engineName = result.engine,
): SeedFailure | null {
  if (result.safety.ok && result.liveness.ok) return null
  const kind = result.safety.ok ? 'liveness' : 'safety'
  return {
    seed: result.seed,
    kind,
    linearizabilityViolation: result.linearizability.verdict === 'violation',
    problems: kind === 'safety' ? result.safety.problems : result.liveness.problems,
    faultsApplied: result.faultsApplied,
    replay: replayCommand(engineName, result.seed, replayFlags),
  }
}

export function replayCommand(engine: string, seed: number, flags: string): string {
  return `consensus-bench sim --engine ${engine} --seeds ${seed}${flags === '' ? '' : ` ${flags}`}`
}

/** The CLI flags for the options the `sim` command can set (others have no flag and are omitted). */
export function replayFlagsFor(options: SeedRunOptions): string {
  const flags: string[] = []
  if (options.nodes !== undefined) flags.push(`--nodes ${options.nodes}`)
  if (options.clients !== undefined) flags.push(`--clients ${options.clients}`)
  if (options.conflict !== undefined) flags.push(`--conflict ${options.conflict}`)
  if (options.readRatio !== undefined) flags.push(`--read-ratio ${options.readRatio}`)
  if (options.safetyPhaseMs !== undefined) flags.push(`--safety-ms ${options.safetyPhaseMs}`)
  if (options.livenessPhaseMs !== undefined) flags.push(`--liveness-ms ${options.livenessPhaseMs}`)
  if (options.faults === false) flags.push('--no-faults')
  if (options.faults === CRASH_STORM) flags.push('--fault-mix crash-storm')
  if (options.engineConfig !== undefined) flags.push(`--config '${JSON.stringify(options.engineConfig)}'`)
  return flags.join(' ')
}
