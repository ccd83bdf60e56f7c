/**
 * The claims evaluator over a run: summary.json cells -> ClaimContext (topology round trips, the
 * registered engines, understandability proxies) -> verdicts (claims.ts), and the table printed at the
 * end of a run.
 */
import { join } from 'node:path'
import Table from 'cli-table3'
import { engineNames, findEngine } from '../../engines/registry.ts'
import { placeOnTopology } from '../../netem/placement.ts'
import { loadTopology } from '../../netem/topology.ts'
import type { FaultRecord } from '../faults.ts'
import { REPO_ROOT } from '../launchers/local.ts'
import type { MatrixPlan } from '../matrix.ts'
import { cellLabel } from '../results/label.ts'
import type { CellSummary } from '../results/summary.ts'
import { evaluateClaims } from './claims.ts'
import type { ClaimCell, ClaimContext, ClaimResult, Outage, Proxies, TopologyFacts } from './types.ts'
import { engineProxies } from './understandability.ts'

export { evaluateClaims } from './claims.ts'
export type { ClaimResult } from './types.ts'

/** A topology whose links are all below this RTT is a LAN: round-trip claims are not judged on it. */
const WAN_MIN_RTT_MS = 5

/** What the claims read from a summary.json cell. */
export function claimCellOf(c: CellSummary): ClaimCell {
  const siteP50Ms: Record<string, number> = {}
  for (const [name, s] of Object.entries(c.sites)) if (s.ops > 0) siteP50Ms[name] = s.latencyUs.p50 / 1000
  const cpuUsPerOpByNode: Record<string, number> = {}
  for (const [id, n] of Object.entries(c.nodes)) cpuUsPerOpByNode[id] = n.cpuUsPerOp
  return {
    id: c.id,
    engine: c.engine,
    label: cellLabel(c),
    topology: c.topology,
    conflict: c.conflict,
    repetition: c.repetition,
    throughputOpsPerSec: c.throughputOpsPerSec,
    siteP50Ms,
    leader: c.network?.leader?.agreed ?? c.nodeCost?.leaderAtStart ?? null,
    bottleneckNode: c.bottleneckNode,
    cpuUsPerOpByNode,
    linearizable: c.check.verdict === 'linearizable',
    outages: outagesOf(c.faults, c.replicas),
  }
}

/** Kills this close together are one outage (their replicas are down at once). */
const SAME_OUTAGE_US = 200_000

/** The kills of a cell as outages: at each kill (the last of a group), how many replicas were down. */
export function outagesOf(faults: readonly FaultRecord[], replicas: number): Outage[] {
  const kills = faults
    .filter((f) => (f.kind === 'kill' || f.kind === 'kill-leader') && f.error === undefined)
    .map((f) => f as Extract<FaultRecord, { kind: 'kill' | 'kill-leader' }>)
    .sort((a, b) => a.atUs - b.atUs)
  const out: Outage[] = []
  kills.forEach((k, i) => {
    const next = kills[i + 1]
    if (next !== undefined && next.atUs - k.atUs < SAME_OUTAGE_US) return // the group's last kill speaks
    const active = kills.filter((o) => o.atUs <= k.atUs && (o.endUs === null || o.endUs > k.atUs))
    const ends = active.map((o) => o.endUs)
    const downMs = ends.every((e) => e === null)
      ? null
      : (Math.min(...ends.filter((e): e is number => e !== null)) - k.atUs) / 1000
    out.push({ down: active.length, replicas, downMs, firstCommitAfterMs: k.firstCommitAfterMs })
  })
  return out
}

/** The k-th smallest of the RTTs from `from` to every replica (itself at 0). */
function quorumRtt(rtts: readonly number[], size: number): number {
  return [...rtts].sort((a, b) => a - b)[Math.min(size, rtts.length) - 1] ?? 0
}

/** Round trips to the quorums from each client site of a topology (one replica per site, as the matrix places them). */
export function topologyFacts(nameOrPath: string, replicas?: number): TopologyFacts {
  const topology = loadTopology(nameOrPath)
  const placement = placeOnTopology(topology, replicas !== undefined ? { replicas } : {})
  const n = placement.replicas.length
  const majority = Math.floor(n / 2) + 1
  const fast = Math.ceil((3 * n) / 4)
  const siteOf = new Map(placement.replicas.map((r) => [r.id, r.site]))
  const replicaOfSite: Record<string, string> = {}
  const majorityRttMs: Record<string, number> = {}
  const fastQuorumRttMs: Record<string, number> = {}
  let maxRtt = 0
  for (const g of placement.clientGroups) {
    const from = siteOf.get(g.replica)!
    const rtts = placement.replicas.map((r) => (r.id === g.replica ? 0 : topology.rttMs(from, r.site)))
    maxRtt = Math.max(maxRtt, ...rtts)
    replicaOfSite[g.name] = g.replica
    // the client's own hop to its replica is part of every round
    const client = topology.rttMs(g.site, from)
    majorityRttMs[g.name] = client + quorumRtt(rtts, majority)
    fastQuorumRttMs[g.name] = client + quorumRtt(rtts, fast)
  }
  return { wan: maxRtt >= WAN_MIN_RTT_MS, replicaOfSite, majorityRttMs, fastQuorumRttMs }
}

/** The proxies of every registered engine whose sources are in engines/<name>/. */
export function registeredProxies(): Record<string, Proxies> {
  const out: Record<string, Proxies> = {}
  for (const name of engineNames()) {
    const p = engineProxies(join(REPO_ROOT, 'engines'), name)
    if (p !== null) out[name] = p
  }
  return out
}

/** The claims over a finished run's cells. */
export function evaluateRunClaims(
  plan: Pick<MatrixPlan, 'cells'>,
  cells: readonly CellSummary[],
): ClaimResult[] {
  const topologies: Record<string, TopologyFacts> = {}
  for (const cellPlan of plan.cells) {
    const t = cellPlan.options.topology
    if (t === undefined) continue
    try {
      const facts = topologyFacts(t, cellPlan.options.replicas)
      topologies[loadTopology(t).name] = facts
    } catch {
      // a topology that no longer loads: its cells cannot be judged on round trips
    }
  }
  const engines: ClaimContext['engines'] = Object.fromEntries(
    engineNames().map((n) => [n, findEngine(n)!.leadership]),
  )
  const seed = plan.cells[0]?.options.seed ?? 1
  return evaluateClaims({
    // external systems (etcd) are reference rows (references.ts), not engines the claims judge
    cells: cells.filter((c) => c.external === undefined).map(claimCellOf),
    engines,
    topologies,
    proxies: registeredProxies(),
    extras: Object.fromEntries(engineNames().map((n) => [n, findEngine(n)?.extras ?? []])),
    seed,
  })
}

/** The claims as a table for the terminal. */
export function claimsTable(claims: readonly ClaimResult[]): string {
  const table = new Table({
    style: { head: [], border: [] },
    head: ['claim', 'verdict', 'why'],
    colWidths: [34, 14, 90],
    wordWrap: true,
  })
  for (const c of claims) table.push([c.claim, c.verdict, c.why])
  return `${table.toString()}\n`
}
