/**
 * `consensus-bench probe`: a quick autocannon capacity probe of one replica's HTTP API on a local
 * cluster. A thin layer over runProbe (harness/probe.ts): flags -> options, a table (or --json).
 */
import Table from 'cli-table3'
import type { Command } from 'commander'
import { CliError, EXIT, invalidInput } from '../exit-codes.ts'
import { type ProbeOptionsInput, type ProbeResult, runProbe } from '../probe.ts'
import { RunOptionError } from '../run.ts'
import { engineConfig, parseDurationMs } from './run.ts'

interface ProbeFlags {
  engine: string
  replicas: string
  duration: string
  connections: string
  pipelining: string
  target: string
  config?: string
  storage: string
  json?: boolean
}

const FLAG_OF_FIELD: Record<string, string> = {
  engine: '--engine',
  replicas: '--replicas',
  durationMs: '--duration',
  connections: '--connections',
  pipelining: '--pipelining',
  target: '--target',
  storage: '--storage',
}

function wholeNumber(flag: string, text: string): number {
  const n = Number(text)
  if (text.trim() === '' || !Number.isInteger(n))
    throw invalidInput('probe', flag, `'${text}' is not a whole number`, 'give a whole number, like 16')
  return n
}

export function probeOptionsFromFlags(flags: ProbeFlags): ProbeOptionsInput {
  const durationMs = parseDurationMs(flags.duration)
  if (durationMs === null)
    throw invalidInput(
      'probe',
      '--duration',
      `'${flags.duration}' is not a duration`,
      'write it like 5s or 500ms',
    )
  if (flags.storage !== 'file' && flags.storage !== 'memory')
    throw invalidInput('probe', '--storage', `'${flags.storage}' is not a storage kind`, 'use file or memory')
  return {
    engine: flags.engine,
    engineConfig: engineConfig(flags.config, 'probe'),
    replicas: wholeNumber('--replicas', flags.replicas),
    durationMs,
    connections: wholeNumber('--connections', flags.connections),
    pipelining: wholeNumber('--pipelining', flags.pipelining),
    target: flags.target,
    storage: flags.storage,
  }
}

export function probeTable(r: ProbeResult): string {
  const table = new Table({
    style: { head: [], border: [] },
    head: [
      'engine',
      'target',
      'conns',
      'req/s',
      'p50 ms',
      'p90 ms',
      'p99 ms',
      'p99.9 ms',
      'max ms',
      'errors',
    ],
  })
  const errors = r.errors.connection + r.errors.non2xx
  table.push([
    `${r.engine} x${r.replicas}`,
    r.target === r.leader ? `${r.target} (leader)` : r.target,
    r.pipelining > 1 ? `${r.connections} x${r.pipelining}` : r.connections,
    r.requestsPerSec,
    r.latencyMs.p50,
    r.latencyMs.p90,
    r.latencyMs.p99,
    r.latencyMs.p999,
    r.latencyMs.max,
    errors,
  ])
  const detail =
    errors === 0
      ? ''
      : `errors: ${r.errors.connection} connection (${r.errors.timeouts} timeouts), non-2xx ${JSON.stringify(r.errors.byStatus)}\n`
  return `${table.toString()}\n${r.requestsOk} ok of ${r.requestsSent} sent in ${r.durationSec} s\n${detail}`
}

export function register(program: Command): void {
  program
    .command('probe')
    .description("a quick autocannon capacity probe of one replica's HTTP API (PUT /kv) on a local cluster")
    .requiredOption('--engine <name>', 'engine to run (see `consensus-bench engines`)')
    .option('--replicas <n>', 'replica processes on 127.0.0.x', '3')
    .option('--duration <d>', 'how long to probe, like 5s', '5s')
    .option('--connections <n>', 'concurrent keep-alive connections', '16')
    .option('--pipelining <n>', 'requests in flight per connection', '1')
    .option('--target <id>', "the replica to probe: 'leader' or r0, r1, ...", 'leader')
    .option('--config <json>', 'engine config: inline JSON object or a JSON file path')
    .option('--storage <kind>', 'replica storage: file or memory', 'file')
    .option('--json', 'print the result as JSON')
    .action(async (flags: ProbeFlags) => {
      const options = probeOptionsFromFlags(flags)
      let result: ProbeResult
      try {
        result = await runProbe(options, (line) => process.stderr.write(`${line}\n`))
      } catch (err: unknown) {
        if (err instanceof RunOptionError) {
          const top = err.field.split('.')[0] ?? err.field
          const flag = err.field.startsWith('engineConfig') ? '--config' : (FLAG_OF_FIELD[top] ?? err.field)
          throw invalidInput('probe', flag, err.problem, err.fix)
        }
        throw new CliError(`probe failed: ${(err as Error).message}`, EXIT.thresholdFailed)
      }
      process.stdout.write(flags.json === true ? `${JSON.stringify(result, null, 2)}\n` : probeTable(result))
    })
}
