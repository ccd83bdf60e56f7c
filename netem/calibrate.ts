/**
 * Calibration: measure the RTT of every shaped link through a shaper before the replicas exist, and say
 * how far each is from its target. Small TCP echo servers stand in for the endpoints that listen; the
 * same link shapes are applied to them; each link gets a stream of timestamped probes (pipelined, one
 * every `probeIntervalMs`, every link at once but staggered, and no more than `probesPerSecMax` in all,
 * so a five-site topology with its client links calibrates in a few seconds).
 *
 * The link from A to B has target RTT delay(A->B) + delay(B->A): a probe crosses A->B and its echo
 * B->A. When B does not listen (a client group), the probe goes the other way round the same two
 * directions: B dials A, so the pair's shapes are still the ones measured.
 */
import { connect, createServer, type Server, type Socket } from 'node:net'
import { newLatencyHistogram } from '../workloads/latency.ts'
import type { Endpoint, NetworkSpec, ShapedNetwork, Shaper } from './shaper.ts'

export interface CalibrateOptions {
  /** probes counted per link (after the warm-up ones); default 100 */
  readonly probesPerLink?: number
  /** probes sent first and not counted (connection warm-up); default 3 */
  readonly warmupProbes?: number
  /** the gap between a link's probes, at least; default 5 ms */
  readonly probeIntervalMs?: number
  /**
   * all links together send at most this many probes per second (the gap grows with the number of
   * links), so the probes measure the shaper, not a relay or an echo server they overload; default 1000
   */
  readonly probesPerSecMax?: number
  /** a link is within tolerance when |p50 - target| <= max(toleranceMsMin, toleranceFraction x target) */
  readonly toleranceMsMin?: number
  readonly toleranceFraction?: number
  /** give up on a link whose probes have not all come back this long after the last was sent; default 10 s */
  readonly timeoutMs?: number
  /** measure only these links (from, to); default every link of the spec */
  readonly only?: readonly { readonly from: string; readonly to: string }[]
}

export interface LinkCalibration {
  readonly from: string
  readonly to: string
  readonly targetRttMs: number
  readonly measuredRttMsP50: number
  readonly measuredRttMsP99: number
  /** measured p50 minus target (positive: slower than configured) */
  readonly errorMs: number
  readonly toleranceMs: number
  readonly withinTolerance: boolean
  readonly probes: number
}

export interface CalibrationResult {
  readonly shaper: Shaper['kind']
  readonly links: readonly LinkCalibration[]
}

/** every probe: 4-byte sequence number, padded to a fixed size so the echo stream splits into frames */
const PROBE_BYTES = 16

export interface EchoServer {
  readonly server: Server
  /** host:port it listens on */
  readonly address: string
  readonly sockets: Set<Socket>
}

/** A TCP echo server: a calibration's stand-in for an endpoint that listens. Port 0: any free port. */
export async function listenEcho(host: string, port = 0): Promise<EchoServer> {
  const sockets = new Set<Socket>()
  const server = createServer({ noDelay: true }, (socket) => {
    sockets.add(socket)
    socket.on('error', () => {}) // a relay closing resets its connections: expected at the end
    socket.on('close', () => sockets.delete(socket))
    socket.pipe(socket)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen({ host, port, exclusive: true }, () => resolve())
  })
  const a = server.address()
  if (a === null || typeof a === 'string')
    throw new Error(`calibrate: could not read the echo server's address`)
  return { server, address: `${host}:${a.port}`, sockets }
}

export async function closeEcho(echo: EchoServer): Promise<void> {
  for (const s of echo.sockets) s.destroy()
  await new Promise<void>((r) => echo.server.close(() => r()))
}

function echoHost(e: Endpoint): string {
  // a stand-in listens where the endpoint would, when that is a loopback address we can bind
  return e.host.startsWith('127.') ? e.host : '127.0.0.1'
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

/** Send the probes over one connection; returns RTTs in microseconds. */
async function probeLink(
  address: string,
  count: number,
  intervalMs: number,
  timeoutMs: number,
): Promise<number[]> {
  const i = address.lastIndexOf(':')
  const socket = connect({ host: address.slice(0, i), port: Number(address.slice(i + 1)), noDelay: true })
  socket.on('error', () => {})
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve)
      socket.once('error', (err) =>
        reject(new Error(`calibrate: cannot connect to ${address}: ${err.message}`)),
      )
    })
    const sentAtMs = new Float64Array(count)
    const rttsUs: number[] = []
    let pending: Buffer = Buffer.alloc(0)
    const done = new Promise<void>((resolve, reject) => {
      socket.on('data', (data: Buffer) => {
        const now = performance.now()
        pending = pending.length === 0 ? data : Buffer.concat([pending, data])
        while (pending.length >= PROBE_BYTES) {
          const seq = pending.readUInt32BE(0)
          pending = pending.subarray(PROBE_BYTES)
          if (seq < count) rttsUs.push((now - sentAtMs[seq]!) * 1000)
        }
        if (rttsUs.length === count) resolve()
      })
      socket.once('close', () =>
        reject(
          new Error(`calibrate: ${address} closed the connection after ${rttsUs.length}/${count} probes`),
        ),
      )
    })
    // a close while probes are still being sent rejects before the race below looks: not unhandled
    done.catch(() => {})
    const probe = Buffer.alloc(PROBE_BYTES)
    for (let seq = 0; seq < count; seq++) {
      probe.writeUInt32BE(seq, 0)
      sentAtMs[seq] = performance.now()
      socket.write(Buffer.from(probe))
      if (seq + 1 < count) await sleep(intervalMs)
    }
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new Error(
              `calibrate: ${address}: only ${rttsUs.length}/${count} probes came back within ${timeoutMs} ms`,
            ),
          ),
        timeoutMs,
      )
    })
    try {
      await Promise.race([done, timeout])
    } finally {
      clearTimeout(timer)
    }
    return rttsUs
  } finally {
    socket.destroy()
  }
}

/** One directed link to probe: the address to dial, and the one-way delays its probes cross. */
export interface ProbeTarget {
  readonly from: string
  readonly to: string
  /** host:port to dial: the probe crosses from -> to there and its echo to -> from */
  readonly address: string
  /** delay(from -> to) + delay(to -> from) as configured */
  readonly targetRttMs: number
}

/**
 * Probe links whose addresses are known (each reaches an echo server through the shaped path): the
 * probing half of calibrateNetwork, also used where the shaper runs elsewhere (a container's sidecar,
 * harness/launchers/compose). Links are probed at once, staggered, within `probesPerSecMax`.
 */
export async function probeLinks(
  targets: readonly ProbeTarget[],
  options: CalibrateOptions = {},
): Promise<LinkCalibration[]> {
  const probesPerLink = options.probesPerLink ?? 100
  const warmupProbes = options.warmupProbes ?? 3
  const probesPerSecMax = options.probesPerSecMax ?? 1000
  const toleranceMsMin = options.toleranceMsMin ?? 1
  const toleranceFraction = options.toleranceFraction ?? 0.02
  const timeoutMs = options.timeoutMs ?? 10_000
  if (!Number.isInteger(probesPerLink) || probesPerLink < 1)
    throw new Error(`calibrate: probesPerLink must be a positive integer, got ${probesPerLink}`)
  const intervalMs = Math.max(options.probeIntervalMs ?? 5, (targets.length * 1000) / probesPerSecMax)
  return Promise.all(
    targets.map(async ({ from, to, address, targetRttMs }, index) => {
      // staggered, so the links' probes do not leave in bursts
      await sleep((index * intervalMs) / targets.length)
      const rttsUs = (await probeLink(address, warmupProbes + probesPerLink, intervalMs, timeoutMs)).slice(
        warmupProbes,
      )
      const h = newLatencyHistogram()
      for (const us of rttsUs) h.recordValue(Math.max(1, Math.round(us)))
      const measuredRttMsP50 = Math.min(h.getValueAtPercentile(50), h.maxValue) / 1000
      const measuredRttMsP99 = Math.min(h.getValueAtPercentile(99), h.maxValue) / 1000
      const errorMs = measuredRttMsP50 - targetRttMs
      const toleranceMs = Math.max(toleranceMsMin, toleranceFraction * targetRttMs)
      return {
        from,
        to,
        targetRttMs,
        measuredRttMsP50,
        measuredRttMsP99,
        errorMs,
        toleranceMs,
        withinTolerance: Math.abs(errorMs) <= toleranceMs,
        probes: rttsUs.length,
      } satisfies LinkCalibration
    }),
  )
}

/**
 * The probe targets of a shaped network: every link of `links` (default all of the spec's), dialled
 * from the side that does not listen when only one does (a client group), so the pair's two
 * directions are the ones measured.
 */
export function probeTargets(
  spec: NetworkSpec,
  addressFor: (from: string, to: string) => string,
  links: readonly { readonly from: string; readonly to: string }[] = spec.links,
): ProbeTarget[] {
  const shapeOf = new Map(spec.links.map((l) => [`${l.from}>${l.to}`, l.shape]))
  const delayMs = (from: string, to: string) => shapeOf.get(`${from}>${to}`)?.delayMs ?? 0
  const byId = new Map(spec.endpoints.map((e) => [e.id, e]))
  return links.map(({ from, to }) => {
    const a = byId.get(from)
    const b = byId.get(to)
    if (a === undefined || b === undefined) throw new Error(`calibrate: unknown link ${from} -> ${to}`)
    if (a.listenAddress === null && b.listenAddress === null)
      throw new Error(
        `calibrate: neither ${from} nor ${to} listens, so the link ${from} -> ${to} cannot be probed`,
      )
    const address = b.listenAddress !== null ? addressFor(from, to) : addressFor(to, from)
    return { from, to, address, targetRttMs: delayMs(from, to) + delayMs(to, from) }
  })
}

/** Measure every shaped link of `spec` through `shaper`; cleans up its echo servers and the network. */
export async function calibrateNetwork(
  shaper: Shaper,
  spec: NetworkSpec,
  options: CalibrateOptions = {},
): Promise<CalibrationResult> {
  const echoes: EchoServer[] = []
  let network: ShapedNetwork | null = null
  try {
    // unknown links fail before anything listens
    const wanted = probeTargets(spec, () => '', options.only)
    const endpoints: Endpoint[] = []
    for (const e of spec.endpoints) {
      if (e.listenAddress === null) {
        endpoints.push(e)
        continue
      }
      const echo = await listenEcho(echoHost(e))
      echoes.push(echo)
      endpoints.push({ ...e, listenAddress: echo.address })
    }
    network = await shaper.apply({ endpoints, links: spec.links })
    const shaped = network
    const links = await probeLinks(
      probeTargets(spec, (from, to) => shaped.addressFor(from, to), wanted),
      options,
    )
    return { shaper: shaper.kind, links }
  } finally {
    await network?.close()
    for (const echo of echoes) await closeEcho(echo)
  }
}
