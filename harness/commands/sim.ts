/**
 * `consensus-bench sim`: run the deterministic simulator over many seeds (engines/sim).
 *
 *   consensus-bench sim --engine multipaxos --seeds 1-1000 [--nodes 3] [--clients 4] [--conflict 0.5]
 *                       [--read-ratio 0.5] [--config '{"batchMax":8}'] [--no-faults] [--json] [--verbose]
 *
 * Progress goes to stderr. A failing seed is printed with what broke and the one command that replays
 * it. Exit 0 when every seed passed, 3 when any seed broke safety (a correctness violation: divergent
 * execution order, a failed engine assertion, a non-linearizable history), 1 when some seed only
 * failed liveness, 2 for bad flags.
 */
import type { Command } from 'commander'
import { ConfigError, type EngineModule } from '../../engines/core/engine.ts'
import { engineNames, findEngine } from '../../engines/registry.ts'
import { FAULT_MIXES, isFaultMixName } from '../../engines/sim/faults.ts'
import { runSeeds, type SeedRunOptions, type SeedsReport } from '../../engines/sim/run-seeds.ts'
import { parseSeeds } from '../../engines/sim/seeds.ts'
import { CliError, EXIT, invalidInput } from '../exit-codes.ts'

export interface SimFlags {
  engine: string
  seeds: string
  nodes?: string
  clients?: string
  conflict?: string
  readRatio?: string
  config?: string
  safetyMs?: string
  livenessMs?: string
  /** commander's --no-faults sets faults: false */
  faults?: boolean
  /** a named fault mix: 'random' (default) or 'crash-storm' */
  faultMix?: string
  json?: boolean
  verbose?: boolean
  trace?: boolean
}

export interface SimJsonSummary {
  engine: string
  seeds: number
  violations: number
  livenessFailures: number
  failingSeeds: number[]
  linearizabilityUnknownSeeds: number[]
  /** engine event type -> seeds that emitted it (e.g. raft's snapshot-taken, snapshot-installed) */
  seedsWithEvent: Record<string, number>
  failures: Array<{ seed: number; kind: 'safety' | 'liveness'; problems: readonly string[]; replay: string }>
}

export interface SimIo {
  stdout(text: string): void
  stderr(text: string): void
  // biome-ignore lint/suspicious/noExplicitAny: any engine
  findEngine(name: string): EngineModule<any, any> | undefined
  engineNames(): string[]
}

const defaultIo: SimIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  findEngine,
  engineNames,
}

export function register(program: Command): void {
  program
    .command('sim')
    .description('run the deterministic simulator (faults, then healing) over many seeds')
    .requiredOption('--engine <name>', 'engine to simulate (see `consensus-bench engines`)')
    .option('--seeds <seeds>', 'a range a-b, a list 1,5,9, or both', '1-100')
    .option('--nodes <n>', 'replicas (default 3)')
    .option('--clients <n>', 'sequential clients (default 8)')
    .option('--conflict <c>', 'probability a command uses the shared key pool, 0..1 (default 0.5)')
    .option('--read-ratio <r>', 'probability a command is a get, 0..1 (default 0.5)')
    .option('--config <json>', 'engine config as JSON, merged over its defaults')
    .option('--safety-ms <ms>', 'simulated length of the safety phase with faults (default 3000)')
    .option('--liveness-ms <ms>', 'simulated window for the liveness phase after healing (default 10000)')
    .option('--no-faults', 'run without faults')
    .option(
      '--fault-mix <name>',
      `fault mix per seed: ${Object.keys(FAULT_MIXES).join(' | ')} (default random)`,
    )
    .option('--json', 'print {engine, seeds, violations, livenessFailures, failingSeeds} on stdout')
    .option('--verbose', 'print the fault schedule of each failing seed')
    .option('--trace', 'print every simulated event of the (single) seed on stdout, before the summary')
    .action((flags: SimFlags) => {
      process.exitCode = runSimCommand(flags)
    })
}

/** The command as a function: returns the exit code. Throws a CliError (exit 2) for bad flags. */
export function runSimCommand(flags: SimFlags, io: SimIo = defaultIo): number {
  const engine = io.findEngine(flags.engine)
  if (engine === undefined) {
    throw invalidInput(
      'sim',
      '--engine',
      `unknown engine '${flags.engine}'`,
      `use one of: ${io.engineNames().join(', ') || '(no engine registered yet)'}`,
    )
  }
  const seeds = parseSeedsFlag(flags.seeds)
  const traced = flags.trace === true
  if (traced && (seeds.length !== 1 || flags.json === true))
    throw invalidInput(
      'sim',
      '--trace',
      'traces one seed, in text',
      'give one seed (--seeds 17) and no --json',
    )
  const options: SeedRunOptions = {
    ...simOptionsFromFlags(flags, engine),
    ...(traced ? { trace: (line: string) => io.stdout(`${line}\n`) } : {}),
  }
  const startMs = performance.now()
  let lastProgressMs = startMs
  let failing = 0
  const report = runSeeds(engine, seeds, options, {
    replayFlags: replayFlags(flags),
    replayEngine: flags.engine,
    onSeed: (result, done, total) => {
      if (!result.safety.ok || !result.liveness.ok) {
        failing++
        io.stderr(`sim: seed ${result.seed} FAILED (${result.safety.ok ? 'liveness' : 'safety'})\n`)
      }
      const nowMs = performance.now()
      if (nowMs - lastProgressMs > 1000 || done === total) {
        lastProgressMs = nowMs
        io.stderr(
          `sim: ${done}/${total} seeds, ${failing} failing, ${((nowMs - startMs) / 1000).toFixed(1)} s\n`,
        )
      }
    },
  })
  const summary = summarise(report)
  if (flags.json === true) io.stdout(`${JSON.stringify(summary, null, 2)}\n`)
  else io.stdout(humanReport(report, summary, flags.verbose === true, (performance.now() - startMs) / 1000))
  if (summary.violations > 0) return EXIT.violation
  if (summary.livenessFailures > 0) return EXIT.thresholdFailed
  return EXIT.ok
}

function parseSeedsFlag(spec: string): number[] {
  try {
    const seeds = parseSeeds(spec)
    if (seeds.length === 0) throw new RangeError('no seeds')
    return seeds
  } catch (err: unknown) {
    throw invalidInput(
      'sim',
      '--seeds',
      (err as Error).message,
      'give a range like 1-1000 or a list like 1,5,9',
    )
  }
}

function numberFlag(flag: string, text: string | undefined, check: (n: number) => boolean, fix: string) {
  if (text === undefined) return undefined
  const value = Number(text)
  if (text.trim() === '' || !Number.isFinite(value) || !check(value))
    throw invalidInput('sim', flag, `'${text}' is not valid`, fix)
  return value
}

// biome-ignore lint/suspicious/noExplicitAny: any engine
function simOptionsFromFlags(flags: SimFlags, engine: EngineModule<any, any>): SeedRunOptions {
  const isInt = (min: number, max: number) => (n: number) => Number.isInteger(n) && n >= min && n <= max
  const isProbability = (n: number) => n >= 0 && n <= 1
  const nodes = numberFlag('--nodes', flags.nodes, isInt(1, 64), 'give a whole number of replicas, 1 to 64')
  const clients = numberFlag('--clients', flags.clients, isInt(0, 1000), 'give a whole number, 0 to 1000')
  const conflict = numberFlag('--conflict', flags.conflict, isProbability, 'give a probability from 0 to 1')
  const readRatio = numberFlag(
    '--read-ratio',
    flags.readRatio,
    isProbability,
    'give a probability from 0 to 1',
  )
  const safetyMs = numberFlag(
    '--safety-ms',
    flags.safetyMs,
    isInt(1, 600_000),
    'give milliseconds, 1 to 600000',
  )
  const livenessMs = numberFlag(
    '--liveness-ms',
    flags.livenessMs,
    isInt(1, 600_000),
    'give milliseconds, 1 to 600000',
  )
  const faultMix = flags.faultMix
  if (faultMix !== undefined && !isFaultMixName(faultMix))
    throw invalidInput(
      'sim',
      '--fault-mix',
      `unknown fault mix '${faultMix}'`,
      `use one of: ${Object.keys(FAULT_MIXES).join(', ')}`,
    )
  let engineConfig: unknown
  if (flags.config !== undefined) {
    try {
      engineConfig = JSON.parse(flags.config)
    } catch (err: unknown) {
      throw invalidInput(
        'sim',
        '--config',
        `not JSON: ${(err as Error).message}`,
        `give a JSON object, e.g. '{"a":1}'`,
      )
    }
    try {
      engine.parseConfig(engineConfig)
    } catch (err: unknown) {
      if (err instanceof ConfigError) throw new CliError(`sim: --config: ${err.message}`, EXIT.invalidInput)
      throw err
    }
  }
  return {
    ...(nodes === undefined ? {} : { nodes }),
    ...(clients === undefined ? {} : { clients }),
    ...(conflict === undefined ? {} : { conflict }),
    ...(readRatio === undefined ? {} : { readRatio }),
    ...(safetyMs === undefined ? {} : { safetyPhaseMs: safetyMs }),
    ...(livenessMs === undefined ? {} : { livenessPhaseMs: livenessMs }),
    ...(engineConfig === undefined ? {} : { engineConfig }),
    ...(flags.faults === false
      ? { faults: false }
      : faultMix === undefined
        ? {}
        : { faults: FAULT_MIXES[faultMix] }),
  }
}

/** The flags to repeat in a replay command: everything given except --seeds, --json and --verbose. */
function replayFlags(flags: SimFlags): string {
  const out: string[] = []
  const add = (flag: string, value: string | undefined) => {
    if (value !== undefined) out.push(`${flag} ${value}`)
  }
  add('--nodes', flags.nodes)
  add('--clients', flags.clients)
  add('--conflict', flags.conflict)
  add('--read-ratio', flags.readRatio)
  add('--safety-ms', flags.safetyMs)
  add('--liveness-ms', flags.livenessMs)
  if (flags.config !== undefined) out.push(`--config '${flags.config.replaceAll("'", "'\\''")}'`)
  if (flags.faults === false) out.push('--no-faults')
  add('--fault-mix', flags.faultMix)
  return out.join(' ')
}

function summarise(report: SeedsReport): SimJsonSummary {
  return {
    engine: report.engine,
    seeds: report.seeds,
    violations: report.failures.filter((f) => f.kind === 'safety').length,
    livenessFailures: report.failures.filter((f) => f.kind === 'liveness').length,
    failingSeeds: report.failures.map((f) => f.seed),
    linearizabilityUnknownSeeds: report.linearizabilityUnknown,
    seedsWithEvent: report.seedsWithEvent,
    failures: report.failures.map((f) => ({
      seed: f.seed,
      kind: f.kind,
      problems: f.problems,
      replay: f.replay,
    })),
  }
}

function humanReport(
  report: SeedsReport,
  summary: SimJsonSummary,
  verbose: boolean,
  elapsedS: number,
): string {
  const lines = [
    `${report.engine}: ${report.seeds} seeds, ${report.passed} passed, ${summary.violations} safety violations, ` +
      `${summary.livenessFailures} liveness failures (${report.committed} commands committed, ` +
      `${report.events} events, ${elapsedS.toFixed(1)} s)`,
  ]
  const snapshots = ['snapshot-taken', 'snapshot-installed', 'snapshot-restored'] as const
  if (snapshots.some((type) => (report.seedsWithEvent[type] ?? 0) > 0)) {
    const [taken, installed, restored] = snapshots.map((type) => report.seedsWithEvent[type] ?? 0)
    lines.push(
      `snapshots: taken on ${taken} seeds, installed from a leader on ${installed}, restored at a restart on ${restored}`,
    )
  }
  if (report.linearizabilityUnknown.length > 0) {
    lines.push(
      `note: the checker ran out of budget (verdict unknown) on seeds ${report.linearizabilityUnknown.join(', ')}`,
    )
  }
  for (const f of report.failures) {
    lines.push('', `seed ${f.seed}: ${f.kind === 'safety' ? 'SAFETY VIOLATION' : 'LIVENESS FAILURE'}`)
    for (const problem of f.problems) lines.push(`  ${problem}`)
    if (verbose) for (const fault of f.faultsApplied) lines.push(`  fault: ${fault}`)
    lines.push(`  replay: ${f.replay}`)
  }
  return `${lines.join('\n')}\n`
}
