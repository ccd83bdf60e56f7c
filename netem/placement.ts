/**
 * Placement: which site each replica and each group of clients is on (netem/README.md, "Placement"),
 * and what follows from it: the NetworkSpec a shaper applies, and the LatencyModel each engine's
 * expectedLatencyMs reads for the clients of a site.
 *
 * Rules:
 * - replica i (`r<i>`) is on site i mod |sites| (one per site by default; more replicas than sites wrap
 *   round-robin, in site order).
 * - one client group per replica, on the replica's site, talking first to that replica; a site with no
 *   replica (fewer replicas than sites) gets one group that talks first to the replica nearest to it.
 *   A group is named after its site, or `<site>.<replica>` when its site holds several replicas.
 * - every replica-to-replica link and every client-to-replica link is shaped with one-way delay RTT/2
 *   and jitter jitterMs/2 per direction; a pair on one site gets intraSiteRttMs (0 = direct, unshaped).
 */
import type { NodeId } from '../engines/core/command.ts'
import type { LatencyModel } from '../engines/core/engine.ts'
import type { Endpoint, LinkShape, NetworkSpec } from './shaper.ts'
import type { Topology } from './topology.ts'

export interface ReplicaPlacement {
  readonly id: NodeId
  readonly site: string
}

/** Clients at one site that send to `replica` first. Their endpoint id is `clients@<name>`. */
export interface ClientGroup {
  readonly name: string
  readonly site: string
  readonly replica: NodeId
}

export interface Placement {
  readonly topology: Topology
  readonly replicas: readonly ReplicaPlacement[]
  readonly clientGroups: readonly ClientGroup[]
  /** the replica on --leader-site, or null when none was asked for */
  readonly leader: NodeId | null
}

export interface PlacementOptions {
  /** default: one per site */
  readonly replicas?: number
  /** put the leader on the first replica of this site */
  readonly leaderSite?: string
}

/** A placement that cannot be made: `field` is the option, with the fix. */
export class PlacementError extends Error {
  readonly code = 'ERR_PLACEMENT'
  constructor(
    readonly field: string,
    readonly problem: string,
    readonly fix: string,
  ) {
    super(`${field}: ${problem} (fix: ${fix})`)
    this.name = 'PlacementError'
  }
}

export const clientEndpoint = (group: string) => `clients@${group}`
/** The replica's client API (HTTP) as its own endpoint: its listen address differs from the peer port. */
export const apiEndpoint = (replica: NodeId) => `api@${replica}`

export function placeOnTopology(topology: Topology, options: PlacementOptions = {}): Placement {
  const sites = topology.sites.map((s) => s.name)
  const n = options.replicas ?? sites.length
  if (!Number.isInteger(n) || n < 1)
    throw new PlacementError('replicas', `${n} is not a replica count`, 'give a whole number >= 1')
  const replicas = Array.from({ length: n }, (_, i) => ({ id: `r${i}`, site: sites[i % sites.length]! }))
  const groups: ClientGroup[] = []
  for (const site of sites) {
    const here = replicas.filter((r) => r.site === site)
    if (here.length === 1) groups.push({ name: site, site, replica: here[0]!.id })
    for (const r of here.length > 1 ? here : []) groups.push({ name: `${site}.${r.id}`, site, replica: r.id })
    if (here.length === 0) {
      // the nearest replica; ties go to the lowest index (reduce keeps the first minimum)
      const nearest = replicas.reduce((best, r) =>
        topology.rttMs(site, r.site) < topology.rttMs(site, best.site) ? r : best,
      )
      groups.push({ name: site, site, replica: nearest.id })
    }
  }
  let leader: NodeId | null = null
  if (options.leaderSite !== undefined) {
    if (!sites.includes(options.leaderSite))
      throw new PlacementError(
        'leaderSite',
        `no site '${options.leaderSite}' in topology ${topology.name}`,
        `use one of: ${sites.join(', ')}`,
      )
    const first = replicas.find((r) => r.site === options.leaderSite)
    if (first === undefined)
      throw new PlacementError(
        'leaderSite',
        `no replica on site ${options.leaderSite} (${n} replicas on ${sites.length} sites)`,
        `use a site with a replica: ${[...new Set(replicas.map((r) => r.site))].join(', ')}`,
      )
    leader = first.id
  }
  return { topology, replicas, clientGroups: groups, leader }
}

export function siteOfReplica(placement: Placement, id: NodeId): string {
  const r = placement.replicas.find((x) => x.id === id)
  if (r === undefined) throw new RangeError(`no replica ${id} in the placement`)
  return r.site
}

/** Where each replica really listens (the launcher's choice of addresses and ports). */
export interface ReplicaAddresses {
  readonly host: string
  /** host:port of its peer listener */
  readonly peer: string
  /** host:port of its client API */
  readonly client: string
}

export interface ShapeOptions {
  readonly jitterDistribution?: LinkShape['jitterDistribution']
  /** the host the clients' connections come from (what a kernel shaper would match); default 127.0.0.1 */
  readonly clientHost?: string
}

export function linkShape(rttMs: number, rttJitterMs: number, options: ShapeOptions = {}): LinkShape {
  return {
    delayMs: rttMs / 2,
    jitterMs: rttJitterMs / 2,
    jitterDistribution: options.jitterDistribution ?? 'normal',
    lossRate: 0,
    bandwidthBytesPerSec: null,
  }
}

/**
 * The network a shaper applies: endpoints `r<i>` (peer port), `api@r<i>` (client API) and
 * `clients@<group>`; both directions of every link whose RTT is above 0.
 */
export function networkSpec(
  placement: Placement,
  addresses: ReadonlyMap<NodeId, ReplicaAddresses>,
  options: ShapeOptions = {},
): NetworkSpec {
  const t = placement.topology
  const endpoints: Endpoint[] = []
  const links: Array<{ from: string; to: string; shape: LinkShape }> = []
  const address = (id: NodeId) => {
    const a = addresses.get(id)
    if (a === undefined) throw new RangeError(`no listen address for replica ${id}`)
    return a
  }
  for (const r of placement.replicas) {
    const a = address(r.id)
    endpoints.push({ id: r.id, site: r.site, host: a.host, listenAddress: a.peer })
    endpoints.push({ id: apiEndpoint(r.id), site: r.site, host: a.host, listenAddress: a.client })
  }
  for (const g of placement.clientGroups) {
    endpoints.push({
      id: clientEndpoint(g.name),
      site: g.site,
      host: options.clientHost ?? '127.0.0.1',
      listenAddress: null,
    })
  }
  const both = (a: string, siteA: string, b: string, siteB: string) => {
    const rtt = t.rttMs(siteA, siteB)
    if (rtt <= 0) return
    const shape = linkShape(rtt, t.jitterMs(siteA, siteB), options)
    links.push({ from: a, to: b, shape }, { from: b, to: a, shape })
  }
  placement.replicas.forEach((a, i) => {
    for (const b of placement.replicas.slice(i + 1)) both(a.id, a.site, b.id, b.site)
  })
  for (const g of placement.clientGroups) {
    for (const r of placement.replicas) both(clientEndpoint(g.name), g.site, apiEndpoint(r.id), r.site)
  }
  return { endpoints, links }
}

/**
 * What the clients of one group should see ideally (engines' expectedLatencyMs): RTTs between replicas
 * from their sites, the group's RTT to its first replica, and the leader to assume.
 */
export function latencyModel(placement: Placement, group: ClientGroup, leader: NodeId): LatencyModel {
  const t = placement.topology
  const site = (id: NodeId) => siteOfReplica(placement, id)
  return {
    nodes: placement.replicas.map((r) => r.id),
    rttMs: (a, b) => (a === b ? 0 : t.rttMs(site(a), site(b))),
    origin: group.replica,
    clientRttMs: t.rttMs(group.site, site(group.replica)),
    leader,
  }
}
