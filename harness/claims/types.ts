/** The claims evaluator's data: what a claim reads from the cells, and what it says. */
import type { NodeId } from '../../engines/core/command.ts'
import type { Leadership } from '../../engines/core/engine.ts'

export type Verdict = 'supported' | 'refuted' | 'inconclusive'

/** A measured figure: the mean over its samples with a seeded bootstrap 95% interval (null with < 2 samples). */
export interface Figure {
  readonly name: string
  readonly unit: string
  readonly mean: number
  readonly ciLow: number | null
  readonly ciHigh: number | null
  /** samples: one per cell (repetitions, and topologies or conflict rates where the claim pools them) */
  readonly n: number
}

export interface ClaimResult {
  readonly claim: string
  readonly verdict: Verdict
  readonly why: string
  /** the ids of the cells that tested it */
  readonly cells: readonly string[]
  readonly figures: readonly Figure[]
}

/** What a claim reads from one finished cell (claimCellOf maps a summary.json cell onto it). */
export interface ClaimCell {
  readonly id: string
  /** the engine itself (summary.json `cells[].engine`), whatever its variant is called */
  readonly engine: string
  /**
   * what the cell goes by (harness/results/label.ts cellLabel): the engine, or its variant's label
   * (`multipaxos-batching`, `raft/steady`); the "best" claims compare labels, the others engines
   */
  readonly label: string
  readonly topology: string
  readonly conflict: number
  readonly repetition: number
  readonly throughputOpsPerSec: number
  /** median latency per client site (the site's client group name) */
  readonly siteP50Ms: Readonly<Record<string, number>>
  /** the leader the replicas agreed on (null: leaderless, or none) */
  readonly leader: NodeId | null
  readonly bottleneckNode: NodeId | null
  readonly cpuUsPerOpByNode: Readonly<Record<NodeId, number>>
  readonly linearizable: boolean
  /** replica kills in the cell, as outages: how many replicas were down at once, and service meanwhile */
  readonly outages: readonly Outage[]
}

/** Replicas down at once after a kill (kills within a moment of each other are one outage). */
export interface Outage {
  /** replicas down at once, and of how many */
  readonly down: number
  readonly replicas: number
  /** until the first of them restarted, ms; null: none restarted before the load ended */
  readonly downMs: number | null
  /** from the (last) kill to the first commit of a command invoked after it; null: none in the load */
  readonly firstCommitAfterMs: number | null
}

/** Facts about a topology that claims measure against (round trips to quorums, per client site). */
export interface TopologyFacts {
  /** false for a LAN: round-trip counts drown in processing time there */
  readonly wan: boolean
  /** the client group's replica, per client group */
  readonly replicaOfSite: Readonly<Record<string, NodeId>>
  /** RTT from the site's replica to the nearest majority quorum (itself included), ms */
  readonly majorityRttMs: Readonly<Record<string, number>>
  /** the same to the nearest fast quorum, ceil(3n/4) replicas */
  readonly fastQuorumRttMs: Readonly<Record<string, number>>
}

/** Understandability proxies of one engine, from its sources. */
export interface Proxies {
  readonly linesOfCode: number
  readonly messageKinds: number
  readonly timerKinds: number
  readonly branches: number
}

export interface ClaimContext {
  readonly cells: readonly ClaimCell[]
  /** the engines registered when the claims were evaluated, with their leadership */
  readonly engines: Readonly<Record<string, Leadership>>
  readonly topologies: Readonly<Record<string, TopologyFacts>>
  readonly proxies: Readonly<Record<string, Proxies>>
  /** per engine: the features beyond its basic protocol its code carries (EngineModule.extras) */
  readonly extras?: Readonly<Record<string, readonly string[]>>
  /** the bootstrap's seed (the experiment's) */
  readonly seed: number
}
