/**
 * The open-loop driver: commands start on a schedule fixed in advance (arrivals.ts, constant or
 * Poisson at a total rate), whatever the system does, and latency is measured from each command's
 * INTENDED start, not from when it was actually sent. A 1 s stall therefore shows as about 1 s of
 * latency for the commands due during it (coordinated omission corrected), where a closed loop records
 * one slow command per client and hides the rest.
 *
 * Each arrival is handed to an idle virtual client of its site (`<site>-o<driver>.<i>`, created on
 * demand), which runs it through the executor (retries, unknown outcomes) and becomes idle again: one
 * command per client at a time, so (client, seq) ids and private keys stay as in the closed loop, and
 * every virtual client draws its commands from its own seeded stream.
 *
 * The bound: at most `maxOutstanding` commands in flight per driver process. When it is reached,
 * arrivals are not dropped: they wait and are sent as soon as a command finishes, still measured from
 * their intended time (so the wait is in the latency), and counted as `sentLate`. Sending stops at the
 * end of the schedule plus one request timeout; arrivals still waiting then are counted as
 * `errors.unsent` (and the run flags them): recorded, never silently dropped.
 */
import { arrivalTimes } from './arrivals.ts'
import type { LoopContext } from './closed-loop.ts'
import type { ArrivalCounts, DriverOp, LoadShape } from './driver-spec.ts'
import type { Site } from './executor.ts'
import { sleepMs } from './executor.ts'
import { opGenerator } from './ops.ts'
import { seededRandom } from './random.ts'
import type { KvRequest } from './replica-client.ts'

interface VirtualClient {
  readonly name: string
  seq: number
  readonly next: (seq: number) => KvRequest
}

interface Stream {
  readonly site: Site
  readonly nextAfterStart: () => number
  /** intended time of the next arrival, on the run clock */
  nextUs: number
  readonly idle: VirtualClient[]
  made: number
}

export async function runOpenLoop(
  ctx: LoopContext,
  shape: Extract<LoadShape, { kind: 'open' }>,
): Promise<{ truncated: boolean; arrivals: ArrivalCounts }> {
  const { spec, executor, clock, records } = ctx
  const endUs = spec.startUs + spec.durationMs * 1000
  const windowStartUs = spec.startUs + spec.warmupMs * 1000
  const windowEndUs = endUs - spec.cooldownMs * 1000
  // a backlog is still sent for one request timeout after the schedule ends, then given up on
  const sendDeadlineUs = endUs + spec.requestTimeoutMs * 1000
  const maxOps = Math.max(1, Math.floor(spec.maxOps / spec.driverCount))
  const streamCount = spec.driverCount * spec.sites.length
  const streams: Stream[] = spec.sites.map((site, s) => {
    const index = spec.driverIndex * spec.sites.length + s
    const random = seededRandom(spec.seed, `arrivals/${spec.driverIndex}/${site.name}`)
    const nextAfterStart = arrivalTimes(shape.arrival, shape.rateOpsPerSec, index, streamCount, random)
    return { site, nextAfterStart, nextUs: spec.startUs + nextAfterStart(), idle: [], made: 0 }
  })
  const arrivals: ArrivalCounts = { intended: 0, intendedInWindow: 0, sent: 0, sentLate: 0 }
  let outstanding = 0
  let wake: (() => void) | null = null
  let truncated = false
  /** set while arrivals are held back by the outstanding bound; cleared once the schedule is caught up */
  let blocked = false
  const inFlight = new Set<Promise<void>>()

  const advance = (stream: Stream) => {
    arrivals.intended++
    if (stream.nextUs >= windowStartUs && stream.nextUs < windowEndUs) arrivals.intendedInWindow++
    stream.nextUs = spec.startUs + stream.nextAfterStart()
  }

  const dispatch = (stream: Stream, intendedUs: number, late: boolean) => {
    const client =
      stream.idle.pop() ??
      (() => {
        const name = `${stream.site.name}-o${spec.driverIndex}.${stream.made++}`
        return {
          name,
          seq: 0,
          next: opGenerator(name, spec.workload, seededRandom(spec.seed, `client/${name}`)),
        }
      })()
    client.seq++
    outstanding++
    arrivals.sent++
    if (late) arrivals.sentLate++
    const run = executor.execute(stream.site, client.next(client.seq)).then((done) => {
      const op: DriverOp = { ...done, site: stream.site.name, intendedUs }
      records.push(op)
      ctx.onComplete?.(op)
      stream.idle.push(client)
      outstanding--
      inFlight.delete(run)
      const w = wake
      wake = null
      w?.()
    })
    inFlight.add(run)
  }

  for (;;) {
    let stream = streams[0]!
    for (const s of streams) if (s.nextUs < stream.nextUs) stream = s
    if (stream.nextUs >= endUs || ctx.signal?.aborted === true) break
    if (records.length + outstanding >= maxOps) {
      truncated = true
      break
    }
    if (outstanding >= shape.maxOutstanding) {
      blocked = true
      if (clock.nowUs() >= sendDeadlineUs) break
      await new Promise<void>((resolve) => {
        wake = resolve
      })
      continue
    }
    const waitUs = stream.nextUs - clock.nowUs()
    if (waitUs > 0) {
      blocked = false
      // timers are ~1 ms coarse: a command may leave up to about 1 ms late; its latency still counts
      // from the intended time, so lateness costs accuracy of the send, never of the measurement
      await sleepMs(Math.max(1, Math.floor(waitUs / 1000)))
      continue
    }
    const intendedUs = stream.nextUs
    advance(stream)
    dispatch(stream, intendedUs, blocked)
  }
  // what the schedule still held when sending stopped: counted, never silently dropped
  if (!truncated && ctx.signal?.aborted !== true) {
    for (const s of streams) {
      while (s.nextUs < endUs) {
        ctx.executor.errors.unsent++
        advance(s)
      }
    }
  }
  await Promise.all(inFlight)
  return { truncated, arrivals }
}
