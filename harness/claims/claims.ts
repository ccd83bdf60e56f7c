/**
 * The claims of DESIGN.md ("Experiments, results, reports, claims"), each as a function of the run's
 * cells: which cells test it, the figures (bootstrap intervals over those cells), and a verdict.
 *
 * Rules every claim follows:
 * - a claim whose engine is not registered, or whose cells the run lacks, is inconclusive and says which;
 * - with one sample there is no interval: a claim that hinges on one is inconclusive, and `why` says
 *   what the single measurement points to;
 * - round-trip claims are judged on WAN topologies only (on a LAN processing time swamps the RTTs).
 */
import { bootstrapFigure, describeFigure, mean, median } from './bootstrap.ts'
import type { ClaimCell, ClaimContext, ClaimResult, Figure, Outage, Proxies, Verdict } from './types.ts'

/** A ratio of latency to a round trip at or below this counts as one round trip; above two as more. */
export const ONE_RTT_MAX = 1.5
/** classic Paxos must be at least this many round trips (2 RTT, with slack for the jitter) */
export const TWO_RTT_MIN = 1.6
/** the leader's CPU per op over the followers' mean: above this it is the node that limits */
export const LEADER_LOAD_RATIO_MIN = 1.2

type Claim = (ctx: ClaimContext) => ClaimResult

function result(
  claim: string,
  verdict: Verdict,
  why: string,
  cells: readonly ClaimCell[],
  figures: Figure[],
): ClaimResult {
  return { claim, verdict, why, cells: cells.map((c) => c.id), figures }
}

function missingEngine(claim: string, ctx: ClaimContext, engine: string): ClaimResult | null {
  if (engine in ctx.engines) return null
  return result(claim, 'inconclusive', `engine ${engine} is not registered, so no cell ran it`, [], [])
}

/**
 * The engine's own cells (no variant: a variant's config may change its round trips) at the conflict
 * rates `conflict` takes, on WAN topologies.
 */
function wanCells(ctx: ClaimContext, engine: string, conflict: (c: number) => boolean): ClaimCell[] {
  return ctx.cells.filter(
    (c) =>
      c.engine === engine &&
      c.label === engine &&
      conflict(c.conflict) &&
      ctx.topologies[c.topology]?.wan === true,
  )
}

const ONE_SAMPLE = 'one repetition: no confidence interval (run repetitions >= 2)'

/**
 * The bootstrap figure over the cells' values, with an interval only when the cells come from two or
 * more repetitions: cells of one repetition at several conflict rates or topologies are different
 * conditions, not repeated measurements, and would fake a confidence the run does not have.
 */
function figure(
  name: string,
  unit: string,
  values: readonly number[],
  cells: readonly ClaimCell[],
  ctx: ClaimContext,
  stream: string,
): Figure {
  const f = bootstrapFigure(name, unit, values, ctx.seed, stream)
  const repetitions = new Set(cells.map((c) => c.repetition)).size
  return repetitions >= 2 ? f : { ...f, ciLow: null, ciHigh: null }
}

/**
 * A figure against a threshold: supported when the whole interval is on the claimed side, refuted when
 * the whole interval is on the other, inconclusive when it straddles or there is no interval.
 */
function thresholdVerdict(
  f: Figure,
  claimedBelow: boolean,
  threshold: number,
): { verdict: Verdict; why: string } {
  const fig = `${f.name} ${describeFigure(f)}`
  const side = claimedBelow ? `<= ${threshold}` : `>= ${threshold}`
  if (f.ciLow === null || f.ciHigh === null) {
    const points = claimedBelow ? f.mean <= threshold : f.mean >= threshold
    return {
      verdict: 'inconclusive',
      why: `${fig}; ${ONE_SAMPLE}; the measured figure ${points ? 'agrees' : 'disagrees'} (claimed ${side})`,
    }
  }
  const within = claimedBelow ? f.ciHigh <= threshold : f.ciLow >= threshold
  const against = claimedBelow ? f.ciLow > threshold : f.ciHigh < threshold
  if (within) return { verdict: 'supported', why: `${fig}: the interval is ${side}` }
  if (against) return { verdict: 'refuted', why: `${fig}: the interval is on the wrong side of ${threshold}` }
  return { verdict: 'inconclusive', why: `${fig}: the interval straddles ${threshold}` }
}

/** Per cell, latency over a quorum round trip at the sites `pick` chooses (null: the cell cannot say). */
function rttRatios(
  ctx: ClaimContext,
  cells: readonly ClaimCell[],
  rttOf: 'majorityRttMs' | 'fastQuorumRttMs',
  pick: (cell: ClaimCell, ratios: Record<string, number>) => number | null,
): { used: ClaimCell[]; values: number[] } {
  const used: ClaimCell[] = []
  const values: number[] = []
  for (const cell of cells) {
    const facts = ctx.topologies[cell.topology]
    if (facts === undefined) continue
    const ratios: Record<string, number> = {}
    for (const [site, p50Ms] of Object.entries(cell.siteP50Ms)) {
      const rtt = facts[rttOf][site]
      if (rtt !== undefined && rtt > 0) ratios[site] = p50Ms / rtt
    }
    const v = pick(cell, ratios)
    if (v !== null) {
      used.push(cell)
      values.push(v)
    }
  }
  return { used, values }
}

const paxosTwoRtt: Claim = (ctx) => {
  const claim = 'Classic Paxos needs 2 RTT'
  const missing = missingEngine(claim, ctx, 'paxos')
  if (missing !== null) return missing
  const cells = wanCells(ctx, 'paxos', (c) => c === 0)
  const { used, values } = rttRatios(ctx, cells, 'majorityRttMs', (_c, r) => {
    const all = Object.values(r)
    return all.length === 0 ? null : median(all)
  })
  if (values.length === 0)
    return result(claim, 'inconclusive', 'no paxos cell at conflict 0 on a WAN topology', [], [])
  const f = figure('median over sites of p50 / majority RTT', 'RTT', values, used, ctx, 'paxos')
  return result(
    claim,
    thresholdVerdict(f, false, TWO_RTT_MIN).verdict,
    thresholdVerdict(f, false, TWO_RTT_MIN).why,
    used,
    [f],
  )
}

const multiPaxosOneRtt: Claim = (ctx) => {
  const claim = 'Multi-Paxos commits in 1 RTT at the leader'
  const missing = missingEngine(claim, ctx, 'multipaxos')
  if (missing !== null) return missing
  const cells = wanCells(ctx, 'multipaxos', () => true)
  const { used, values } = rttRatios(ctx, cells, 'majorityRttMs', (cell, r) => {
    const facts = ctx.topologies[cell.topology]!
    const site = Object.keys(r).find((s) => facts.replicaOfSite[s] === cell.leader)
    return site === undefined ? null : r[site]!
  })
  if (values.length === 0)
    return result(
      claim,
      'inconclusive',
      'no multipaxos cell on a WAN topology with clients at its leader',
      [],
      [],
    )
  const f = figure("leader site's p50 / majority RTT", 'RTT', values, used, ctx, 'multipaxos')
  const v = thresholdVerdict(f, true, ONE_RTT_MAX)
  return result(claim, v.verdict, v.why, used, [f])
}

const fastPaxosAnyNode: Claim = (ctx) => {
  const claim = 'Fast Paxos: any node commits in 1 RTT (with a larger quorum)'
  const missing = missingEngine(claim, ctx, 'fastpaxos')
  if (missing !== null) return missing
  const cells = wanCells(ctx, 'fastpaxos', (c) => c === 0)
  const { used, values } = rttRatios(ctx, cells, 'fastQuorumRttMs', (_c, r) => {
    const all = Object.values(r)
    return all.length === 0 ? null : Math.max(...all)
  })
  if (values.length === 0)
    return result(claim, 'inconclusive', 'no fastpaxos cell at conflict 0 on a WAN topology', [], [])
  const f = figure('worst site p50 / fast-quorum RTT', 'RTT', values, used, ctx, 'fastpaxos')
  const v = thresholdVerdict(f, true, ONE_RTT_MAX)
  return result(claim, v.verdict, v.why, used, [f])
}

const leaderLimited: Claim = (ctx) => {
  const claim = "Leader-driven protocols are limited by one node's load"
  const leaderEngines = Object.keys(ctx.engines).filter((e) => ctx.engines[e] === 'leader')
  const used: ClaimCell[] = []
  const values: number[] = []
  let leaderIsBottleneck = 0
  for (const cell of ctx.cells) {
    // every variant of a leader-driven engine, however it is labelled
    if (!leaderEngines.includes(cell.engine) || cell.leader === null) continue
    const leaderCpu = cell.cpuUsPerOpByNode[cell.leader]
    const others = Object.entries(cell.cpuUsPerOpByNode)
      .filter(([id]) => id !== cell.leader)
      .map(([, v]) => v)
    if (leaderCpu === undefined || others.length === 0 || mean(others) <= 0) continue
    used.push(cell)
    values.push(leaderCpu / mean(others))
    if (cell.bottleneckNode === cell.leader) leaderIsBottleneck++
  }
  if (values.length === 0)
    return result(
      claim,
      'inconclusive',
      leaderEngines.length === 0
        ? 'no leader-driven engine is registered'
        : `no cell of ${leaderEngines.join(', ')} with an agreed leader and per-node CPU figures`,
      [],
      [],
    )
  const f = figure("leader's CPU per op / followers' mean", 'x', values, used, ctx, 'leader-load')
  const v = thresholdVerdict(f, false, LEADER_LOAD_RATIO_MIN)
  return result(
    claim,
    v.verdict,
    `${v.why}; the leader was the bottleneck node in ${leaderIsBottleneck}/${values.length} cells`,
    used,
    [f],
  )
}

/** A minority outage kept committing: a command invoked after the kill committed while they were down. */
const keptCommitting = (o: Outage) =>
  o.firstCommitAfterMs !== null && (o.downMs === null || o.firstCommitAfterMs < o.downMs)

const isMajority = (o: Outage) => o.down > Math.floor((o.replicas - 1) / 2)

/**
 * Minority outages must keep committing; majority outages must stop committing (no quorum: a commit
 * would be a safety bug) and resume once the replicas restart. Every such cell must be linearizable.
 */
const majorityUp: Claim = (ctx) => {
  const claim = 'Runs while a majority is up'
  const cells = ctx.cells.filter((c) => c.outages.length > 0)
  if (cells.length === 0)
    return result(
      claim,
      'inconclusive',
      'no cell killed a replica (give the experiment a fault schedule)',
      [],
      [],
    )
  const minority = cells.flatMap((c) => c.outages.filter((o) => !isMajority(o)).map((o) => ({ c, o })))
  const majority = cells.flatMap((c) => c.outages.filter(isMajority).map((o) => ({ c, o })))
  const problems: string[] = []
  for (const c of cells) if (!c.linearizable) problems.push(`${c.id}: not linearizable`)
  for (const { c, o } of minority)
    if (!keptCommitting(o))
      problems.push(`${c.id}: ${o.down} of ${o.replicas} down and no commit while they were down`)
  for (const { c, o } of majority) {
    if (keptCommitting(o))
      problems.push(`${c.id}: committed with ${o.down} of ${o.replicas} down (no quorum)`)
    else if (o.downMs !== null && o.firstCommitAfterMs === null)
      problems.push(`${c.id}: no commit after the ${o.down} killed replicas restarted`)
  }
  const figures: Figure[] = []
  const served = minority.filter(({ o }) => o.firstCommitAfterMs !== null)
  if (served.length > 0)
    figures.push(
      figure(
        'minority down: ms from the kill to the next commit',
        'ms',
        served.map(({ o }) => o.firstCommitAfterMs!),
        served.map(({ c }) => c),
        ctx,
        'majority-minority',
      ),
    )
  const resumed = majority.filter(({ o }) => o.downMs !== null && o.firstCommitAfterMs !== null)
  if (resumed.length > 0)
    figures.push(
      figure(
        'majority down: ms from the restart to the next commit',
        'ms',
        resumed.map(({ o }) => o.firstCommitAfterMs! - o.downMs!),
        resumed.map(({ c }) => c),
        ctx,
        'majority-majority',
      ),
    )
  if (problems.length > 0) return result(claim, 'refuted', problems.join('; '), cells, figures)
  if (minority.length === 0)
    return result(
      claim,
      'inconclusive',
      `only majority outages (${majority.length}): they stopped and resumed, but no cell killed a minority`,
      cells,
      figures,
    )
  const majorityWhy =
    majority.length === 0
      ? '; no cell killed a majority (the other side of the claim is untested)'
      : `; ${majority.length} majority outages stopped committing and resumed after the restart`
  return result(
    claim,
    'supported',
    `${minority.length} minority outages kept committing${majorityWhy}; all ${cells.length} cells linearizable`,
    cells,
    figures,
  )
}

/**
 * "X is best at Y": per engine, the cells' metric (lower is better) with its interval. Supported when
 * X's interval lies below every other engine's, refuted when another's lies below X's.
 */
function bestEngine(
  claim: string,
  ctx: ClaimContext,
  winner: string,
  conflictLabel: string,
  conflict: (c: number) => boolean,
  metricName: string,
  metric: (cell: ClaimCell) => number | null,
): ClaimResult {
  const missing = missingEngine(claim, ctx, winner)
  if (missing !== null) return missing
  const byEngine = new Map<string, { cells: ClaimCell[]; values: number[] }>()
  for (const cell of ctx.cells) {
    if (!conflict(cell.conflict) || ctx.topologies[cell.topology]?.wan !== true) continue
    const v = metric(cell)
    if (v === null) continue
    // a variant competes under its own label
    const entry = byEngine.get(cell.label) ?? { cells: [], values: [] }
    entry.cells.push(cell)
    entry.values.push(v)
    byEngine.set(cell.label, entry)
  }
  const used = [...byEngine.values()].flatMap((e) => e.cells)
  if (!byEngine.has(winner))
    return result(claim, 'inconclusive', `no ${winner} cell on a WAN topology at ${conflictLabel}`, used, [])
  if (byEngine.size < 2)
    return result(
      claim,
      'inconclusive',
      `only ${winner} ran on a WAN topology at ${conflictLabel}: nothing to compare`,
      used,
      [],
    )
  const figures = [...byEngine.entries()].map(([engine, e]) =>
    figure(`${engine}: ${metricName}`, 'ms', e.values, e.cells, ctx, `${claim}/${engine}`),
  )
  const mine = figures.find((f) => f.name.startsWith(`${winner}:`))!
  const others = figures.filter((f) => f !== mine)
  const ranking = [...figures].sort((a, b) => a.mean - b.mean).map((f) => `${f.name.split(':')[0]} ${f.mean}`)
  const rank = `${metricName} at ${conflictLabel}, lowest first: ${ranking.join(', ')} ms`
  if (figures.some((f) => f.ciLow === null))
    return result(claim, 'inconclusive', `${rank}; ${ONE_SAMPLE}`, used, figures)
  const better = others.filter((f) => f.ciHigh! < mine.ciLow!)
  if (better.length > 0)
    return result(
      claim,
      'refuted',
      `${rank}; ${better.map((f) => f.name.split(':')[0]).join(', ')} lower, intervals apart`,
      used,
      figures,
    )
  if (others.every((f) => mine.ciHigh! < f.ciLow!))
    return result(claim, 'supported', `${rank}; ${winner}'s interval is below every other`, used, figures)
  return result(claim, 'inconclusive', `${rank}; the intervals overlap`, used, figures)
}

const siteMean = (c: ClaimCell) => {
  const v = Object.values(c.siteP50Ms)
  return v.length === 0 ? null : mean(v)
}
const siteMin = (c: ClaimCell) => {
  const v = Object.values(c.siteP50Ms)
  return v.length === 0 ? null : Math.min(...v)
}

const vrrMinLatency: Claim = (ctx) =>
  bestEngine(
    'Best for minimum latency: VRR (vr)',
    ctx,
    'vr',
    'conflict 0',
    (c) => c === 0,
    'best site p50',
    siteMin,
  )

const epaxosRareConflicts: Claim = (ctx) =>
  bestEngine(
    'Best for WANs with rare conflicts: EPaxos',
    ctx,
    'epaxos',
    'conflict <= 2%',
    (c) => c <= 0.02,
    'mean site p50',
    siteMean,
  )

const fastPaxosCommonConflicts: Claim = (ctx) =>
  bestEngine(
    'Best with common conflicts: Fast Paxos',
    ctx,
    'fastpaxos',
    'conflict >= 50%',
    (c) => c >= 0.5,
    'mean site p50',
    siteMean,
  )

/** Each proxy over the largest among the engines, summed: 4 = the most of everything. */
export function understandabilityScore(p: Proxies, all: readonly Proxies[]): number {
  const keys = ['linesOfCode', 'messageKinds', 'timerKinds', 'branches'] as const
  return keys.reduce((sum, k) => {
    const max = Math.max(...all.map((q) => q[k]))
    return sum + (max > 0 ? p[k] / max : 0)
  }, 0)
}

const raftEasiest: Claim = (ctx) => {
  const claim = 'Easiest to understand: Raft (proxies from the sources)'
  const missing = missingEngine(claim, ctx, 'raft')
  if (missing !== null) return missing
  const names = Object.keys(ctx.proxies)
  if (names.length < 2 || ctx.proxies.raft === undefined)
    return result(
      claim,
      'inconclusive',
      `proxies for ${names.join(', ') || 'no engine'}: nothing to compare`,
      [],
      [],
    )
  const all = names.map((n) => ctx.proxies[n]!)
  const scores = names
    .map((n) => ({ n, s: understandabilityScore(ctx.proxies[n]!, all) }))
    .sort((a, b) => a.s - b.s)
  const figures: Figure[] = scores.map(({ n, s }) => ({
    name: `${n}: proxy score (sum of each proxy / the largest)`,
    unit: 'score',
    mean: Math.round(s * 1000) / 1000,
    ciLow: null,
    ciHigh: null,
    n: 1,
  }))
  const extras = (n: string) => ctx.extras?.[n] ?? []
  const detail = scores
    .map(({ n }) => {
      const p = ctx.proxies[n]!
      const more = extras(n).length > 0 ? ` (with ${extras(n).join(', ')})` : ''
      return `${n} ${p.linesOfCode} loc, ${p.messageKinds} msg, ${p.timerKinds} timer, ${p.branches} branch${more}`
    })
    .join('; ')
  const note = 'proxies of the code, not a study of readers'
  const lowest = scores[0]!.n
  if (lowest === 'raft')
    return result(
      claim,
      'supported',
      `raft has the lowest score of ${names.length} engines (${detail}); ${note}`,
      [],
      figures,
    )
  // code size counts features: raft's extras that the lower engine lacks make the two unlike
  const unlike = extras('raft').filter((x) => !extras(lowest).includes(x))
  if (unlike.length > 0)
    return result(
      claim,
      'inconclusive',
      `${lowest} scores lower than raft, but raft's code also holds ${unlike.join(', ')}, which ${lowest}'s lacks: the proxies compare unlike feature sets (${detail}); ${note}`,
      [],
      figures,
    )
  return result(claim, 'refuted', `${lowest} scores lower than raft (${detail}); ${note}`, [], figures)
}

export const CLAIMS: readonly Claim[] = [
  paxosTwoRtt,
  multiPaxosOneRtt,
  fastPaxosAnyNode,
  leaderLimited,
  majorityUp,
  vrrMinLatency,
  epaxosRareConflicts,
  fastPaxosCommonConflicts,
  raftEasiest,
]

export function evaluateClaims(ctx: ClaimContext): ClaimResult[] {
  return CLAIMS.map((claim) => claim(ctx))
}
