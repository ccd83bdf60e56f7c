/**
 * `npm run bench:batching`: Multi-Paxos on 3 local replicas with batching off and then on, the same
 * clients, conflict rate and duration; prints throughput and p99 for each and the ratio, with the
 * machine it ran on. Both runs write results directories like `consensus-bench run` does.
 *
 * Options (env): BENCH_DURATION (default 10s), BENCH_CLIENTS (per site, default 16), BENCH_CONFLICT
 * (default 0.1), BENCH_BATCH_MAX (batchMaxCommands, default 64), BENCH_BATCH_DELAY_MS (default 1).
 */
import { cpus } from 'node:os'
import Table from 'cli-table3'
import { parseDurationMs } from '../harness/commands/run.ts'
import type { CellSummary } from '../harness/results/summary.ts'
import { runBenchmark } from '../harness/run.ts'

function envNumber(name: string, fallback: number): number {
  const raw = process.env[name]
  if (raw === undefined) return fallback
  const n = Number(raw)
  if (!Number.isFinite(n)) throw new Error(`${name}: '${raw}' is not a number`)
  return n
}

const durationMs = parseDurationMs(process.env.BENCH_DURATION ?? '10s')
if (durationMs === null)
  throw new Error(`BENCH_DURATION: '${process.env.BENCH_DURATION}' is not a duration like 10s`)
const clientsPerSite = envNumber('BENCH_CLIENTS', 16)
const conflict = envNumber('BENCH_CONFLICT', 0.1)
const batchMaxCommands = envNumber('BENCH_BATCH_MAX', 64)
const batchDelayMs = envNumber('BENCH_BATCH_DELAY_MS', 1)

const variants = [
  { name: 'batching off', engineConfig: { batching: false } },
  { name: 'batching on', engineConfig: { batching: true, batchMaxCommands, batchDelayMs } },
] as const

const cells: Array<{ name: string; cell: CellSummary; dir: string }> = []
for (const v of variants) {
  process.stderr.write(`== ${v.name}\n`)
  const { dir, summary } = await runBenchmark(
    {
      engine: 'multipaxos',
      engineConfig: v.engineConfig,
      replicas: 3,
      clientsPerSite,
      conflict,
      durationMs,
      warmupMs: Math.min(1000, Math.floor(durationMs / 4)),
      seed: 1,
    },
    { progress: (line) => process.stderr.write(`   ${line}\n`) },
  )
  const cell = summary.cells[0]
  if (cell === undefined) throw new Error('the run produced no cell')
  cells.push({ name: v.name, cell, dir })
}

const cpu = cpus()
process.stdout.write(
  `machine: ${cpu[0]?.model.trim() ?? 'unknown CPU'}, ${cpu.length} cores, node ${process.version}\n` +
    `workload: multipaxos, 3 local replicas, ${clientsPerSite} closed-loop clients per site, conflict ${conflict}, ` +
    `${durationMs / 1000} s, file storage\n`,
)
const table = new Table({
  style: { head: [], border: [] },
  head: ['variant', 'ops/s', 'p50 ms', 'p99 ms', 'check', 'results'],
})
for (const { name, cell, dir } of cells) {
  table.push([
    name,
    cell.throughputOpsPerSec,
    (cell.latencyUs.p50 / 1000).toFixed(2),
    (cell.latencyUs.p99 / 1000).toFixed(2),
    cell.check.verdict,
    dir,
  ])
}
process.stdout.write(`${table.toString()}\n`)
const [off, on] = cells
if (off !== undefined && on !== undefined) {
  const ratio =
    off.cell.throughputOpsPerSec > 0 ? on.cell.throughputOpsPerSec / off.cell.throughputOpsPerSec : Number.NaN
  const p99Ratio = off.cell.latencyUs.p99 > 0 ? on.cell.latencyUs.p99 / off.cell.latencyUs.p99 : Number.NaN
  process.stdout.write(`throughput on/off: ${ratio.toFixed(2)}x   p99 on/off: ${p99Ratio.toFixed(2)}x\n`)
}
if (cells.some(({ cell }) => cell.check.verdict === 'violation')) process.exitCode = 3
