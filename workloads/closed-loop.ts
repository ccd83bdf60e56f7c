/**
 * The closed-loop driver: sequential sessions, each with one command outstanding at a time, and an
 * optional think time between a command's answer and the next command. Client `<site>-c<i>` numbers its
 * commands 1, 2, ...; with several driver processes, driver d runs the clients with i mod drivers = d.
 *
 * Latency is from the actual send: a closed loop does not correct coordinated omission (a stalled
 * system also stalls the clients, so the commands that would have waited are never issued). Use the
 * open loop (open-loop.ts) for honest tails under stalls.
 */

import type { RunClock } from './clock.ts'
import type { DriverOp, DriverSpec, LoadShape } from './driver-spec.ts'
import { type CommandExecutor, sleepMs } from './executor.ts'
import { opGenerator } from './ops.ts'
import { seededRandom } from './random.ts'

export interface LoopContext {
  readonly spec: DriverSpec
  readonly executor: CommandExecutor
  readonly clock: RunClock
  /** every finished command is pushed here */
  readonly records: DriverOp[]
  /** stops issuing new commands early (in-flight ones still finish or time out) */
  readonly signal?: AbortSignal | undefined
  /** called as each command finishes (progress reporting) */
  readonly onComplete?: ((op: DriverOp) => void) | undefined
}

/** This driver's share of the closed-loop client indices of a site. */
export function clientIndicesOf(clientsPerSite: number, driverIndex: number, driverCount: number): number[] {
  const out: number[] = []
  for (let i = driverIndex; i < clientsPerSite; i += driverCount) out.push(i)
  return out
}

export async function runClosedLoop(
  ctx: LoopContext,
  shape: Extract<LoadShape, { kind: 'closed' }>,
): Promise<{ truncated: boolean }> {
  const { spec, executor, clock, records } = ctx
  const endUs = spec.startUs + spec.durationMs * 1000
  const maxOps = Math.max(1, Math.floor(spec.maxOps / spec.driverCount))
  let truncated = false

  async function session(siteIndex: number, index: number): Promise<void> {
    const site = spec.sites[siteIndex]!
    const client = `${site.name}-c${index}`
    const next = opGenerator(client, spec.workload, seededRandom(spec.seed, `client/${client}`))
    for (let seq = 1; ; seq++) {
      if (shape.opsPerClient !== null && seq > shape.opsPerClient) return
      if (clock.nowUs() >= endUs || ctx.signal?.aborted === true) return
      if (records.length >= maxOps) {
        truncated = true
        return
      }
      const done = await executor.execute(site, next(seq))
      const op: DriverOp = { ...done, site: site.name, intendedUs: done.invokeUs }
      records.push(op)
      ctx.onComplete?.(op)
      if (shape.thinkTimeMs > 0) await sleepMs(shape.thinkTimeMs)
    }
  }

  const sessions: Promise<void>[] = []
  for (let s = 0; s < spec.sites.length; s++) {
    for (const i of clientIndicesOf(shape.clientsPerSite, spec.driverIndex, spec.driverCount))
      sessions.push(session(s, i))
  }
  await Promise.all(sessions)
  return { truncated }
}
