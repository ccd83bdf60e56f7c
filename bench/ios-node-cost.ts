/**
 * `npm run bench:ios-cost`: Ios and Multi-Paxos in the same configuration (5 local replicas, the same
 * open-loop rate, workload, storage and seed, batching off in both), each replica's cost per committed
 * command, and the ratios of the Ios master to the Multi-Paxos leader: messages per op, CPU per op raw,
 * and CPU per op above each replica's idle CPU (measured before the load). Prints the machine it ran on
 * and the load average before and after each run: CPU figures from a loaded machine are not comparable.
 *
 * Why open loop: CPU per op falls as throughput grows (a replica wakes up for fewer messages per op when
 * they arrive together, and its idle CPU is spread over more ops), so engines compared in a closed loop,
 * where each commits at its own rate, are compared at different throughputs. At one offered rate that
 * both sustain, the per-op figures compare; two rates show how the ratio moves with load (it falls: more
 * messages share a wake-up at the master than at the leader).
 *
 * Options (env): BENCH_RATE (ops/s over all replicas, or a comma-separated list of rates, each its own
 * condition; default 400,800), BENCH_DURATION (default 20s),
 * BENCH_REPLICAS (default 5; ignored with a topology), BENCH_TOPOLOGY (a built-in topology such as
 * epaxos-5; default none: every replica its own unshaped site), BENCH_STORAGE (memory or file, default
 * memory), BENCH_IDLE (idle baseline before the load, default 2s), BENCH_CONFLICT (default 0.1),
 * BENCH_REPS (repetitions, default 1; the order of the two engines alternates, the ratios' median is
 * printed), BENCH_WARMUP (trimmed from the start of the load, default 5s: a fresh replica's CPU per
 * command in its first seconds of load is 2-4x its steady state while V8 compiles and optimizes, measured
 * with CONSENSUS_BENCH_CPU_PROFILE_DIR), BENCH_PLACEMENT (where the clients are: `all` (every replica),
 * `off-leader` (every replica but r0, the Ios view-0 master and the Multi-Paxos initial leader), or
 * `both`, the default; off-leader needs no BENCH_TOPOLOGY), BENCH_RESULTS (parent directory of the
 * results, default results/).
 *
 * Why two placements: a replica that serves clients pays for their HTTP requests whatever its role. With
 * clients at every replica both the master and the leader pay that share, which hides part of the
 * difference in their protocol work (and an Ios master with clients takes its commits at once, see
 * engines/ios/README.md, held acknowledgements); with clients off r0 only the protocol work is left
 * there, which is how Ios is meant to be deployed. Both engines always run with the same placement.
 */
import { cpus, loadavg } from 'node:os'
import Table from 'cli-table3'
import { nodeCostTable } from '../harness/commands/node-cost-table.ts'
import { parseDurationMs } from '../harness/commands/run.ts'
import type { CellSummary } from '../harness/results/summary.ts'
import { type RunOptionsInput, runBenchmark } from '../harness/run.ts'

function envNumber(name: string, fallback: number): number {
  const raw = process.env[name]
  if (raw === undefined) return fallback
  const n = Number(raw)
  if (raw.trim() === '' || !Number.isFinite(n)) throw new Error(`${name}: '${raw}' is not a number`)
  return n
}

function envDurationMs(name: string, fallback: string, allowZero = false): number {
  const raw = process.env[name] ?? fallback
  const ms = parseDurationMs(raw, allowZero)
  if (ms === null) throw new Error(`${name}: '${raw}' is not a duration like 10s or 500ms`)
  return ms
}

/** BENCH_RATE: one rate or a comma-separated list, each run as its own condition */
const rates: number[] = (process.env.BENCH_RATE ?? '400,800').split(',').map((text) => {
  const n = Number(text)
  if (text.trim() === '' || !(n > 0)) throw new Error(`BENCH_RATE: '${text}' is not a rate in ops/s like 400`)
  return n
})
const durationMs = envDurationMs('BENCH_DURATION', '20s')
const idleBaselineMs = envDurationMs('BENCH_IDLE', '2s', true)
const warmupMs = envDurationMs('BENCH_WARMUP', '5s', true)
const replicas = envNumber('BENCH_REPLICAS', 5)
const conflict = envNumber('BENCH_CONFLICT', 0.1)
const reps = envNumber('BENCH_REPS', 1)
const topology = process.env.BENCH_TOPOLOGY
const storage = process.env.BENCH_STORAGE ?? 'memory'
const placementChoice = process.env.BENCH_PLACEMENT ?? 'both'
if (!['all', 'off-leader', 'both'].includes(placementChoice))
  throw new Error(`BENCH_PLACEMENT: '${placementChoice}' is not a placement; use all, off-leader or both`)
if (placementChoice !== 'all' && topology !== undefined)
  throw new Error(
    'BENCH_PLACEMENT: off-leader runs without a topology; with BENCH_TOPOLOGY set BENCH_PLACEMENT=all',
  )
/** the replica both engines start with as master/leader without a topology (view 0; initialLeader 0) */
const FIRST_LEADER = 'r0'
type Placement = 'all' | 'off-leader'
const placements: Placement[] =
  placementChoice === 'both' ? ['all', 'off-leader'] : [placementChoice as Placement]
const clientSitesOf = (p: Placement): string[] | undefined =>
  p === 'all' ? undefined : Array.from({ length: replicas - 1 }, (_, i) => `r${i + 1}`)
if (storage !== 'memory' && storage !== 'file')
  throw new Error(`BENCH_STORAGE: '${storage}' is not a storage kind; use memory or file`)
if (!Number.isInteger(reps) || reps < 1) throw new Error(`BENCH_REPS: '${reps}' is not a whole number >= 1`)

/** Both engines with batching off: one command per slot, so per-op figures are per-command work. */
const ENGINES = [
  { engine: 'ios', engineConfig: {} },
  { engine: 'multipaxos', engineConfig: { batching: false } },
] as const

/** The leader's figures against the rest of the replicas in one cell. */
interface LeaderCost {
  readonly engine: string
  readonly leader: string
  readonly throughputOpsPerSec: number
  readonly sustained: boolean
  readonly msgsPerOp: number
  readonly cpuUsPerOp: number
  readonly cpuUsPerOpAboveIdle: number | null
  /** min and max over the other replicas */
  readonly othersMsgsPerOp: readonly [number, number]
  readonly othersCpuUsPerOp: readonly [number, number]
}

/** The leader's figures, or why there are none (a replica that missed a /metrics scrape has none). */
function leaderCost(cell: CellSummary): LeaderCost | string {
  const leader = cell.nodeCost?.leaderAtStart
  if (leader === null || leader === undefined)
    return `${cell.id}: the replicas agreed on no leader before the load: no master/leader to compare`
  const mine = cell.nodes[leader]
  if (mine === undefined)
    return `${cell.id}: no per-node figures for the leader ${leader} (missing: ${cell.nodeCost?.missing.join(', ') ?? 'every replica'}; a /metrics scrape timed out?)`
  const others = Object.entries(cell.nodes).filter(([id]) => id !== leader)
  const range = (xs: number[]): [number, number] => [Math.min(...xs), Math.max(...xs)]
  const intended = cell.arrivals?.intendedOpsPerSec ?? cell.load.rateOpsPerSec ?? 0
  return {
    engine: cell.engine,
    leader,
    throughputOpsPerSec: cell.throughputOpsPerSec,
    sustained: cell.throughputOpsPerSec >= 0.95 * intended,
    msgsPerOp: mine.msgsPerOp,
    cpuUsPerOp: mine.cpuUsPerOp,
    cpuUsPerOpAboveIdle: mine.cpuUsPerOpAboveIdle,
    othersMsgsPerOp: range(others.map(([, n]) => n.msgsPerOp)),
    othersCpuUsPerOp: range(others.map(([, n]) => n.cpuUsPerOp)),
  }
}

const loadNow = (): string =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

const cpu = cpus()
const machine = `${cpu[0]?.model.trim() ?? 'unknown CPU'}, ${cpu.length} cores, node ${process.version}`
const where = topology === undefined ? `${replicas} local replicas, no shaping` : `topology ${topology}`
const workload =
  `${where}, open loop ${rates.join(' and ')} ops/s poisson, conflict ${conflict}, ${durationMs / 1000} s ` +
  `(${warmupMs / 1000} s warm-up), ${storage} storage, idle baseline ${idleBaselineMs / 1000} s, batching off, ` +
  `clients: ${placements.map((p) => (p === 'all' ? 'at every replica' : `off ${FIRST_LEADER}`)).join(', then ')}`
process.stderr.write(`machine: ${machine}\nworkload: ${workload}\n`)

/** One placement of the clients at one offered rate; reps repeat it. */
interface Condition {
  readonly placement: Placement
  readonly rateOpsPerSec: number
}
const conditions: Condition[] = placements.flatMap((placement) =>
  rates.map((rateOpsPerSec) => ({ placement, rateOpsPerSec })),
)
const describeCondition = (c: Condition): string =>
  `${c.placement === 'all' ? 'clients at every replica' : `clients off ${FIRST_LEADER}`}, ${c.rateOpsPerSec} ops/s`

interface Rep {
  readonly condition: Condition
  readonly rep: number
  readonly ios: LeaderCost | string
  readonly multipaxos: LeaderCost | string
  readonly cells: CellSummary[]
  readonly loads: string[]
}
const runs: Rep[] = []
for (const condition of conditions)
  for (let rep = 1; rep <= reps; rep++) {
    const { placement, rateOpsPerSec } = condition
    // alternate the order: a machine whose load drifts during the bench does not favour one engine
    const order = rep % 2 === 1 ? ENGINES : [...ENGINES].reverse()
    const byEngine = new Map<string, { cell: CellSummary; loadBefore: string; loadAfter: string }>()
    const clientSites = clientSitesOf(placement)
    for (const e of order) {
      process.stderr.write(`== ${describeCondition(condition)}, rep ${rep}/${reps}: ${e.engine}\n`)
      const loadBefore = loadNow()
      const options: RunOptionsInput = {
        engine: e.engine,
        engineConfig: e.engineConfig,
        rateOpsPerSec,
        conflict,
        durationMs,
        warmupMs,
        idleBaselineMs,
        storage,
        seed: rep,
        readBack: false,
        report: false,
        ...(clientSites !== undefined ? { clientSites } : {}),
        ...(topology !== undefined ? { topology } : { replicas }),
        ...(process.env.BENCH_RESULTS !== undefined ? { resultsRoot: process.env.BENCH_RESULTS } : {}),
      }
      const { dir, summary } = await runBenchmark(options, {
        progress: (line) => process.stderr.write(`   ${line}\n`),
      })
      const cell = summary.cells[0]
      if (cell === undefined || cell.state !== 'complete')
        throw new Error(`${e.engine}: the run produced no cell (${dir})`)
      if (cell.check.verdict === 'violation') process.exitCode = 3
      byEngine.set(e.engine, { cell, loadBefore, loadAfter: loadNow() })
    }
    const ios = byEngine.get('ios')!
    const mp = byEngine.get('multipaxos')!
    // off-leader placement is only meaningful when the master/leader is the replica without clients
    const offLeaderCheck = (c: LeaderCost | string): LeaderCost | string =>
      placement === 'off-leader' && typeof c !== 'string' && c.leader !== FIRST_LEADER
        ? `${c.engine}: the leader at the start was ${c.leader}, not ${FIRST_LEADER}, the replica without clients`
        : c
    runs.push({
      condition,
      rep,
      ios: offLeaderCheck(leaderCost(ios.cell)),
      multipaxos: offLeaderCheck(leaderCost(mp.cell)),
      cells: [ios.cell, mp.cell],
      loads: [
        `ios: load average ${ios.loadBefore} before, ${ios.loadAfter} after`,
        `multipaxos: load average ${mp.loadBefore} before, ${mp.loadAfter} after`,
      ],
    })
  }

const fmt = (x: number | null, digits = 2): string => (x === null ? '-' : x.toFixed(digits))
const ratio = (a: number | null, b: number | null): number | null =>
  a === null || b === null || b === 0 ? null : a / b

const out: string[] = [`machine: ${machine}`, `workload: ${workload}`]
const label = (r: Rep): string => `${describeCondition(r.condition)}, rep ${r.rep}`
for (const r of runs) out.push('', `-- ${label(r)}: ${r.loads.join('; ')}`, nodeCostTable(r.cells).trimEnd())
const summaryTable = new Table({
  style: { head: [], border: [] },
  head: [
    'clients',
    'rate',
    'rep',
    'engine',
    'ops/s',
    'sustained',
    'master/leader',
    'msgs/op',
    'cpu us/op',
    'above idle',
    'others msgs/op',
    'others cpu us/op',
  ],
})
interface Ratios {
  readonly msgs: number[]
  readonly cpu: number[]
  readonly aboveIdle: number[]
}
const ratiosByCondition = new Map<Condition, Ratios>(
  conditions.map((c) => [c, { msgs: [], cpu: [], aboveIdle: [] }]),
)
const ratioLines: string[] = []
let unsustained = false
for (const r of runs) {
  for (const [c, role] of [
    [r.ios, 'master'],
    [r.multipaxos, 'leader'],
  ] as const) {
    if (typeof c === 'string') continue
    unsustained ||= !c.sustained
    summaryTable.push([
      r.condition.placement,
      r.condition.rateOpsPerSec,
      r.rep,
      c.engine,
      c.throughputOpsPerSec,
      c.sustained ? 'yes' : 'NO',
      `${role} ${c.leader}`,
      fmt(c.msgsPerOp),
      fmt(c.cpuUsPerOp, 0),
      fmt(c.cpuUsPerOpAboveIdle, 0),
      `${fmt(c.othersMsgsPerOp[0])}-${fmt(c.othersMsgsPerOp[1])}`,
      `${fmt(c.othersCpuUsPerOp[0], 0)}-${fmt(c.othersCpuUsPerOp[1], 0)}`,
    ])
  }
  const { ios, multipaxos: mp } = r
  if (typeof ios === 'string' || typeof mp === 'string') {
    ratioLines.push(`${label(r)}: no ratios: ${[ios, mp].filter((x) => typeof x === 'string').join('; ')}`)
    continue
  }
  const m = ratio(ios.msgsPerOp, mp.msgsPerOp)
  const c = ratio(ios.cpuUsPerOp, mp.cpuUsPerOp)
  const a = ratio(ios.cpuUsPerOpAboveIdle, mp.cpuUsPerOpAboveIdle)
  const sameLoad = ios.sustained && mp.sustained
  // a rep where one engine fell behind the rate compares two different loads: left out of the median
  const ratios = ratiosByCondition.get(r.condition)!
  if (sameLoad) {
    if (m !== null) ratios.msgs.push(m)
    if (c !== null) ratios.cpu.push(c)
    if (a !== null) ratios.aboveIdle.push(a)
  }
  ratioLines.push(
    `${label(r)}: ios master / multipaxos leader: msgs/op ${fmt(m)}, cpu us/op ${fmt(c)}, ` +
      `cpu us/op above idle ${fmt(a)}${sameLoad ? '' : ' (not at the same load: left out of the median)'}`,
  )
}
out.push('', summaryTable.toString(), ...ratioLines)
if (reps > 1) {
  const med = (xs: number[]): string => (xs.length === 0 ? '-' : median(xs).toFixed(2))
  for (const [condition, ratios] of ratiosByCondition)
    out.push(
      `${describeCondition(condition)}: median over the ${ratios.msgs.length} reps where both sustained the rate: ` +
        `msgs/op ${med(ratios.msgs)}, cpu us/op ${med(ratios.cpu)}, cpu us/op above idle ${med(ratios.aboveIdle)}`,
    )
}
if (unsustained)
  out.push(
    'note: an engine did not sustain its rate (NO above): its per-op figures are not at the same load; lower BENCH_RATE',
  )
out.push(`load average at the end: ${loadNow()}`)
process.stdout.write(`${out.join('\n')}\n`)
