/**
 * `npm run bench:driver`: the most ops/s ONE driver process sustains on this machine, against a no-op
 * replica (bench/noop-replica.mjs: node:http answering the client API at once, in its own process), so
 * the figure is the driver's, not an engine's. The driver is the real one (workloads/load.ts, one
 * process): its keys, history, HDR recording and undici pools.
 *
 * Closed loop: rising clients per site (3 sites, each "replica" the same no-op server); the figure is
 * the best ops/s. Open loop: rising constant arrival rates; a rate is sustained when the commands sent
 * and completed in the measured window are within 1% of it and no arrival was sent late or never sent.
 * Each step also reports the driver's CPU (1.0 = one core) and the no-op server's, to tell which side
 * ran out.
 *
 * Env: BENCH_STEP (per step, default 3s), BENCH_CLIENTS (per site, default 4,16,32,64,128),
 * BENCH_RATES (ops/s, default 1000,2000,5000,10000,...,30000; it stops at the first rate not sustained).
 */
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { createInterface } from 'node:readline'
import Table from 'cli-table3'
import { parseDurationMs } from '../harness/commands/run.ts'
import { trackPid, untrackPid } from '../harness/launchers/cleanup.ts'
import { startRunClock } from '../workloads/clock.ts'
import type { LoadShape, LoadSpec } from '../workloads/driver-spec.ts'
import { runLoad } from '../workloads/load.ts'

/** What this machine aims for: one driver process should not be what limits a run on it. */
const TARGET_OPS_PER_SEC = 15_000
const SITES = ['r0', 'r1', 'r2']

function envList(name: string, fallback: number[]): number[] {
  const raw = process.env[name]
  if (raw === undefined) return fallback
  const list = raw.split(',').map(Number)
  if (list.some((n) => !(n > 0)))
    throw new Error(`${name}: '${raw}' is not a list of positive numbers like 4,16,64`)
  return list
}

const stepMs = parseDurationMs(process.env.BENCH_STEP ?? '3s')
if (stepMs === null || stepMs < 1000)
  throw new Error(`BENCH_STEP: '${process.env.BENCH_STEP}': give 1s or more`)
const warmupMs = Math.min(500, Math.floor(stepMs / 4))
const clientSteps = envList('BENCH_CLIENTS', [4, 16, 32, 64, 128])
const rateSteps = envList('BENCH_RATES', [1000, 2000, 5000, 10_000, 15_000, 20_000, 25_000, 30_000])

/** CPU seconds a process has used so far (Linux /proc; null elsewhere) */
function processCpuSec(pid: number): number | null {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
    // utime and stime are fields 14 and 15 of stat, i.e. 11 and 12 after the ') ' split, in clock ticks
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return null
  }
}

async function startNoopReplica(): Promise<{ url: string; pid: number; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [new URL('./noop-replica.mjs', import.meta.url).pathname], {
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  if (child.pid === undefined) throw new Error('could not start bench/noop-replica.mjs')
  const pid = child.pid
  trackPid(pid)
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const stop = async (): Promise<void> => {
    child.kill('SIGTERM')
    await exited
    untrackPid(pid)
  }
  const lines = createInterface({ input: child.stdout! })
  for await (const line of lines) {
    const port = (JSON.parse(line) as { port: number }).port
    lines.close()
    return { url: `http://127.0.0.1:${port}`, pid, stop }
  }
  await stop()
  throw new Error('bench/noop-replica.mjs exited before it listened')
}

interface StepResult {
  readonly label: string
  readonly opsPerSec: number
  readonly sentPerSec: number | null
  readonly p50Ms: number
  readonly p99Ms: number
  readonly driverCpu: number
  /** driver CPU (user + system) per command over the whole step: what a command costs the driver */
  readonly driverCpuUsPerOp: number
  readonly serverCpu: number | null
  readonly late: number
  readonly errors: number
  readonly sustained: boolean | null
}

async function step(url: string, serverPid: number, shape: LoadShape, label: string): Promise<StepResult> {
  const spec: LoadSpec = {
    sites: SITES.map((name) => ({ name, replica: name })),
    replicas: SITES.map((id) => ({ id, clientUrl: url })),
    workload: {
      keys: { kind: 'conflict', conflict: 0.1, sharedKeys: 1, privateKeysPerClient: 16 },
      readRatio: 0.5,
      valueSizeBytes: 0,
    },
    shape,
    seed: 1,
    durationMs: stepMs!,
    warmupMs,
    cooldownMs: 0,
    requestTimeoutMs: 2000,
    maxAttempts: 1,
    maxOps: 2_000_000,
  }
  const serverCpuBefore = processCpuSec(serverPid)
  const load = await runLoad(spec, { clock: startRunClock() })
  const serverCpuAfter = processCpuSec(serverPid)
  const windowSec = (load.windowEndUs - load.windowStartUs) / 1e6
  const ops = [...load.measuredOpsBySite.values()].reduce((a, b) => a + b, 0)
  const latency = load.latency.merged()
  const wallSec = (load.endUs - load.startUs) / 1e6
  const e = load.errors
  const errors = e.timeout + e.rejected + e.refused + e.connection + e.http + e.unsent
  const opsPerSec = Math.round(ops / windowSec)
  const arrivals = load.arrivals
  const sentPerSec = arrivals === null ? null : Math.round(arrivals.sent / (stepMs! / 1000))
  const sustained =
    shape.kind === 'open'
      ? opsPerSec >= 0.99 * shape.rateOpsPerSec &&
        arrivals !== null &&
        arrivals.sentLate === 0 &&
        errors === 0
      : null
  return {
    label,
    opsPerSec,
    sentPerSec,
    p50Ms: latency.getValueAtPercentile(50) / 1000,
    p99Ms: latency.getValueAtPercentile(99) / 1000,
    driverCpu: load.drivers[0]?.utilization ?? 0,
    driverCpuUsPerOp:
      load.history.length === 0
        ? 0
        : Math.round(
            ((load.drivers[0]?.userUs ?? 0) + (load.drivers[0]?.systemUs ?? 0)) / load.history.length,
          ),
    serverCpu:
      serverCpuBefore === null || serverCpuAfter === null
        ? null
        : (serverCpuAfter - serverCpuBefore) / wallSec,
    late: arrivals?.sentLate ?? 0,
    errors,
    sustained,
  }
}

function table(results: readonly StepResult[]): string {
  const t = new Table({
    style: { head: [], border: [] },
    head: [
      'step',
      'ops/s',
      'sent/s',
      'p50 ms',
      'p99 ms',
      'driver CPU',
      'driver us/op',
      'server CPU',
      'late',
      'errors',
      'sustained',
    ],
  })
  for (const r of results)
    t.push([
      r.label,
      r.opsPerSec,
      r.sentPerSec ?? '',
      r.p50Ms.toFixed(2),
      r.p99Ms.toFixed(2),
      r.driverCpu.toFixed(2),
      r.driverCpuUsPerOp,
      r.serverCpu === null ? '?' : r.serverCpu.toFixed(2),
      r.late,
      r.errors,
      r.sustained === null ? '' : r.sustained ? 'yes' : 'no',
    ])
  return t.toString()
}

const cpu = cpus()
process.stdout.write(
  `machine: ${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, node ${process.version}, ` +
    `load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')} (other processes share these cores)\n`,
)
const server = await startNoopReplica()
try {
  const closed: StepResult[] = []
  for (const clientsPerSite of clientSteps) {
    process.stderr.write(`closed loop, ${clientsPerSite} clients/site ...\n`)
    closed.push(
      await step(
        server.url,
        server.pid,
        { kind: 'closed', clientsPerSite, thinkTimeMs: 0, opsPerClient: null },
        `closed ${clientsPerSite * SITES.length} clients`,
      ),
    )
  }
  process.stdout.write(
    `closed loop (${SITES.length} sites, ${stepMs / 1000} s a step, warm-up ${warmupMs} ms):\n${table(closed)}\n`,
  )
  const open: StepResult[] = []
  for (const rateOpsPerSec of rateSteps) {
    process.stderr.write(`open loop, ${rateOpsPerSec} ops/s ...\n`)
    const r = await step(
      server.url,
      server.pid,
      { kind: 'open', rateOpsPerSec, arrival: 'constant', maxOutstanding: 2000 },
      `open ${rateOpsPerSec}/s`,
    )
    open.push(r)
    if (!r.sustained) break // higher rates only fall further behind
  }
  process.stdout.write(`open loop (constant arrivals):\n${table(open)}\n`)
  const bestClosed = Math.max(...closed.map((r) => r.opsPerSec))
  const bestOpen = Math.max(0, ...open.filter((r) => r.sustained).map((r) => r.opsPerSec))
  const verdict = (x: number) => (x >= TARGET_OPS_PER_SEC ? 'meets' : 'BELOW')
  // CPU per command, from the busiest closed-loop step: what one core given to the driver alone would carry
  const busiest = closed.reduce((a, b) => (b.opsPerSec > a.opsPerSec ? b : a))
  const perCoreOpsPerSec = busiest.driverCpuUsPerOp > 0 ? Math.round(1e6 / busiest.driverCpuUsPerOp) : 0
  process.stdout.write(
    `one driver process: closed loop ${bestClosed} ops/s (${verdict(bestClosed)} the ${TARGET_OPS_PER_SEC} aim), ` +
      `open loop ${bestOpen} ops/s sustained (${verdict(bestOpen)} the aim)\n` +
      `driver CPU per command ${busiest.driverCpuUsPerOp} us at the busiest closed-loop step: ` +
      `about ${perCoreOpsPerSec} ops/s for one core given to the driver alone` +
      (busiest.driverCpu < 0.8
        ? ` (the driver used ${busiest.driverCpu.toFixed(2)} of a core: it was not what ran out)`
        : '') +
      '\n',
  )
} finally {
  await server.stop()
}
