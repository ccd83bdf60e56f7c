/**
 * `npm run bench:micro`: tinybench microbenchmarks of the pieces on every command's path: the peer codec
 * (msgpack frame encode + decode), the KV state machine, the linearizability checker, and one
 * Multi-Paxos engine's CPU per committed command (engine alone, in memory, batching off and on).
 * Prints ops/s and the derived per-unit figures, with the machine it ran on.
 *
 *   npm run bench:micro -- [--repetitions 3] [--time-ms 1000] [--out <dir>]
 *
 * `--out` writes <dir>/micro.json (harness/gate/micro.ts): one ops/s figure per benchmark and
 * repetition, which `consensus-bench gate` compares with a baseline's (ops/s ratio, bootstrap interval
 * over the repetitions). Each repetition is a fresh tinybench run in this process.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import Table from 'cli-table3'
import { Bench } from 'tinybench'
import type { Command } from '../engines/core/command.ts'
import { KvStateMachine } from '../engines/core/kv.ts'
import { encodeFrame, FrameDecoder } from '../engines/host/frame.ts'
import { multipaxosEngine } from '../engines/multipaxos/index.ts'
import { generateHistory } from '../harness/check/generate.ts'
import { checkHistory } from '../harness/check/linearizability.ts'
import { MICRO_FILE, type MicroBenchmark, type MicroResults } from '../harness/gate/micro.ts'
import { startInMemoryCluster } from './in-memory-cluster.ts'

const VALUE_64B = 'x'.repeat(64)
const acceptMessage = {
  type: 'accept',
  ballot: { round: 3, node: 'r0' },
  slot: 123456,
  commitIndex: 123450,
  value: {
    kind: 'commands',
    commands: [{ id: { client: 'r1-c7', seq: 4242 }, op: 'put', key: 'r1-c7-k3', value: VALUE_64B }],
  },
}
const frameBytes = encodeFrame(acceptMessage).length

const kvCommands: Command[] = Array.from({ length: 10_000 }, (_, i) =>
  i % 2 === 0
    ? { id: { client: `c${i % 64}`, seq: i + 1 }, op: 'put', key: `k${i % 1000}`, value: VALUE_64B }
    : { id: { client: `c${i % 64}`, seq: i + 1 }, op: 'get', key: `k${i % 1000}` },
)

const CHECK_OPS = 10_000
const history = generateHistory({ seed: 1, clients: 30, keys: 100, ops: CHECK_OPS, hotKeyShare: 0.1 })

const ENGINE_BATCH_COMMANDS = 256
let engineSeq = 0
function engineCommands(count: number): Command[] {
  return Array.from({ length: count }, () => {
    engineSeq++
    return {
      id: { client: 'bench', seq: engineSeq },
      op: 'put',
      key: `k${engineSeq % 512}`,
      value: VALUE_64B,
    }
  })
}
const clusters = {
  off: startInMemoryCluster(multipaxosEngine, 3, multipaxosEngine.parseConfig({ batching: false })),
  on: startInMemoryCluster(
    multipaxosEngine,
    3,
    multipaxosEngine.parseConfig({ batching: true, batchMaxCommands: 64 }),
  ),
}
let engineMismatch = ''

const { values: args } = parseArgs({
  options: {
    repetitions: { type: 'string', default: '1' },
    'time-ms': { type: 'string', default: '1000' },
    out: { type: 'string' },
  },
})
const repetitions = Number(args.repetitions)
const timeMs = Number(args['time-ms'])
if (!Number.isInteger(repetitions) || repetitions < 1 || repetitions > 100)
  throw new Error(`--repetitions: '${args.repetitions}' is not a whole number from 1 to 100`)
if (!(timeMs > 0)) throw new Error(`--time-ms: '${args['time-ms']}' is not a positive number of ms`)

/** id (the gate's `bench` tag) -> name; ids stay stable when names are reworded */
const TASKS = {
  codec: 'codec: encode + decode one accept frame',
  kv: `kv: apply ${kvCommands.length} commands`,
  checker: `checker: ${CHECK_OPS}-op history, 30 clients, 100 keys`,
  'multipaxos-batching-off': `multipaxos (batching off): ${ENGINE_BATCH_COMMANDS} commands, 3 replicas`,
  'multipaxos-batching-on': `multipaxos (batching on): ${ENGINE_BATCH_COMMANDS} commands, 3 replicas`,
} as const

function makeBench(): Bench {
  const bench = new Bench({ time: timeMs, warmupTime: 200 })
  bench
    .add(TASKS.codec, () => {
      const decoder = new FrameDecoder()
      const out = decoder.push(encodeFrame(acceptMessage))
      if (out.length !== 1) throw new Error('codec lost a frame')
    })
    .add(TASKS.kv, () => {
      const kv = new KvStateMachine()
      for (const cmd of kvCommands) kv.apply(cmd)
    })
    .add(TASKS.checker, () => {
      const result = checkHistory(history)
      if (result.verdict !== 'linearizable') throw new Error(`checker said ${result.verdict}`)
    })
  for (const [mode, cluster] of Object.entries(clusters)) {
    bench.add(TASKS[`multipaxos-batching-${mode as 'off' | 'on'}`], () => {
      const replies = cluster.submit('r0', engineCommands(ENGINE_BATCH_COMMANDS))
      if (replies !== ENGINE_BATCH_COMMANDS) engineMismatch = `batching ${mode}: ${replies} replies`
    })
  }
  return bench
}

const perRepetition: Record<string, { ops: number[]; rme: number[] }> = {}
let bench = makeBench()
for (let rep = 1; rep <= repetitions; rep++) {
  if (repetitions > 1) process.stderr.write(`repetition ${rep}/${repetitions}\n`)
  if (rep > 1) bench = makeBench()
  await bench.run()
  if (engineMismatch !== '') throw new Error(`multipaxos did not commit every command (${engineMismatch})`)
  for (const task of bench.tasks) {
    const r = task.result
    if (r.state !== 'completed') continue
    perRepetition[task.name] ??= { ops: [], rme: [] }
    const entry = perRepetition[task.name]!
    entry.ops.push(r.throughput.mean)
    entry.rme.push(r.throughput.rme)
  }
}

const perUnit = (name: string, hz: number): string => {
  if (name.startsWith('codec')) return `${(1e6 / hz).toFixed(2)} us/frame (${frameBytes} B)`
  if (name.startsWith('kv')) return `${(1e9 / hz / kvCommands.length).toFixed(0)} ns/command`
  if (name.startsWith('checker')) return `${(1e6 / hz / CHECK_OPS).toFixed(2)} us/op`
  return `${(1e6 / hz / ENGINE_BATCH_COMMANDS).toFixed(2)} us CPU/committed command (3 replicas together)`
}
const cpu = cpus()
const meanOf = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length
const table = new Table({
  head: [
    'benchmark',
    repetitions > 1 ? `ops/s (mean of ${repetitions})` : 'ops/s',
    'rme %',
    'samples',
    'per unit',
  ],
  style: { head: [], border: [] },
})
for (const task of bench.tasks) {
  const r = task.result
  if (r.state !== 'completed') {
    table.push([task.name, r.state, '', '', r.state === 'errored' ? String(r.error) : ''])
    continue
  }
  const ops = perRepetition[task.name]?.ops ?? [r.throughput.mean]
  table.push([
    task.name,
    repetitions > 1
      ? `${meanOf(ops).toFixed(1)} (${ops.map((x) => x.toFixed(0)).join(', ')})`
      : meanOf(ops).toFixed(1),
    r.throughput.rme.toFixed(2),
    String(r.throughput.samplesCount),
    perUnit(task.name, meanOf(ops)),
  ])
}
process.stdout.write(
  `machine: ${cpu[0]?.model.trim() ?? 'unknown CPU'}, ${cpu.length} cores, node ${process.version}\n`,
)
process.stdout.write(`${table.toString()}\n`)
const hzOf = (prefix: string) => bench.tasks.find((t) => t.name.startsWith(prefix))?.result
const off = hzOf('multipaxos (batching off)')
const on = hzOf('multipaxos (batching on)')
if (off?.state === 'completed' && on?.state === 'completed')
  process.stdout.write(
    `multipaxos engine CPU per command, batching off/on: ${(on.throughput.mean / off.throughput.mean).toFixed(2)}x (same run)\n`,
  )

if (args.out !== undefined) {
  const benchmarks: MicroBenchmark[] = Object.entries(TASKS).flatMap(([id, name]) => {
    const entry = perRepetition[name]
    return entry === undefined
      ? []
      : [
          {
            id,
            name,
            opsPerSec: entry.ops.map((x) => Math.round(x * 10) / 10),
            rmePercent: entry.rme.map((x) => Math.round(x * 100) / 100),
          },
        ]
  })
  const results: MicroResults = {
    kind: 'micro',
    startedAt: new Date().toISOString(),
    env: { node: process.version, cpuModel: cpu[0]?.model.trim() ?? 'unknown', cpuCount: cpu.length },
    repetitions,
    benchmarks,
  }
  mkdirSync(args.out, { recursive: true })
  writeFileSync(join(args.out, MICRO_FILE), `${JSON.stringify(results, null, 2)}\n`)
  process.stderr.write(`wrote ${join(args.out, MICRO_FILE)}\n`)
}
