/**
 * A whole load: one LoadSpec split over `drivers` driver processes (1 = in this process), started at one
 * common time, and their results merged: histories concatenated, HDR histograms added through their
 * encoded form, error and arrival counts summed, and each driver's CPU use kept, with a driver at or
 * above DRIVER_SATURATED_UTILIZATION of a core flagged as saturated (its own limit, not the engine's,
 * may then set the figures).
 */
import { type ChildProcess, fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { HistoryOp } from '../harness/check/history.ts'
import { trackPid, untrackPid } from '../harness/launchers/cleanup.ts'
import type { RunClock } from './clock.ts'
import { runDriver } from './driver.ts'
import type { ArrivalCounts, DriverCpu, DriverOp, DriverResult, DriverSpec, LoadSpec } from './driver-spec.ts'
import { addErrors, type DriverErrors, noErrors } from './executor.ts'
import { LatencyRecorder } from './latency.ts'
import { workloadProblems } from './ops.ts'

/** A driver busier than this fraction of one core is reported as saturated. */
export const DRIVER_SATURATED_UTILIZATION = 0.9
/** How long child drivers get to start (tsx compiles on load) before the run fails. */
const CHILD_READY_TIMEOUT_MS = 30_000
/** Children start this long after the last one is ready, so the first command of each is on time. */
const START_LEAD_MS = 50

export interface LoadHooks {
  readonly drivers?: number
  readonly clock: RunClock
  readonly signal?: AbortSignal | undefined
  /** n more commands finished (progress reporting) */
  readonly onCompleted?: ((n: number) => void) | undefined
  /** the load's start on the run clock, shared by every driver (the measured window is relative to it) */
  readonly onStart?: ((startUs: number) => void) | undefined
}

export interface DriverReport extends DriverCpu {
  readonly saturated: boolean
}

export interface LoadResult {
  /** every command, sorted by invokeUs, in the checker's form */
  readonly history: HistoryOp[]
  /** the same commands with their site and intended start */
  readonly records: DriverOp[]
  readonly latency: LatencyRecorder
  readonly errors: DriverErrors
  readonly measuredOpsBySite: ReadonlyMap<string, number>
  /** open loop only */
  readonly arrivals: ArrivalCounts | null
  readonly drivers: readonly DriverReport[]
  readonly startUs: number
  readonly endUs: number
  readonly windowStartUs: number
  readonly windowEndUs: number
  readonly truncated: boolean
}

export function loadSpecProblems(spec: LoadSpec, drivers: number): string[] {
  const problems = workloadProblems(spec.workload)
  if (spec.sites.length === 0) problems.push('at least one site is needed')
  if (!Number.isInteger(drivers) || drivers < 1)
    problems.push(`drivers must be a whole number >= 1, got ${drivers}`)
  const s = spec.shape
  if (s.kind === 'closed') {
    if (!Number.isInteger(s.clientsPerSite) || s.clientsPerSite < 1) problems.push('clientsPerSite >= 1')
    if (!(s.thinkTimeMs >= 0)) problems.push('thinkTimeMs >= 0')
    if (s.opsPerClient !== null && !(Number.isInteger(s.opsPerClient) && s.opsPerClient >= 1))
      problems.push('opsPerClient >= 1')
  } else {
    if (!(s.rateOpsPerSec > 0 && Number.isFinite(s.rateOpsPerSec))) problems.push('rateOpsPerSec > 0')
    if (!Number.isInteger(s.maxOutstanding) || s.maxOutstanding < 1) problems.push('maxOutstanding >= 1')
  }
  if (!(spec.durationMs > 0)) problems.push('durationMs > 0')
  if (!(spec.warmupMs >= 0 && spec.cooldownMs >= 0 && spec.warmupMs + spec.cooldownMs < spec.durationMs))
    problems.push('warmupMs + cooldownMs < durationMs')
  if (!(spec.requestTimeoutMs > 0)) problems.push('requestTimeoutMs > 0')
  if (!Number.isInteger(spec.maxAttempts) || spec.maxAttempts < 1) problems.push('maxAttempts >= 1')
  for (const site of spec.sites)
    if (!spec.replicas.some((r) => r.id === site.replica))
      problems.push(`site ${site.name}: unknown replica ${site.replica}`)
  return problems
}

export async function runLoad(spec: LoadSpec, hooks: LoadHooks): Promise<LoadResult> {
  const drivers = hooks.drivers ?? 1
  const problems = loadSpecProblems(spec, drivers)
  if (problems.length > 0) throw new Error(`load: ${problems.join('; ')}`)
  const clock = { zeroNs: hooks.clock.zeroNs, zeroEpochMs: hooks.clock.zeroEpochMs }
  const specFor = (driverIndex: number, startUs: number): DriverSpec => ({
    ...spec,
    driverIndex,
    driverCount: drivers,
    clock,
    startUs,
  })
  let results: DriverResult[]
  if (drivers === 1) {
    results = [
      await runDriver(specFor(0, started(hooks, hooks.clock.nowUs())), {
        signal: hooks.signal,
        onComplete: () => hooks.onCompleted?.(1),
      }),
    ]
  } else {
    results = await runChildDrivers(drivers, specFor, hooks)
  }
  return mergeDriverResults(results)
}

function started(hooks: LoadHooks, startUs: number): number {
  hooks.onStart?.(startUs)
  return startUs
}

export function mergeDriverResults(results: readonly DriverResult[]): LoadResult {
  const records = results.flatMap((r) => r.records).sort((a, b) => a.invokeUs - b.invokeUs)
  const latency = new LatencyRecorder()
  const errors = noErrors()
  const measuredOpsBySite = new Map<string, number>()
  let arrivals: ArrivalCounts | null = null
  for (const r of results) {
    latency.addHlog(r.latencyHlog)
    addErrors(errors, r.errors)
    for (const [site, n] of Object.entries(r.measuredOpsBySite))
      measuredOpsBySite.set(site, (measuredOpsBySite.get(site) ?? 0) + n)
    if (r.arrivals !== null) {
      arrivals ??= { intended: 0, intendedInWindow: 0, sent: 0, sentLate: 0 }
      arrivals.intended += r.arrivals.intended
      arrivals.intendedInWindow += r.arrivals.intendedInWindow
      arrivals.sent += r.arrivals.sent
      arrivals.sentLate += r.arrivals.sentLate
    }
  }
  return {
    history: records.map(({ site: _site, intendedUs: _intendedUs, ...op }) => op),
    records,
    latency,
    errors,
    measuredOpsBySite,
    arrivals,
    drivers: results.map((r) => ({ ...r.cpu, saturated: r.cpu.utilization >= DRIVER_SATURATED_UTILIZATION })),
    startUs: Math.min(...results.map((r) => r.startUs)),
    endUs: Math.max(...results.map((r) => r.endUs)),
    windowStartUs: Math.min(...results.map((r) => r.windowStartUs)),
    windowEndUs: Math.max(...results.map((r) => r.windowEndUs)),
    truncated: results.some((r) => r.truncated),
  }
}

type ChildMessage =
  | { type: 'ready' }
  | { type: 'progress'; completed: number }
  | { type: 'result'; result: DriverResult }

const DRIVER_MAIN = fileURLToPath(new URL('./driver-main.ts', import.meta.url))

async function runChildDrivers(
  drivers: number,
  specFor: (driverIndex: number, startUs: number) => DriverSpec,
  hooks: LoadHooks,
): Promise<DriverResult[]> {
  const children: ChildProcess[] = []
  const readies: Promise<void>[] = []
  const results: Promise<DriverResult>[] = []
  const stopAll = () => {
    for (const c of children) if (c.connected) c.send({ type: 'stop' })
  }
  hooks.signal?.addEventListener('abort', stopAll, { once: true })
  try {
    for (let d = 0; d < drivers; d++) {
      const child = fork(DRIVER_MAIN, [], {
        execArgv: ['--import', 'tsx'],
        serialization: 'advanced',
        // a child's stdout goes to our stderr: stdout is the table or --json
        stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
      })
      child.stdout?.pipe(process.stderr, { end: false })
      if (child.pid !== undefined) trackPid(child.pid)
      children.push(child)
      let ready!: () => void
      readies.push(
        new Promise<void>((resolve, reject) => {
          ready = resolve
          setTimeout(
            () => reject(new Error(`driver ${d} not ready after ${CHILD_READY_TIMEOUT_MS} ms`)),
            CHILD_READY_TIMEOUT_MS,
          ).unref()
        }),
      )
      results.push(
        new Promise<DriverResult>((resolve, reject) => {
          let result: DriverResult | null = null
          child.on('message', (m: ChildMessage) => {
            if (m.type === 'ready') ready()
            else if (m.type === 'progress') hooks.onCompleted?.(m.completed)
            else result = m.result
          })
          child.on('error', (err) => reject(new Error(`driver ${d}: ${err.message}`)))
          child.on('exit', (code, signal) => {
            if (child.pid !== undefined) untrackPid(child.pid)
            if (result !== null) resolve(result)
            else reject(new Error(`driver ${d} exited (code ${code}, signal ${signal}) without a result`))
          })
        }),
      )
    }
    // a child that dies before it is ready fails the load at once, not after the ready timeout
    await Promise.race([Promise.all(readies), Promise.all(results)])
    const startUs = started(hooks, hooks.clock.nowUs() + START_LEAD_MS * 1000)
    for (const [d, child] of children.entries()) child.send({ type: 'run', spec: specFor(d, startUs) })
    return await Promise.all(results)
  } finally {
    hooks.signal?.removeEventListener('abort', stopAll)
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  }
}
