/**
 * `run --topology`: what a run over an emulated WAN needs beyond a plain run, kept out of run.ts.
 *
 * - planTopologyRun: load the topology, place replicas and clients, put the leader on --leader-site
 *   (through the engine's `initialLeader` config field), validated before anything starts.
 * - CellNetwork: applies the cell's NetworkSpec through the chosen shaper as soon as the launcher knows
 *   the replicas' addresses, gives each replica its peers' shaped addresses and each client group its
 *   replicas' shaped URLs, and is closed on every path (end, failure, SIGINT).
 * - expectedLatencyBySite: each client group's expectedLatencyMs from the engine's message pattern.
 */
import type { NodeId } from '../engines/core/command.ts'
import { ConfigError } from '../engines/core/engine.ts'
import { findEngine } from '../engines/registry.ts'
import { calibrateNetwork, type LinkCalibration, probeLinks, probeTargets } from '../netem/calibrate.ts'
import {
  type CalibrateNetwork,
  type CalibrationTable,
  calibratePlacement,
  calibrateTopology,
  calibrationTable,
  linksOffTolerance,
  placeholderAddresses,
} from '../netem/calibration.ts'
import { chooseShaper, type ShaperChoice } from '../netem/choose.ts'
import {
  apiEndpoint,
  clientEndpoint,
  latencyModel,
  networkSpec,
  type Placement,
  PlacementError,
  placeOnTopology,
} from '../netem/placement.ts'
import { RELAY_PRIORITY, withRealtime } from '../netem/priority.ts'
import { createRelayShaper } from '../netem/relay/index.ts'
import type { InboundSpec, NetworkSpec, ShapedNetwork, Shaper } from '../netem/shaper.ts'
import { loadTopology, type Topology, TopologyError } from '../netem/topology.ts'
import type { Site } from '../workloads/executor.ts'
import type { FaultNetwork } from './faults.ts'
import type { ReplicaLinkControl } from './launchers/compose/link-control.ts'
import type { ContainerNetwork, LauncherKind } from './launchers/launch.ts'
import type { LaunchedAddresses } from './launchers/local.ts'

type AnyEngine = ReturnType<typeof findEngine>

/** A plan that cannot be made: `field` is the run option (topology, leaderSite, replicas, engineConfig). */
export class TopologyPlanError extends Error {
  constructor(
    readonly field: string,
    readonly problem: string,
    readonly fix: string,
  ) {
    super(`${field}: ${problem} (fix: ${fix})`)
    this.name = 'TopologyPlanError'
  }
}

export interface TopologyPlan {
  readonly topology: Topology
  readonly placement: Placement
  /** the engine config with `initialLeader` set to the leader site's replica (when one was asked for) */
  readonly engineConfig: Readonly<Record<string, unknown>>
}

export interface TopologyPlanInput {
  readonly topology: string
  readonly leaderSite?: string | undefined
  readonly replicas?: number | undefined
  /** undefined when the engine is a test fake (hostEntry): then no leader can be placed through config */
  readonly engine: AnyEngine
  readonly engineName: string
  readonly engineConfig: Readonly<Record<string, unknown>>
  /** false: the leader is placed after start (an external system's moveLeader), not through initialLeader */
  readonly leaderByConfig?: boolean
}

export function planTopologyRun(input: TopologyPlanInput): TopologyPlan {
  let topology: Topology
  try {
    topology = loadTopology(input.topology)
  } catch (err: unknown) {
    if (err instanceof TopologyError) throw new TopologyPlanError('topology', err.message, err.fix)
    throw err
  }
  let placement: Placement
  try {
    placement = placeOnTopology(topology, {
      ...(input.replicas !== undefined ? { replicas: input.replicas } : {}),
      ...(input.leaderSite !== undefined ? { leaderSite: input.leaderSite } : {}),
    })
  } catch (err: unknown) {
    if (err instanceof PlacementError) throw new TopologyPlanError(err.field, err.problem, err.fix)
    throw err
  }
  const engineConfig =
    placement.leader === null || input.leaderByConfig === false
      ? input.engineConfig
      : withInitialLeader(input, placement.leader)
  return { topology, placement, engineConfig }
}

/**
 * The leader goes where --leader-site says through the engine's `initialLeader` config field (Multi-Paxos
 * has it; other leader-based engines take the same field name to support it). An engine without that
 * field, or a leaderless one, cannot honour --leader-site: that is an error, not a silent no-op.
 */
function withInitialLeader(input: TopologyPlanInput, leader: NodeId): Record<string, unknown> {
  const engine = input.engine
  if (engine === undefined) return { ...input.engineConfig, initialLeader: leader }
  if (engine.leadership === 'leaderless')
    throw new TopologyPlanError(
      'leaderSite',
      `${input.engineName} is leaderless: it has no leader to place`,
      'drop --leader-site',
    )
  // the same leader given twice (a resolved config planned again) is fine; two different ones are not
  if ('initialLeader' in input.engineConfig && input.engineConfig.initialLeader !== leader)
    throw new TopologyPlanError(
      'leaderSite',
      `the engine config already sets initialLeader ${JSON.stringify(input.engineConfig.initialLeader)}`,
      'give either --leader-site or initialLeader in --config, not both',
    )
  const config = { ...input.engineConfig, initialLeader: leader }
  try {
    engine.parseConfig(config)
  } catch (err: unknown) {
    if (err instanceof ConfigError && /initialLeader/.test(err.field))
      throw new TopologyPlanError(
        'leaderSite',
        `${input.engineName} has no initialLeader config field, so its leader cannot be placed`,
        'drop --leader-site (the engine elects its own leader)',
      )
    throw err
  }
  return config
}

/** The driver's sites: one per client group (netem/placement.ts). */
export function driverSites(plan: TopologyPlan): Site[] {
  return plan.placement.clientGroups.map((g) => ({ name: g.name, replica: g.replica }))
}

/**
 * The leader each site's expectation assumes: the one the replicas agreed on when the load started,
 * else the placed one, else the config's initialLeader (an id or an index), else the first replica.
 */
export function assumedLeader(plan: TopologyPlan, agreed: NodeId | null, resolvedConfig: unknown): NodeId {
  if (agreed !== null) return agreed
  if (plan.placement.leader !== null) return plan.placement.leader
  const ids = plan.placement.replicas.map((r) => r.id)
  const configured = (resolvedConfig as { initialLeader?: unknown } | null)?.initialLeader
  if (typeof configured === 'string' && ids.includes(configured)) return configured
  if (typeof configured === 'number' && ids[configured] !== undefined) return ids[configured]
  return ids[0]!
}

/** expectedLatencyMs per client group, rounded to 0.01 ms; null for an engine the harness cannot see (a fake). */
export function expectedLatencyBySite(
  plan: TopologyPlan,
  engine: AnyEngine,
  resolvedConfig: unknown,
  leader: NodeId,
): Record<string, number> | null {
  if (engine === undefined) return null
  return Object.fromEntries(
    plan.placement.clientGroups.map((g) => [
      g.name,
      Math.round(engine.expectedLatencyMs(latencyModel(plan.placement, g, leader), resolvedConfig) * 100) /
        100,
    ]),
  )
}

/**
 * The cell's shaped network: applied when the launcher has the replicas' addresses, closed on every path.
 * A pair the spec does not shape (same site, intraSiteRttMs 0) is dialled directly, not through the
 * shaper: the spec says such pairs are direct, and a relay hop would only add its own delay. A network
 * with no shaped link at all (`lan`) starts no shaper.
 *
 * Scope 'clients' (the compose launcher): only the client links, whose clients (the harness's driver)
 * run on the host; the replica-to-replica links are the containers' sidecars' job.
 */
export class CellNetwork {
  #network: ShapedNetwork | null = null
  #spec: NetworkSpec | null = null
  #route: ((from: string, to: string) => string) | null = null
  #links: NetworkSpec['links'] = []
  /** scope 'clients': the replica-to-replica links, which the launcher shapes (its sidecars) */
  #launcherLinks: NetworkSpec['links'] = []
  #closed = false

  constructor(
    private readonly plan: TopologyPlan,
    private readonly shaper: Shaper,
    private readonly scope: 'all' | 'clients' = 'all',
  ) {}

  /** The launcher's `peerAddresses` hook; a retried launch (new ports) replaces the previous network. */
  readonly peerAddresses = async (
    replicas: readonly LaunchedAddresses[],
  ): Promise<(self: NodeId, peer: NodeId) => string> => (await this.externalPeers(replicas, [])).route

  /**
   * The same for an external system (harness/external/): with `inbound`, each member's shared peer
   * address (NetworkSpec `inbound`) is served too, when anything is shaped; `shared` says whether it is.
   */
  readonly externalPeers = async (
    replicas: readonly LaunchedAddresses[],
    inbound: readonly InboundSpec[],
  ): Promise<{ route: (self: NodeId, peer: NodeId) => string; shared: boolean }> => {
    if (this.#closed) throw new Error('the cell network was closed (interrupted)')
    await this.#network?.close()
    this.#network = null
    const addresses = new Map(replicas.map((r) => [r.id, { host: r.host, peer: r.peer, client: r.client }]))
    const all = networkSpec(this.plan.placement, addresses)
    const scoped =
      this.scope === 'all'
        ? all
        : { ...all, links: all.links.filter((l) => isClientEndpoint(l.from) || isClientEndpoint(l.to)) }
    const spec = { ...scoped, inbound }
    this.#spec = spec
    this.#links = spec.links
    this.#launcherLinks = all.links.filter((l) => !spec.links.includes(l))
    const shaped = new Set(spec.links.map((l) => `${l.from}>${l.to}`))
    const direct = new Map(spec.endpoints.map((e) => [e.id, e.listenAddress]))
    const network = shaped.size === 0 ? null : await this.shaper.apply(spec)
    this.#network = network
    // an interrupt that came while the shaper started: it must not outlive the run
    if (this.#closed) await this.close()
    const route = (from: string, to: string): string => {
      if (network !== null && shaped.has(`${from}>${to}`)) return network.addressFor(from, to)
      const address = direct.get(to)
      if (address === undefined || address === null) throw new Error(`no address to reach ${to} from ${from}`)
      return address
    }
    this.#route = route
    return { route, shared: network !== null && inbound.length > 0 }
  }

  /** Per client group: the URL of each replica's client API as that group reaches it (through the shaper). */
  replicasBySite(): Map<string, Array<{ id: NodeId; clientUrl: string }>> {
    const route = this.#route
    if (route === null) throw new Error('the cell network is not applied yet')
    return new Map(
      this.plan.placement.clientGroups.map((g) => [
        g.name,
        this.plan.placement.replicas.map((r) => ({
          id: r.id,
          clientUrl: `http://${route(clientEndpoint(g.name), apiEndpoint(r.id))}`,
        })),
      ]),
    )
  }

  /**
   * What faults act on (partition, heal, slower links), or null when nothing is shaped. Scope
   * 'clients': the replica-to-replica links go to `launcherLinks` (compose: the sidecars), and without
   * it they are not there to act on.
   */
  faultNetwork(launcherLinks?: ReplicaLinkControl): FaultNetwork | null {
    const replicaLinks = launcherLinks === undefined ? [] : this.#launcherLinks
    const links = [...this.#links, ...replicaLinks]
    if (this.#network === null && replicaLinks.length === 0) return null
    const held = new Set(replicaLinks.map((l) => `${l.from}>${l.to}`))
    const target = (from: string, to: string): ReplicaLinkControl | ShapedNetwork => {
      if (launcherLinks !== undefined && held.has(`${from}>${to}`)) return launcherLinks
      if (this.#network === null) throw new Error('the cell network was closed')
      return this.#network
    }
    return {
      partition: (from, to, mode) => target(from, to).partition(from, to, mode),
      heal: (from, to) => target(from, to).heal(from, to),
      setLink: (from, to, shape) => target(from, to).setLink(from, to, shape),
      linksOf: (replica) =>
        links.filter((l) => [l.from, l.to].some((e) => e === replica || e === apiEndpoint(replica))),
    }
  }

  /** Probe every link this network shapes, through it (the listeners must echo: a launcher's stand-ins). */
  async calibrate(probesPerLink: number): Promise<LinkCalibration[]> {
    const network = this.#network
    const spec = this.#spec
    if (network === null || spec === null) return []
    return probeLinks(
      probeTargets(spec, (from, to) => network.addressFor(from, to)),
      { probesPerLink },
    )
  }

  async close(): Promise<void> {
    this.#closed = true
    const network = this.#network
    this.#network = null
    await network?.close()
  }
}

const isClientEndpoint = (id: string) => id.startsWith(clientEndpoint(''))

/**
 * The shaper of the client links in a compose run: the relay on the host, always. The driver's clients
 * all leave the host from its one address on the bridge, so the kernel's filters (per destination, or per
 * source and destination) cannot give each site its own delay; the relay gives each client group its own
 * listening addresses. Where the run chose the relay anyway, the same one (its priority is reported).
 */
export function hostClientShaper(choice: ShaperChoice): Shaper {
  return choice.kind === 'relay' ? choice.shaper : createRelayShaper({ realtimePriority: RELAY_PRIORITY })
}

/**
 * The compose launcher's share of a topology cell: the replica-to-replica links for the sidecars (the
 * kernel shaper where the host's kernel has netem, else the relay, as chosen for the run; containers
 * share the host's kernel), the replicas' sites, and the host-side calibration of the client links.
 */
export function containerNetwork(
  run: TopologyRun,
  cell: CellNetwork,
  probesPerLink: number,
): ContainerNetwork {
  const placement = run.plan.placement
  const ids = new Set(placement.replicas.map((r) => r.id))
  // the shapes only: the sidecars put in the containers' addresses
  const links = networkSpec(placement, placeholderAddresses(placement)).links.filter(
    (l) => ids.has(l.from) && ids.has(l.to),
  )
  return {
    shaper: run.choice.kind,
    links,
    sites: Object.fromEntries(placement.replicas.map((r) => [r.id, r.site])),
    calibrationProbes: probesPerLink,
    // at normal priority: the harness spawns docker commands meanwhile, which would inherit SCHED_FIFO
    calibrateHost: () => cell.calibrate(probesPerLink),
  }
}

/** What summary.json says about the network of a topology cell. */
export interface CellNetworkSummary {
  readonly shaper: string
  readonly shaperReason: string
  /** the scheduling of shapers the launcher started itself (compose: the sidecars' relays and probers) */
  readonly shaperPriority?: string
  /** links calibrated before the run (env.json has the full table; compose: the cell's calibration.json) */
  readonly linksCalibrated: number
  /** links whose measured median missed the target by more than max(1 ms, 2%) */
  /**
   * The leader put on --leader-site (null without one) and the one the replicas agreed on when the load
   * started (null: none agreed). They differ when another replica won the first election: expectations
   * then use the agreed one.
   */
  readonly leader?: { readonly placed: NodeId | null; readonly agreed: NodeId | null }
  readonly linksOffTolerance: ReadonlyArray<{
    from: string
    to: string
    targetRttMs: number
    measuredRttMsP50: number
    errorMs: number
  }>
}

export function networkSummary(table: CalibrationTable, reason: string): CellNetworkSummary {
  return {
    shaper: table.shaper,
    shaperReason: reason,
    linksCalibrated: table.links.length,
    linksOffTolerance: linksOffTolerance(table).map(
      ({ from, to, targetRttMs, measuredRttMsP50, errorMs }) => ({
        from,
        to,
        targetRttMs,
        measuredRttMsP50,
        errorMs,
      }),
    ),
  }
}

/** Where the shaper and the probing come from; tests may give their own. */
export interface TopologyRunDeps {
  readonly chooseShaper: () => Promise<ShaperChoice>
  readonly calibrate: CalibrateNetwork
}

/** Everything a topology run decides once, before its cells: plan, shaper, calibration. */
export interface TopologyRun {
  readonly plan: TopologyPlan
  readonly choice: ShaperChoice
  readonly calibration: CalibrationTable
  /** for env.json */
  readonly environment: {
    shaper: string
    shaperReason: string
    shaperPriority: string
    calibration: CalibrationTable
  }
  /** for each cell's summary */
  readonly network: CellNetworkSummary
}

/** One progress line about a calibration: how many links, which are off. */
export function calibrationLine(name: string, network: CellNetworkSummary): string {
  return (
    `${name}: ${network.linksCalibrated} links calibrated, ` +
    (network.linksOffTolerance.length === 0
      ? 'all within tolerance'
      : `${network.linksOffTolerance.length} OFF tolerance: ${network.linksOffTolerance.map((l) => `${l.from}->${l.to} ${l.errorMs > 0 ? '+' : ''}${l.errorMs} ms`).join(', ')}`)
  )
}

/**
 * The shaper choice and, for the local launcher, the calibration of every link through that shaper
 * with stand-in endpoints. The compose launcher calibrates per cell instead, through the containers'
 * own shaped links (containerNetwork): here its table stays empty.
 */
export async function prepareTopologyRun(
  plan: TopologyPlan,
  deps: TopologyRunDeps,
  probesPerLink: number,
  progress: (line: string) => void,
  launcher: LauncherKind = 'local',
): Promise<TopologyRun> {
  const choice = await deps.chooseShaper()
  const perCell = launcher === 'compose'
  progress(
    `topology ${plan.topology.name}: shaper ${choice.kind} (${choice.reason}); ` +
      (perCell ? 'calibrating in each cell, in the containers' : 'calibrating'),
  )
  // the prober keeps time too: at normal priority on a loaded host its own wake-ups would be measured
  const calibration = perCell
    ? calibrationTable(plan.topology.name, choice.kind, [])
    : (
        await withRealtime(() =>
          calibratePlacement(plan.placement, choice.shaper, deps.calibrate, probesPerLink),
        )
      ).value
  const network = networkSummary(calibration, choice.reason)
  if (!perCell) progress(calibrationLine(`topology ${plan.topology.name}`, network))
  return {
    plan,
    choice,
    calibration,
    environment: {
      shaper: choice.kind,
      shaperReason: choice.reason,
      shaperPriority: choice.priority() ?? 'normal',
      calibration,
    },
    network,
  }
}

/** A cell's expectedLatencyMs per client group (null when the engine is a test fake the harness cannot see). */
export function expectedForCell(
  run: TopologyRun,
  options: {
    readonly engine: string
    readonly engineConfig: unknown
    readonly hostEntry?: string | undefined
  },
  agreedLeader: NodeId | null,
): Record<string, number> | null {
  const engine = options.hostEntry === undefined ? findEngine(options.engine) : undefined
  const resolved = engine?.parseConfig(options.engineConfig)
  return expectedLatencyBySite(run.plan, engine, resolved, assumedLeader(run.plan, agreedLeader, resolved))
}

export function defaultTopologyRunDeps(): TopologyRunDeps {
  return { chooseShaper, calibrate: calibrateNetwork }
}

/** `consensus-bench calibrate`: measure every site-to-site link of a topology through the chosen shaper. */
export async function calibrateTopologyByName(
  nameOrPath: string,
  probesPerLink: number,
  deps: TopologyRunDeps = defaultTopologyRunDeps(),
): Promise<{ table: CalibrationTable; reason: string; priority: string }> {
  const topology = loadTopology(nameOrPath)
  const choice = await deps.chooseShaper()
  const { value: table } = await withRealtime(() =>
    calibrateTopology(topology, choice.shaper, deps.calibrate, probesPerLink),
  )
  return { table, reason: choice.reason, priority: choice.priority() ?? 'normal' }
}

/**
 * The run's network summary with this cell's leaders; with `cellCalibration` (a launcher that
 * calibrated in the cell), that table's links instead of the run's.
 */
export function cellNetworkSummary(
  run: TopologyRun,
  agreedLeader: NodeId | null,
  cell: {
    readonly calibration?: CalibrationTable | undefined
    readonly shaperPriority?: string | undefined
  } = {},
): CellNetworkSummary {
  const network =
    cell.calibration === undefined ? run.network : networkSummary(cell.calibration, run.choice.reason)
  return {
    ...network,
    ...(cell.shaperPriority !== undefined ? { shaperPriority: cell.shaperPriority } : {}),
    leader: { placed: run.plan.placement.leader, agreed: agreedLeader },
  }
}

/** A launcher's own calibration (compose: sidecars and host), as the cell's table. */
export function cellCalibrationTable(run: TopologyRun, links: readonly LinkCalibration[]): CalibrationTable {
  return calibrationTable(run.plan.topology.name, run.choice.kind, links)
}
