/**
 * The conformance suite every engine runs (issue 2 item 6; Hono's shared-suite pattern):
 *
 *   conformanceSuite(multipaxosEngine)                      // in engines/multipaxos/conformance.test.ts
 *   conformanceSuite(fixture, { skip: { purity: 'a test fixture has no engines/<name>/ folder' } })
 *
 * It runs the deterministic simulator: a fault-free run, then random fault seeds (200 by default,
 * CONFORMANCE_SEEDS=n for more), judged on invariants, linearizability, identical per-key execution
 * order and liveness after healing; then crash-storm seeds (100, CONFORMANCE_STORM_SEEDS=n), where
 * short crashes come every ~60 ms and hit the narrow windows random faults rarely reach; the same seed
 * must give the same trace hash; and the engine's sources must obey the purity rule. A failing seed is
 * reported with the command that replays it.
 *
 * `runConformanceSeeds` runs the same fault seeds as a plain function returning the failures, so a test
 * can show that a broken engine (a test-only fault switch) fails the suite.
 */
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import type { EngineModule } from './core/engine.ts'
import { checkPurity } from './core/runtime/purity.ts'
import { CRASH_STORM } from './sim/faults.ts'
import {
  replayCommand,
  replayFlagsFor,
  type SeedFailure,
  type SeedRunOptions,
  type SeedsReport,
  runSeeds as simulateSeeds,
} from './sim/run-seeds.ts'
import { simulate } from './sim/simulator.ts'

// biome-ignore lint/suspicious/noExplicitAny: any engine
type AnyEngineModule = EngineModule<any, any>

export type ConformanceCheck =
  | 'fault-free'
  | 'invariants'
  | 'linearizable'
  | 'execution-order'
  | 'liveness'
  | 'crash-storm'
  | 'determinism'
  | 'purity'

export interface ConformanceOptions {
  /** random fault seeds (1..seeds); default 200, or the CONFORMANCE_SEEDS environment variable */
  readonly seeds?: number
  /** first seed; default 1 (CONFORMANCE_SEED_START overrides) */
  readonly firstSeed?: number
  readonly engineConfig?: unknown
  /** replicas; default 3 */
  readonly nodes?: number
  /** other simulator options (clients, conflict, phases...) */
  readonly sim?: Omit<SeedRunOptions, 'engineConfig' | 'nodes'>
  /** checks this engine skips, each with the reason (shown in the test output) */
  readonly skip?: Partial<Record<ConformanceCheck, string>>
  /**
   * engine event types (EngineEvent['type']) the random fault seeds must emit, each on at least
   * `minSeeds` of them: proof that a feature under test (e.g. raft's snapshots) ran at all
   */
  readonly expectEvents?: { readonly types: readonly string[]; readonly minSeeds: number }
  /** the engine's source folder for the purity rule; default engines/<module.name> */
  readonly sourceDir?: string
}

const ENGINES_DIR = dirname(fileURLToPath(import.meta.url))
export const DEFAULT_CONFORMANCE_SEEDS = 200
/** crash-storm seeds (frequent short crashes) after the random-fault seeds; CONFORMANCE_STORM_SEEDS overrides */
export const DEFAULT_STORM_SEEDS = 100

function stormSeedCount(): number {
  const fromEnv = Number(process.env.CONFORMANCE_STORM_SEEDS)
  return Number.isInteger(fromEnv) && fromEnv >= 0 ? fromEnv : DEFAULT_STORM_SEEDS
}

/** The snapshot events (log compaction) a compacting engine's suite expects: each on a third of the seeds. */
export const SNAPSHOT_EVENT_TYPES = ['snapshot-taken', 'snapshot-installed', 'snapshot-restored'] as const

/**
 * The conformance suite with log compaction on nearly every seed (`snapshotEveryEntries`: 5, seeds 1..seeds),
 * which must also show each snapshot event on a third of the seeds at least.
 */
export function compactionConformanceSuite(module: AnyEngineModule, seeds: number): void {
  conformanceSuite(module, {
    engineConfig: { snapshotEveryEntries: 5 },
    seeds,
    expectEvents: { types: SNAPSHOT_EVENT_TYPES, minSeeds: Math.ceil(seeds / 3) },
  })
}

/** Seeds 1..n (or from CONFORMANCE_SEEDS / CONFORMANCE_SEED_START). */
export function conformanceSeeds(options: Pick<ConformanceOptions, 'seeds' | 'firstSeed'> = {}): number[] {
  const fromEnv = Number(process.env.CONFORMANCE_SEEDS)
  const count =
    Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : (options.seeds ?? DEFAULT_CONFORMANCE_SEEDS)
  const startEnv = Number(process.env.CONFORMANCE_SEED_START)
  const first = Number.isInteger(startEnv) && startEnv >= 0 ? startEnv : (options.firstSeed ?? 1)
  return Array.from({ length: count }, (_, i) => first + i)
}

/** Runs the random-fault seeds and returns the failing ones (empty: the engine passed). */
export function runSeeds(
  module: AnyEngineModule,
  seeds: readonly number[],
  options: Pick<ConformanceOptions, 'engineConfig' | 'nodes' | 'sim'> = {},
): SeedFailure[] {
  const opts = simOptions(options)
  return suiteFailures(simulateSeeds(module, seeds, opts), opts)
}

/**
 * What the suite counts as failing in a report: the failed seeds, and the seeds whose history the
 * checker could not decide within its budget. The `sim` command only reports the latter (an 'unknown'
 * verdict is not a violation), but a suite that passed them would pass an engine whose histories were
 * never checked.
 */
export function suiteFailures(report: SeedsReport, options: SeedRunOptions = {}): SeedFailure[] {
  const failed = new Set(report.failures.map((f) => f.seed))
  const undecided: SeedFailure[] = report.linearizabilityUnknown
    .filter((seed) => !failed.has(seed))
    .map((seed) => ({
      seed,
      kind: 'safety',
      linearizabilityViolation: false,
      problems: ['linearizability not checked: the checker ran out of its time budget (verdict unknown)'],
      faultsApplied: [],
      replay: replayCommand(report.engine, seed, replayFlagsFor(options)),
    }))
  return [...report.failures, ...undecided]
}

/**
 * Everything the suite simulates with faults: the random-fault seeds, then the crash-storm seeds.
 * Returns every failing seed of both (empty: the engine passed). A test that shows a broken engine
 * fails the suite calls this.
 */
export function runConformanceSeeds(
  module: AnyEngineModule,
  options: Pick<ConformanceOptions, 'engineConfig' | 'nodes' | 'sim' | 'seeds' | 'firstSeed'> = {},
): SeedFailure[] {
  return [...runSeeds(module, conformanceSeeds(options), options), ...runStormSeeds(module, options)]
}

function runStormSeeds(
  module: AnyEngineModule,
  options: Pick<ConformanceOptions, 'engineConfig' | 'nodes' | 'sim'>,
): SeedFailure[] {
  const seeds = Array.from({ length: stormSeedCount() }, (_, i) => i + 1)
  return runSeeds(module, seeds, { ...options, sim: { ...(options.sim ?? {}), faults: CRASH_STORM } })
}

function simOptions(options: Pick<ConformanceOptions, 'engineConfig' | 'nodes' | 'sim'>): SeedRunOptions {
  return {
    ...(options.sim ?? {}),
    ...(options.engineConfig === undefined ? {} : { engineConfig: options.engineConfig }),
    ...(options.nodes === undefined ? {} : { nodes: options.nodes }),
  }
}

/** One line per failure, each with its replay command; for assertion messages. */
export function describeFailures(failures: readonly SeedFailure[], limit = 10): string {
  const lines = failures
    .slice(0, limit)
    .map((f) => `seed ${f.seed} (${f.kind}): ${f.problems.join(' / ')}\n    replay: ${f.replay}`)
  if (failures.length > limit) lines.push(`... and ${failures.length - limit} more failing seeds`)
  return lines.join('\n')
}

export function conformanceSuite(module: AnyEngineModule, options: ConformanceOptions = {}): void {
  const skip = options.skip ?? {}
  const opts = simOptions(options)
  const seeds = conformanceSeeds(options)
  const testOrSkip = (check: ConformanceCheck, name: string, body: () => void): void => {
    const reason = skip[check]
    if (reason !== undefined) test(name, { skip: reason }, () => {})
    else test(name, body)
  }

  // the fault seeds run once; the tests below judge different aspects of the same runs
  let report: SeedsReport | undefined
  const faultRuns = (): SeedsReport => {
    report ??= simulateSeeds(module, seeds, opts)
    return report
  }
  const failuresWhere = (match: (f: SeedFailure) => boolean): SeedFailure[] =>
    faultRuns().failures.filter(match)

  describe(`conformance: ${module.name}`, () => {
    testOrSkip(
      'fault-free',
      'a fault-free run completes every command, linearizably, on every replica',
      () => {
        const result = simulate({ ...opts, engine: module, seed: seeds[0] ?? 1, faults: false })
        assert.deepEqual(result.safety.problems, [], 'safety')
        assert.deepEqual(result.liveness.problems, [], 'liveness')
        assert.equal(result.linearizability.verdict, 'linearizable')
        assert.ok(result.stats.committed > 0, 'no command committed')
        assert.equal(result.stats.unknown, 0, 'commands left without an answer')
        assert.equal(result.stats.failed, 0, 'commands rejected in a fault-free run')
      },
    )

    testOrSkip('invariants', `random fault seeds (${seeds.length}): no assertion or handler throws`, () => {
      const failing = failuresWhere((f) => f.problems.some((p) => / threw in /.test(p)))
      assert.equal(failing.length, 0, `\n${describeFailures(failing)}`)
    })

    testOrSkip('linearizable', `random fault seeds (${seeds.length}): linearizable histories`, () => {
      const failing = failuresWhere((f) => f.linearizabilityViolation)
      assert.equal(failing.length, 0, `\n${describeFailures(failing)}`)
      const undecided = suiteFailures({ ...faultRuns(), failures: [] }, opts)
      assert.equal(undecided.length, 0, `\n${describeFailures(undecided)}`)
    })

    testOrSkip(
      'execution-order',
      `random fault seeds (${seeds.length}): identical per-key execution order`,
      () => {
        const failing = failuresWhere((f) =>
          f.problems.some((p) => /execution order diverged|executed .* twice/.test(p)),
        )
        assert.equal(failing.length, 0, `\n${describeFailures(failing)}`)
      },
    )

    testOrSkip('liveness', `random fault seeds (${seeds.length}): liveness after healing`, () => {
      const failing = failuresWhere((f) => f.kind === 'liveness')
      assert.equal(failing.length, 0, `\n${describeFailures(failing)}`)
      // and nothing else failed either (a safety failure of another kind would show here)
      const all = suiteFailures(faultRuns(), opts)
      assert.equal(all.length, 0, `\n${describeFailures(all)}`)
    })

    const expected = options.expectEvents
    if (expected !== undefined)
      test(`random fault seeds (${seeds.length}): ${expected.types.join(', ')} each on ${expected.minSeeds}+ seeds`, () => {
        const on = faultRuns().seedsWithEvent
        const short = expected.types.filter((type) => (on[type] ?? 0) < expected.minSeeds)
        assert.deepEqual(short, [], `seeds with each event: ${JSON.stringify(on)}`)
      })

    testOrSkip(
      'crash-storm',
      `crash-storm seeds (${stormSeedCount()}): frequent short crashes, every check above`,
      () => {
        const failing = runStormSeeds(module, options)
        assert.equal(failing.length, 0, `\n${describeFailures(failing)}`)
      },
    )

    testOrSkip('determinism', 'the same seed gives the same trace hash', () => {
      const seed = seeds[Math.min(seeds.length - 1, 6)] ?? 7
      const first = simulate({ ...opts, engine: module, seed, checkLinearizability: false })
      const second = simulate({ ...opts, engine: module, seed, checkLinearizability: false })
      assert.equal(second.traceHash, first.traceHash, `seed ${seed} replayed differently`)
      assert.deepEqual(second.history, first.history)
      const other = simulate({ ...opts, engine: module, seed: seed + 1, checkLinearizability: false })
      assert.notEqual(other.traceHash, first.traceHash, 'different seeds gave the same trace')
    })

    testOrSkip(
      'purity',
      `engines/${module.name}/ is pure (no node:*, clock, randomness, timers, console)`,
      () => {
        const dir = options.sourceDir ?? join(ENGINES_DIR, module.name)
        assert.ok(existsSync(dir), `no source folder ${dir}: pass sourceDir, or skip purity with a reason`)
        const violations = checkPurity(dir)
        assert.deepEqual(
          violations.map((v) => `${v.file}:${v.line}: ${v.rule}: ${v.text}`),
          [],
        )
      },
    )
  })
}
