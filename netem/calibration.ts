/**
 * Calibration tables (DESIGN.md: "Before each run, calibration measures the RTT of every link through the
 * chosen shaper"): what `consensus-bench calibrate` prints and what `run` stores in env.json. The probing
 * itself is the shaper side's `calibrateNetwork` (netem/calibrate.ts), given here as a function so this
 * module decides only which links to measure, how to name them and what counts as close enough.
 */
import type { NodeId } from '../engines/core/command.ts'
import { networkSpec, type Placement, placeOnTopology, type ReplicaAddresses } from './placement.ts'
import type { NetworkSpec, Shaper } from './shaper.ts'
import type { Topology } from './topology.ts'

/** One directed link: a probe crosses from -> to and its answer to -> from. */
export interface CalibrationLink {
  readonly from: string
  readonly to: string
  readonly targetRttMs: number
  readonly measuredRttMsP50: number
  readonly measuredRttMsP99: number
  /** measured p50 minus target: positive when the link is slower than configured */
  readonly errorMs: number
}

export interface CalibrationTable {
  readonly topology: string
  readonly shaper: string
  readonly links: readonly CalibrationLink[]
}

/** The probing function (netem/calibrate.ts `calibrateNetwork`): measures links of a spec through a shaper. */
export type CalibrateNetwork = (
  shaper: Shaper,
  spec: NetworkSpec,
  options: { probesPerLink?: number; only?: readonly { from: string; to: string }[] },
) => Promise<{ readonly links: readonly CalibrationLink[] }>

/** The tolerance a link's median must meet: max(1 ms, 2% of the target). */
export function toleranceMs(targetRttMs: number): number {
  return Math.max(1, 0.02 * targetRttMs)
}

export function withinTolerance(link: CalibrationLink): boolean {
  return Math.abs(link.errorMs) <= toleranceMs(link.targetRttMs)
}

export function linksOffTolerance(table: CalibrationTable): CalibrationLink[] {
  return table.links.filter((l) => !withinTolerance(l))
}

const r3 = (x: number) => Math.round(x * 1000) / 1000

/** Exactly the documented fields, rounded to the microsecond (the shaper's result may carry more). */
function row(l: CalibrationLink, rename: (id: string) => string = (id) => id): CalibrationLink {
  return {
    from: rename(l.from),
    to: rename(l.to),
    targetRttMs: r3(l.targetRttMs),
    measuredRttMsP50: r3(l.measuredRttMsP50),
    measuredRttMsP99: r3(l.measuredRttMsP99),
    errorMs: r3(l.errorMs),
  }
}

/** Stand-in addresses: calibration puts echo servers in the endpoints' place, on the same hosts. */
export function placeholderAddresses(placement: Placement): Map<NodeId, ReplicaAddresses> {
  return new Map(
    placement.replicas.map((r, i) => {
      const host = `127.0.0.${i + 1}`
      return [r.id, { host, peer: `${host}:1`, client: `${host}:2` }]
    }),
  )
}

/**
 * `calibrate --topology`: one replica per site, and every directed link between two sites, named by
 * site (CA -> VA). A pair whose RTT is 0 is not shaped and not measured.
 */
export async function calibrateTopology(
  topology: Topology,
  shaper: Shaper,
  calibrate: CalibrateNetwork,
  probesPerLink: number,
): Promise<CalibrationTable> {
  const placement = placeOnTopology(topology)
  const spec = networkSpec(placement, placeholderAddresses(placement))
  const site = new Map(placement.replicas.map((r) => [r.id, r.site]))
  const only = spec.links
    .filter((l) => site.has(l.from) && site.has(l.to))
    .map(({ from, to }) => ({ from, to }))
  if (only.length === 0) return { topology: topology.name, shaper: shaper.kind, links: [] }
  const result = await calibrate(shaper, spec, { probesPerLink, only })
  return {
    topology: topology.name,
    shaper: shaper.kind,
    links: result.links.map((l) => row(l, (id) => site.get(id) ?? id)),
  }
}

/** `run --topology`: every shaped link of the run's network (replica pairs and client links), by endpoint id. */
export async function calibratePlacement(
  placement: Placement,
  shaper: Shaper,
  calibrate: CalibrateNetwork,
  probesPerLink: number,
): Promise<CalibrationTable> {
  const spec = networkSpec(placement, placeholderAddresses(placement))
  if (spec.links.length === 0) return { topology: placement.topology.name, shaper: shaper.kind, links: [] }
  const result = await calibrate(shaper, spec, { probesPerLink })
  return { topology: placement.topology.name, shaper: shaper.kind, links: result.links.map((l) => row(l)) }
}

/** A table from links measured elsewhere (a launcher's own calibration), with the documented fields only. */
export function calibrationTable(
  topology: string,
  shaper: string,
  links: readonly CalibrationLink[],
): CalibrationTable {
  return { topology, shaper, links: links.map((l) => row(l)) }
}

/** The printed table: one line per link with its pass/fail against the tolerance. */
export function calibrationText(table: CalibrationTable): string {
  const header = ['from', 'to', 'target ms', 'p50 ms', 'p99 ms', 'error ms', 'tolerance ms', 'result']
  const rows = table.links.map((l) => [
    l.from,
    l.to,
    l.targetRttMs.toFixed(2),
    l.measuredRttMsP50.toFixed(2),
    l.measuredRttMsP99.toFixed(2),
    (l.errorMs >= 0 ? '+' : '') + l.errorMs.toFixed(2),
    toleranceMs(l.targetRttMs).toFixed(2),
    withinTolerance(l) ? 'ok' : 'OFF',
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  // names left-aligned, figures right-aligned
  const line = (cells: string[]) =>
    cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')
  const off = linksOffTolerance(table).length
  const verdict =
    table.links.length === 0
      ? 'nothing to measure: no link of this topology is shaped'
      : off === 0
        ? `all ${table.links.length} links within tolerance (max(1 ms, 2%) of the target)`
        : `${off} of ${table.links.length} links OFF tolerance (max(1 ms, 2%) of the target)`
  return [
    `topology ${table.topology}, shaper ${table.shaper}`,
    line(header),
    ...rows.map(line),
    verdict,
    '',
  ].join('\n')
}
