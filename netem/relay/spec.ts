/**
 * Validation of what crosses the relay's process boundary: the NetworkSpec (checked on both sides, so a
 * bad spec fails in the harness with a clear message, not as a dead child) and the control requests.
 */
import { z } from 'zod'
import type { LinkShape, NetworkSpec } from '../shaper.ts'

export const linkShapeSchema = z.strictObject({
  delayMs: z.number().min(0).max(60_000),
  jitterMs: z.number().min(0).max(60_000),
  jitterDistribution: z.enum(['normal', 'uniform', 'pareto', 'paretonormal']),
  lossRate: z.number().min(0).lt(1),
  bandwidthBytesPerSec: z.number().positive().nullable(),
})

const endpointSchema = z.strictObject({
  id: z.string().min(1),
  site: z.string(),
  host: z.string().min(1),
  listenAddress: z
    .string()
    .regex(/^[^:\s]+:\d{1,5}$/, 'must be host:port')
    .nullable(),
})

export const networkSpecSchema = z.strictObject({
  endpoints: z.array(endpointSchema).max(1000),
  links: z.array(z.strictObject({ from: z.string(), to: z.string(), shape: linkShapeSchema })).max(1_000_000),
  inbound: z
    .array(
      z.strictObject({
        to: z.string(),
        header: z.string().regex(/^[A-Za-z0-9-]+$/),
        sources: z.record(z.string(), z.string()),
        listen: z
          .string()
          .regex(/^[^:\s]+:\d{1,5}$/, 'must be host:port')
          .optional(),
      }),
    )
    .max(1000)
    .optional(),
})

/** The spec, checked for shape and for references (every link names known endpoints, no self-links). */
export function parseNetworkSpec(input: unknown, where: string): NetworkSpec {
  const parsed = networkSpecSchema.safeParse(input)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    throw new Error(`${where}: ${issue.path.join('.') || '(root)'}: ${issue.message}`)
  }
  const spec = parsed.data
  const ids = new Set<string>()
  for (const [i, e] of spec.endpoints.entries()) {
    if (ids.has(e.id)) throw new Error(`${where}: endpoints.${i}.id: duplicate endpoint id "${e.id}"`)
    ids.add(e.id)
  }
  const seen = new Set<string>()
  for (const [i, link] of spec.links.entries()) {
    for (const side of ['from', 'to'] as const) {
      if (!ids.has(link[side]))
        throw new Error(
          `${where}: links.${i}.${side}: unknown endpoint "${link[side]}"; known: ${[...ids].join(', ')}`,
        )
    }
    if (link.from === link.to) throw new Error(`${where}: links.${i}: a link from "${link.from}" to itself`)
    const key = `${link.from}>${link.to}`
    if (seen.has(key))
      throw new Error(`${where}: links.${i}: the link ${link.from} -> ${link.to} is listed twice`)
    seen.add(key)
  }
  for (const [i, entry] of (spec.inbound ?? []).entries()) {
    const to = spec.endpoints.find((e) => e.id === entry.to)
    if (to === undefined || to.listenAddress === null)
      throw new Error(`${where}: inbound.${i}.to: "${entry.to}" is not an endpoint with a listenAddress`)
    for (const from of Object.values(entry.sources))
      if (!ids.has(from) || from === entry.to)
        throw new Error(`${where}: inbound.${i}.sources: "${from}" is not another endpoint`)
  }
  return spec as NetworkSpec
}

export function parseLinkShape(input: unknown, where: string): LinkShape {
  const parsed = linkShapeSchema.safeParse(input)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    throw new Error(`${where}: shape.${issue.path.join('.')}: ${issue.message}`)
  }
  return parsed.data
}

/** The shape of a pair the spec does not list: forwarded as fast as the relay can. */
export const UNSHAPED: LinkShape = {
  delayMs: 0,
  jitterMs: 0,
  jitterDistribution: 'normal',
  lossRate: 0,
  bandwidthBytesPerSec: null,
}

/** What the relay says once it listens: one row per directed pair it serves. */
export interface RelayLinkAddress {
  readonly from: string
  readonly to: string
  /** where `from` dials to reach `to` */
  readonly address: string
}

/** A shared inbound address (NetworkSpec `inbound`): every source dials `to` here. */
export interface RelayInboundAddress {
  readonly to: string
  readonly address: string
}

export interface RelayReady {
  readonly event: 'ready'
  readonly pid: number
  readonly links: readonly RelayLinkAddress[]
  readonly inbound: readonly RelayInboundAddress[]
}

/** The relay's own accounting, for benchmarks: CPU from process.cpuUsage(), bytes it delivered. */
export interface RelayStats {
  readonly cpuUserUs: number
  readonly cpuSystemUs: number
  readonly bytesDelivered: number
  readonly chunksDelivered: number
  readonly connectionsOpen: number
  readonly connectionsTotal: number
  /** how late deliveries ran after their time (the relay's timer precision), since the last stats */
  readonly lateUsP50: number
  readonly lateUsP99: number
  readonly lateUsMax: number
}

export const controlRequestSchema = z.discriminatedUnion('op', [
  z.strictObject({
    id: z.number().int(),
    op: z.literal('setLink'),
    from: z.string(),
    to: z.string(),
    shape: z.unknown(),
  }),
  z.strictObject({
    id: z.number().int(),
    op: z.literal('partition'),
    from: z.string(),
    to: z.string(),
    mode: z.enum(['hold', 'reset']),
  }),
  z.strictObject({ id: z.number().int(), op: z.literal('heal'), from: z.string(), to: z.string() }),
  z.strictObject({ id: z.number().int(), op: z.literal('stats') }),
  z.strictObject({ id: z.number().int(), op: z.literal('close') }),
])
export type ControlRequest = z.infer<typeof controlRequestSchema>

/** The first line the parent writes on the relay's stdin. */
export const relayStartSchema = z.strictObject({
  spec: z.unknown(),
  seed: z.number().int().safe(),
  /** the loopback address the relay listens on (one port per directed pair) */
  listenHost: z.string().min(1),
  /** how long before a delivery the relay stops sleeping and polls (scheduler.ts) */
  spinMs: z.number().min(0).max(5),
  /** what wakes the relay before a delivery: a worker thread (precise) or setTimeout (ms clock) */
  wake: z.enum(['worker', 'timer']),
})
export type RelayStart = z.infer<typeof relayStartSchema>
