/**
 * One driver process's job: run its share of the load (closed or open loop) from the common start time,
 * then measure it: the window-trimmed latency into HDR histograms (encoded, so a parent merges them
 * through that form), commands per site, and the process's own CPU use over the load, so a saturated
 * driver is reported instead of passing for a slow engine. The same function runs in-process (one
 * driver) and in each child (driver-main.ts).
 */
import { cpuUsage } from 'node:process'
import { runClockAt } from './clock.ts'
import { runClosedLoop } from './closed-loop.ts'
import type { ArrivalCounts, DriverOp, DriverResult, DriverSpec } from './driver-spec.ts'
import { CommandExecutor, sleepMs } from './executor.ts'
import { LatencyRecorder } from './latency.ts'
import { runOpenLoop } from './open-loop.ts'

/**
 * The open loop's sockets per replica and driver process. Without a cap, a burst of arrivals (after a
 * stall, say) opens one connection per command at once, overflows the replica's accept queue (Node's
 * listen backlog is 511), and the dropped SYNs come back only after TCP's 1 s, 3 s, 7 s retransmission
 * backoff: seconds of latency made by the driver, not the system under test. With the cap, commands
 * beyond it wait in the driver's queue for a connection, measured from their intended start like any wait.
 */
export const OPEN_LOOP_CONNECTIONS_PER_REPLICA = 64

export interface DriverHooks {
  readonly signal?: AbortSignal | undefined
  readonly onComplete?: ((op: DriverOp) => void) | undefined
}

/** The measured window: warm-up trimmed from the start, cool-down from the scheduled end. */
export function measuredWindow(spec: DriverSpec): { startUs: number; endUs: number } {
  return {
    startUs: spec.startUs + spec.warmupMs * 1000,
    endUs: spec.startUs + (spec.durationMs - spec.cooldownMs) * 1000,
  }
}

export async function runDriver(spec: DriverSpec, hooks: DriverHooks = {}): Promise<DriverResult> {
  const clock = runClockAt(spec.clock.zeroNs, spec.clock.zeroEpochMs)
  const executor = new CommandExecutor({
    replicas: spec.replicas,
    sites: spec.sites,
    requestTimeoutMs: spec.requestTimeoutMs,
    maxAttempts: spec.maxAttempts,
    clock,
    connectionsPerReplica: spec.shape.kind === 'open' ? OPEN_LOOP_CONNECTIONS_PER_REPLICA : null,
    api: spec.api,
  })
  const records: DriverOp[] = []
  const ctx = { spec, executor, clock, records, signal: hooks.signal, onComplete: hooks.onComplete }
  const lead = spec.startUs - clock.nowUs()
  if (lead > 0) await sleepMs(lead / 1000)
  const cpuBefore = cpuUsage()
  const startUs = clock.nowUs()
  let truncated: boolean
  let arrivals: ArrivalCounts | null = null
  try {
    if (spec.shape.kind === 'closed') truncated = (await runClosedLoop(ctx, spec.shape)).truncated
    else ({ truncated, arrivals } = await runOpenLoop(ctx, spec.shape))
  } finally {
    await executor.close()
  }
  const endUs = clock.nowUs()
  const cpu = cpuUsage(cpuBefore)
  const wallUs = Math.max(1, endUs - startUs)
  records.sort((a, b) => a.invokeUs - b.invokeUs)

  const window = measuredWindow(spec)
  // closed loop with an op count: the load may end before the scheduled end; the window ends with it
  const windowEndUs =
    spec.shape.kind === 'closed' && spec.shape.opsPerClient !== null
      ? Math.min(window.endUs, endUs)
      : window.endUs
  const latency = new LatencyRecorder()
  const measuredOpsBySite: Record<string, number> = Object.fromEntries(spec.sites.map((s) => [s.name, 0]))
  for (const op of records) {
    if (op.outcome !== 'ok' || op.intendedUs < window.startUs || op.intendedUs >= windowEndUs) continue
    // from the intended start: in the open loop that includes any wait behind a stalled system
    latency.record(op.site, op.op, op.completeUs! - op.intendedUs)
    measuredOpsBySite[op.site] = (measuredOpsBySite[op.site] ?? 0) + 1
  }
  return {
    driverIndex: spec.driverIndex,
    records,
    latencyHlog: latency.toHlog(spec.clock.zeroEpochMs, window.startUs / 1e6, windowEndUs / 1e6),
    errors: { ...executor.errors },
    measuredOpsBySite,
    arrivals,
    cpu: {
      driverIndex: spec.driverIndex,
      userUs: cpu.user,
      systemUs: cpu.system,
      wallUs,
      utilization: (cpu.user + cpu.system) / wallUs,
    },
    // the scheduled start, common to every driver (the CPU window above starts when this one did)
    startUs: spec.startUs,
    endUs,
    windowStartUs: window.startUs,
    windowEndUs,
    truncated,
  }
}
