/**
 * `consensus-bench run`: one measured run on local replica processes. A thin layer over runBenchmark:
 * flags -> options (invalid -> exit 2 naming the flag), progress on stderr, a table (or --json) on stdout,
 * exit 3 when the history is not linearizable.
 */
import { readFileSync } from 'node:fs'
import Table from 'cli-table3'
import type { Command } from 'commander'
import { runElectionExperiment } from '../election.ts'
import { CliError, EXIT, invalidInput } from '../exit-codes.ts'
import type { RunSummary } from '../results/summary.ts'
import { RunOptionError, type RunOptionsInput, runBenchmark } from '../run.ts'
import { nodeCostTable } from './node-cost-table.ts'
import { electionPlanOfRequest, electionTable, matrixEpilogue, runMatrixCommand } from './run-experiment.ts'
import {
  addLoadFlags,
  LOAD_FLAG_OF_FIELD,
  type LoadFlags,
  loadOptionsFromFlags,
  loadSummaryLines,
} from './run-load-flags.ts'

/**
 * '10s', '500ms', '2m', '1.5s' -> milliseconds; null when it is not a duration. Zero ('0', '0s') only
 * with `allowZero` (a warm-up or a fault time may be zero; a run or a timeout may not).
 */
export function parseDurationMs(text: string, allowZero = false): number | null {
  if (allowZero && text.trim() === '0') return 0
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(text.trim())
  if (m === null) return null
  const n = Number(m[1])
  const ms = m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : n * 60_000
  if (!Number.isFinite(ms)) return null
  return ms > 0 || (allowZero && ms === 0) ? Math.round(ms) : null
}

const FLAG_OF_FIELD: Record<string, string> = {
  engine: '--engine',
  replicas: '--replicas',
  ...LOAD_FLAG_OF_FIELD,
  conflict: '--conflict',
  durationMs: '--duration',
  warmupMs: '--warmup',
  idleBaselineMs: '--idle-baseline',
  readRatio: '--read-ratio',
  seed: '--seed',
  faults: '--faults',
  requestTimeoutMs: '--request-timeout',
  resultsRoot: '--results',
  topology: '--topology',
  leaderSite: '--leader-site',
  calibrationProbes: '--calibration-probes',
  launcher: '--launcher',
  processingDelayMs: '--processing-delay',
}

export interface RunFlags extends LoadFlags {
  engine?: string
  replicas?: string
  topology?: string
  leaderSite?: string
  calibrationProbes?: string
  realtime?: boolean
  conflict: string
  duration: string
  warmup: string
  idleBaseline?: string
  readRatio: string
  config?: string
  seed: string
  results?: string
  requestTimeout: string
  killLeaderAt?: string
  faults?: string
  simOnly?: boolean
  storage: string
  launcher?: string
  processingDelay?: string
  json?: boolean
}

function number(flag: string, text: string, fix: string): number {
  const n = Number(text)
  if (text.trim() === '' || !Number.isFinite(n))
    throw invalidInput('run', flag, `'${text}' is not a number`, fix)
  return n
}

function duration(flag: string, text: string, allowZero = false): number {
  const ms = parseDurationMs(text, allowZero)
  if (ms === null)
    throw invalidInput(
      'run',
      flag,
      `'${text}' is not a duration`,
      `write it like 10s, 500ms or 2m${allowZero ? ' (or 0)' : ''}`,
    )
  return ms
}

/** --config: inline JSON or a JSON file path -> the raw engine config (`where` names the command) */
export function engineConfig(text: string | undefined, where = 'run'): Record<string, unknown> {
  if (text === undefined) return {}
  // inline JSON starts with '{' (or '[', which is then rejected as not an object rather than as a path)
  const fromFile = !/^[{[]/.test(text.trim())
  let raw: string
  try {
    raw = fromFile ? readFileSync(text, 'utf8') : text
  } catch {
    throw invalidInput(
      where,
      '--config',
      `cannot read file '${text}'`,
      'give inline JSON like {"batching":true} or a JSON file path',
    )
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(raw)
  } catch (err: unknown) {
    throw invalidInput(
      where,
      '--config',
      `not valid JSON (${(err as Error).message})`,
      'give a JSON object of engine config fields',
    )
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw invalidInput(
      where,
      '--config',
      'must be a JSON object',
      'give a JSON object of engine config fields',
    )
  }
  return parsed as Record<string, unknown>
}

export function optionsFromFlags(flags: RunFlags): RunOptionsInput {
  const durationMs = duration('--duration', flags.duration)
  const options: RunOptionsInput = {
    engine: flags.engine ?? '',
    engineConfig: engineConfig(flags.config),
    ...loadOptionsFromFlags(flags, duration),
    conflict: number('--conflict', flags.conflict, 'give a fraction in [0, 1], like 0.1'),
    readRatio: number('--read-ratio', flags.readRatio, 'give a fraction in [0, 1], like 0.5'),
    durationMs,
    warmupMs: duration('--warmup', flags.warmup, true),
    seed: number('--seed', flags.seed, 'give an integer seed'),
    requestTimeoutMs: duration('--request-timeout', flags.requestTimeout),
    storage: flags.storage === 'memory' ? 'memory' : 'file',
    launcher: flags.launcher === 'compose' ? 'compose' : 'local',
  }
  if (flags.launcher !== undefined && flags.launcher !== 'local' && flags.launcher !== 'compose') {
    throw invalidInput('run', '--launcher', `'${flags.launcher}' is not a launcher`, 'use local or compose')
  }
  if (flags.storage !== 'memory' && flags.storage !== 'file') {
    throw invalidInput('run', '--storage', `'${flags.storage}' is not a storage kind`, 'use file or memory')
  }
  if (flags.idleBaseline !== undefined)
    options.idleBaselineMs = duration('--idle-baseline', flags.idleBaseline, true)
  if (flags.replicas !== undefined)
    options.replicas = number('--replicas', flags.replicas, 'give a whole number of replicas, like 3')
  if (flags.topology !== undefined) options.topology = flags.topology
  if (flags.leaderSite !== undefined) options.leaderSite = flags.leaderSite
  if (flags.calibrationProbes !== undefined)
    options.calibrationProbes = number(
      '--calibration-probes',
      flags.calibrationProbes,
      'give a whole number, like 100',
    )
  if (flags.realtime === true) options.realtime = true
  if (flags.processingDelay !== undefined)
    options.processingDelayMs = duration('--processing-delay', flags.processingDelay, true)
  if (flags.results !== undefined) options.resultsRoot = flags.results
  if (flags.faults !== undefined) {
    let parsed: unknown
    try {
      parsed = JSON.parse(flags.faults)
    } catch (err: unknown) {
      throw invalidInput(
        'run',
        '--faults',
        `not valid JSON (${(err as Error).message})`,
        `give a JSON list like '[{"kind":"kill","atMs":3000,"replica":"r1","restartAfterMs":2000}]'`,
      )
    }
    if (!Array.isArray(parsed))
      throw invalidInput('run', '--faults', 'not a JSON list', 'give a list of faults: [{...}, {...}]')
    options.faults = parsed as RunOptionsInput['faults']
  }
  if (flags.killLeaderAt !== undefined) {
    options.faults = [
      ...(options.faults ?? []),
      { kind: 'kill-leader', atMs: duration('--kill-leader-at', flags.killLeaderAt, true) },
    ]
  }
  return options
}

const ms = (us: number) => (us / 1000).toFixed(2)
const MAX_LINK_WARNINGS = 6

export function summaryTable(summary: RunSummary): string {
  const cells = new Table({
    style: { head: [], border: [] },
    head: [
      'cell',
      'ops',
      'ops/s',
      'p50 ms',
      'p90 ms',
      'p99 ms',
      'p99.9 ms',
      'max ms',
      'fast/slow',
      'check',
      'faults',
      'errors',
      'unknown',
    ],
  })
  const sites = new Table({
    style: { head: [], border: [] },
    head: ['cell', 'site', 'ops', 'ops/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'expected ms', 'p50/expected'],
  })
  const warnings: string[] = []
  for (const c of summary.cells) {
    const l = c.latencyUs
    const errors =
      c.errors.timeout + c.errors.refused + c.errors.connection + c.errors.http + c.errors.rejected
    cells.push([
      c.id,
      c.opsCompleted,
      c.throughputOpsPerSec,
      ms(l.p50),
      ms(l.p90),
      ms(l.p99),
      ms(l.p999),
      ms(l.max),
      // commands by the path that committed them (the engines' fast-path / slow-path events)
      c.fastPath === null || c.fastPath === undefined ? '-' : `${c.fastPath}/${c.slowPath}`,
      c.check.verdict,
      c.faults.length,
      errors,
      // commands whose outcome the driver could not learn (every attempt timed out or broke)
      c.errors.unknownOutcome,
    ])
    for (const [name, s] of Object.entries(c.sites)) {
      sites.push([
        c.id,
        name,
        s.ops,
        s.throughputOpsPerSec,
        ms(s.latencyUs.p50),
        ms(s.latencyUs.p99),
        ms(s.latencyUs.p999),
        s.expectedLatencyMs !== undefined ? s.expectedLatencyMs.toFixed(2) : '-',
        s.expectedLatencyMs !== undefined && s.expectedLatencyMs > 0
          ? (s.latencyUs.p50 / 1000 / s.expectedLatencyMs).toFixed(3)
          : '-',
      ])
    }
    const leader = c.network?.leader
    if (leader !== undefined && leader.placed !== null && leader.agreed !== leader.placed)
      warnings.unshift(
        `${c.id}: the leader was placed on ${leader.placed} but the replicas agreed on ${leader.agreed ?? 'none'} (another replica won the first election; expectations use the agreed one)`,
      )
    for (const l of c.network?.linksOffTolerance ?? [])
      warnings.push(
        `${c.id}: link ${l.from} -> ${l.to} OFF calibration tolerance: target ${l.targetRttMs} ms, measured p50 ${l.measuredRttMsP50} ms (${l.errorMs > 0 ? '+' : ''}${l.errorMs} ms)`,
      )
  }
  // a badly loaded machine can put every link off: the first few say enough, summary.json has them all
  const shown = warnings.slice(0, MAX_LINK_WARNINGS).map((w) => `WARNING ${w}\n`)
  const delays = [...new Set(summary.cells.map((c) => c.processingDelayMs ?? 0))].filter((d) => d > 0)
  if (delays.length > 0)
    shown.unshift(
      `WARNING the replicas held every command and message ${delays.join(', ')} ms (--processing-delay, for testing gates): these are not the engines' own figures\n`,
    )
  if (warnings.length > MAX_LINK_WARNINGS)
    shown.push(
      `WARNING ... and ${warnings.length - MAX_LINK_WARNINGS} more links off tolerance (summary.json: cells[].network)\n`,
    )
  return `${cells.toString()}\n${sites.toString()}\n${shown.join('')}${loadSummaryLines(summary)}${nodeCostTable(summary.cells)}`
}

/** The flag that sets a run option (RunOptionError.field), as the user typed it. */
export function flagOfField(field: string): string {
  if (field.startsWith('engineConfig')) return `--config ${field.slice('engineConfig.'.length)}`
  const top = field.split('.')[0] ?? field
  return FLAG_OF_FIELD[top] ?? field
}

/** The flags that describe the cluster and the workload: `run` takes them, and so does `k6 export`. */
export function addRunFlags(command: Command, engineRequired = true): Command {
  const engineHelp = 'engine to run (see `consensus-bench engines`)'
  if (engineRequired) command.requiredOption('--engine <name>', engineHelp)
  else command.option('--engine <name>', `${engineHelp}; not with an experiment file`)
  command
    .option(
      '--replicas <n>',
      'replica processes, each on its own 127.0.0.x address (default 3, or one per site)',
    )
    .option(
      '--topology <name>',
      'emulated WAN: a built-in topology (see `consensus-bench topologies`) or a YAML file',
    )
    .option('--leader-site <site>', "put the leader on this site's replica (engines with initialLeader)")
    .option('--calibration-probes <n>', 'probes per link in the calibration before a topology run', '100')
    .option(
      '--realtime',
      'replicas and load driver under SCHED_FIFO during the load (root; see harness/README.md)',
    )
    .option('--conflict <c>', 'probability a command targets the shared hot key', '0.1')
    .option('--duration <d>', 'load duration, like 10s', '10s')
    .option('--warmup <d>', 'trimmed from latency and throughput (still checked)', '1s')
    .option(
      '--idle-baseline <d>',
      "before the load, measure each replica's idle CPU this long; the cost table adds CPU per op above it",
    )
    .option('--read-ratio <r>', 'fraction of commands that are gets', '0.5')
    .option('--config <json>', 'engine config: inline JSON object or a JSON file path')
    .option('--seed <n>', 'seed for the workload and the replicas', '1')
    .option('--results <dir>', 'parent directory for the new results directory (default: results/)')
    .option('--request-timeout <d>', 'client timeout per attempt before retrying elsewhere', '2s')
    .option('--kill-leader-at <d>', 'SIGKILL the leader this long after the load starts')
    .option('--sim-only', 'an election experiment: the simulator trials only, no real processes')
    .option(
      '--faults <json>',
      'a fault schedule as a JSON list (kill, kill-leader, partition, slow, pause, random; harness/README.md)',
    )
    .option('--storage <kind>', 'replica storage: file or memory', 'file')
    .option(
      '--processing-delay <d>',
      'hold every client command and peer message this long before the engine sees it, like 5ms (for testing gates)',
    )
    .option(
      '--launcher <kind>',
      'local (processes on 127.0.0.x) or compose (containers, docker/README.md)',
      'local',
    )
  return addLoadFlags(command)
}

export function register(program: Command): void {
  const command = program
    .command('run')
    .description(
      'run an experiment file (experiments/*.yaml: a matrix of cells), or one engine from flags; write a results directory',
    )
    .argument('[experiment]', 'an experiment YAML file; with it the load flags are not used')
    .option(
      '--resume <dir>',
      'finish an interrupted run in its results directory, skipping its finished cells',
    )
  addRunFlags(command, false)
    .option('--json', 'print summary.json on stdout instead of the table')
    .action(async (file: string | undefined, flags: RunFlags & { resume?: string }) => {
      const matrix = file !== undefined || flags.resume !== undefined
      if (file !== undefined && flags.resume !== undefined)
        throw invalidInput(
          'run',
          '--resume',
          'given with an experiment file',
          'give one: the file, or --resume <dir>',
        )
      if (matrix && flags.engine !== undefined)
        throw invalidInput(
          'run',
          '--engine',
          'given with an experiment file or --resume',
          'name engines in the experiment file',
        )
      if (!matrix && flags.engine === undefined)
        throw invalidInput(
          'run',
          '--engine',
          'missing',
          'give --engine <name>, or an experiment file (experiments/*.yaml)',
        )
      const election = matrix
        ? electionPlanOfRequest({ file, resume: flags.resume, resultsRoot: flags.results })
        : null
      if (election !== null) {
        const r = await runElectionExperiment(election, {
          progress: (line) => process.stderr.write(`${line}\n`),
          simOnly: flags.simOnly === true,
          argv: process.argv.slice(2),
        })
        process.stdout.write(
          flags.json === true
            ? `${JSON.stringify({ sets: r.sets, comparison: r.comparison }, null, 2)}\n`
            : `${electionTable(r.sets, r.comparison)}chart: ${r.dir}/charts/election-cdf.svg\n`,
        )
        process.stderr.write(`results: ${r.dir}\n`)
        return
      }
      let result: Awaited<ReturnType<typeof runBenchmark>>
      try {
        result = matrix
          ? await runMatrixCommand(
              { file, resume: flags.resume, resultsRoot: flags.results },
              process.argv.slice(2),
            )
          : await runBenchmark(optionsFromFlags(flags), {
              progress: (line) => process.stderr.write(`${line}\n`),
              argv: process.argv.slice(2),
            })
      } catch (err: unknown) {
        if (err instanceof CliError) throw err
        if (err instanceof RunOptionError)
          throw invalidInput('run', flagOfField(err.field), err.problem, err.fix)
        if (err instanceof CliError) throw err // e.g. docker missing (exit 4)
        throw new CliError(`run failed: ${(err as Error).message}`, EXIT.thresholdFailed)
      }
      const { summary, dir } = result
      process.stdout.write(
        flags.json === true
          ? JSON.stringify(summary, null, 2) + '\n'
          : summaryTable(summary) + matrixEpilogue(summary, dir),
      )
      process.stderr.write(`results: ${dir}\n`)
      const violated = summary.cells.filter((c) => c.check.verdict === 'violation')
      if (violated.length > 0) {
        throw new CliError(
          `linearizability violation in ${violated.map((c) => c.id).join(', ')} (see check.json)`,
          EXIT.violation,
        )
      }
    })
}
