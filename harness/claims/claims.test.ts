import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { CellSummary } from '../results/summary.ts'
import { bootstrapFigure } from './bootstrap.ts'
import { evaluateClaims } from './claims.ts'
import { claimCellOf, outagesOf, topologyFacts } from './index.ts'
import type { ClaimCell, ClaimContext, ClaimResult, Outage } from './types.ts'
import { proxiesOfSources, stripComments } from './understandability.ts'

const facts = topologyFacts('epaxos-3')

/** A cell on epaxos-3 whose sites see `p50Ms` (per site: CA, VA, EU). */
function cell(
  engine: string,
  conflict: number,
  repetition: number,
  p50Ms: [number, number, number],
  extra: Partial<ClaimCell> = {},
): ClaimCell {
  return {
    id: `${engine}-epaxos-3-c${conflict}-rep${repetition}`,
    engine,
    label: engine,
    topology: 'epaxos-3',
    conflict,
    repetition,
    throughputOpsPerSec: 100,
    siteP50Ms: { CA: p50Ms[0], VA: p50Ms[1], EU: p50Ms[2] },
    leader: null,
    bottleneckNode: null,
    cpuUsPerOpByNode: {},
    linearizable: true,
    outages: [],
    ...extra,
  }
}

const ENGINES: ClaimContext['engines'] = {
  multipaxos: 'leader',
  paxos: 'leaderless',
  raft: 'leader',
  epaxos: 'leaderless',
  fastpaxos: 'leaderless',
  vr: 'leader',
}

function context(cells: ClaimCell[], engines: ClaimContext['engines'] = ENGINES): ClaimContext {
  return { cells, engines, topologies: { 'epaxos-3': facts }, proxies: {}, seed: 1 }
}

function claim(results: ClaimResult[], prefix: string): ClaimResult {
  const r = results.find((c) => c.claim.startsWith(prefix))
  assert.ok(r, prefix)
  return r
}

const jitter = (rep: number) => [0.98, 1.0, 1.02][rep - 1]!

test('claims: topology facts give the majority and fast-quorum round trips per site', () => {
  // CA-VA 85, VA-EU 90, CA-EU 156: a majority of 3 is the nearest other replica; a fast quorum (3) the farthest
  assert.deepEqual(facts.majorityRttMs, { CA: 85, VA: 85, EU: 90 })
  assert.deepEqual(facts.fastQuorumRttMs, { CA: 156, VA: 90, EU: 156 })
  assert.equal(facts.wan, true)
  assert.equal(topologyFacts('lan').wan, false)
})

test('claims: Multi-Paxos at ~1 RTT at its leader is supported; at 2 RTT it is refuted', () => {
  const at = (ratio: number) =>
    [1, 2, 3].map((rep) => cell('multipaxos', 0, rep, [85 * ratio * jitter(rep), 170, 241], { leader: 'r0' }))
  assert.equal(claim(evaluateClaims(context(at(1.1))), 'Multi-Paxos').verdict, 'supported')
  const refuted = claim(evaluateClaims(context(at(2))), 'Multi-Paxos')
  assert.equal(refuted.verdict, 'refuted')
  assert.equal(refuted.cells.length, 3)
  assert.ok(refuted.figures[0]!.ciLow! > 1.5, JSON.stringify(refuted.figures))
  // one repetition at two conflict rates: two conditions, not two measurements, so no interval
  const oneRep = [0, 1].map((conflict) => cell('multipaxos', conflict, 1, [93, 170, 241], { leader: 'r0' }))
  const r = claim(evaluateClaims(context(oneRep)), 'Multi-Paxos')
  assert.equal(r.verdict, 'inconclusive')
  assert.equal(r.figures[0]!.n, 2)
  assert.equal(r.figures[0]!.ciLow, null)
  assert.match(r.why, /one repetition/)
})

test('claims: classic Paxos at 1 RTT refutes "needs 2 RTT"; at 2 RTT supports it; one repetition is inconclusive', () => {
  const at = (ratio: number, reps: number[]) =>
    reps.map((rep) => cell('paxos', 0, rep, [85 * ratio * jitter(rep), 85 * ratio, 90 * ratio]))
  assert.equal(claim(evaluateClaims(context(at(1.05, [1, 2, 3]))), 'Classic Paxos').verdict, 'refuted')
  assert.equal(claim(evaluateClaims(context(at(2.1, [1, 2, 3]))), 'Classic Paxos').verdict, 'supported')
  const one = claim(evaluateClaims(context(at(2.1, [1]))), 'Classic Paxos')
  assert.equal(one.verdict, 'inconclusive')
  assert.match(one.why, /one repetition/)
  assert.match(one.why, /measured figure agrees/)
})

test('claims: a missing engine makes its claims inconclusive, naming it', () => {
  const { fastpaxos: _f, ...withoutFast } = ENGINES
  const results = evaluateClaims(context([], withoutFast))
  const fast = claim(results, 'Fast Paxos: any node')
  assert.equal(fast.verdict, 'inconclusive')
  assert.match(fast.why, /fastpaxos is not registered/)
  assert.match(claim(results, 'Best with common conflicts').why, /fastpaxos/)
  // registered but not in the run: the missing cell is named
  assert.match(claim(evaluateClaims(context([])), 'Best for WANs').why, /no epaxos cell/)
})

test('claims: EPaxos best with rare conflicts is supported, refuted or inconclusive as the intervals say', () => {
  const run = (epaxosMs: number, multipaxosMs: number) => [
    ...[1, 2, 3].map((rep) => cell('epaxos', 0, rep, [epaxosMs * jitter(rep), epaxosMs, epaxosMs])),
    ...[1, 2, 3].map((rep) =>
      cell('multipaxos', 0, rep, [multipaxosMs * jitter(rep), multipaxosMs, multipaxosMs]),
    ),
  ]
  assert.equal(claim(evaluateClaims(context(run(100, 180))), 'Best for WANs').verdict, 'supported')
  const refuted = claim(evaluateClaims(context(run(180, 100))), 'Best for WANs')
  assert.equal(refuted.verdict, 'refuted')
  assert.match(refuted.why, /multipaxos lower/)
  assert.equal(claim(evaluateClaims(context(run(100, 100.5))), 'Best for WANs').verdict, 'inconclusive')
  // conflict 100% cells do not count toward "rare conflicts"
  const highOnly = run(100, 180).map((c) => ({ ...c, conflict: 1 }))
  assert.equal(claim(evaluateClaims(context(highOnly)), 'Best for WANs').verdict, 'inconclusive')
})

test("claims: a leader that costs no more than its followers refutes 'limited by one node's load'", () => {
  const cells = (leaderCpu: number) =>
    [1, 2, 3].map((rep) =>
      cell('raft', 0, rep, [100, 100, 100], {
        leader: 'r0',
        bottleneckNode: 'r0',
        cpuUsPerOpByNode: { r0: leaderCpu * jitter(rep), r1: 100, r2: 100 },
      }),
    )
  assert.equal(claim(evaluateClaims(context(cells(200))), 'Leader-driven').verdict, 'supported')
  assert.equal(claim(evaluateClaims(context(cells(100))), 'Leader-driven').verdict, 'refuted')
})

test('claims: a variant is found by its engine, however it is labelled (summary cells through claimCellOf)', () => {
  // what claimCellOf reads of a summary.json cell; a raft variant whose label does not start with `raft-`
  const summaryCell = (variant: string | undefined, rep: number, leaderCpu: number) =>
    ({
      id: `${variant ?? 'raft'}-epaxos-3-c0-rep${rep}`,
      engine: 'raft',
      ...(variant !== undefined ? { variant } : {}),
      topology: 'epaxos-3',
      conflict: 0,
      repetition: rep,
      replicas: 3,
      throughputOpsPerSec: 100,
      sites: {},
      nodes: Object.fromEntries(
        [leaderCpu * jitter(rep), 100, 100].map((cpuUsPerOp, i) => [`r${i}`, { cpuUsPerOp }]),
      ),
      nodeCost: { leaderAtStart: 'r0' },
      bottleneckNode: 'r0',
      check: { verdict: 'linearizable', elapsedMs: 1 },
      faults: [],
    }) as unknown as CellSummary
  const steady = [1, 2, 3].map((rep) => claimCellOf(summaryCell('steady', rep, 200)))
  assert.deepEqual(
    steady.map((c) => [c.engine, c.label]),
    [1, 2, 3].map(() => ['raft', 'raft/steady']),
  )
  const leaderLoad = claim(evaluateClaims(context(steady)), 'Leader-driven')
  assert.equal(leaderLoad.verdict, 'supported')
  assert.deepEqual(leaderLoad.cells, [
    'steady-epaxos-3-c0-rep1',
    'steady-epaxos-3-c0-rep2',
    'steady-epaxos-3-c0-rep3',
  ])
  // the plain engine and its variant side by side: both counted, the variant not mistaken for another engine
  const both = [...steady, ...[1, 2, 3].map((rep) => claimCellOf(summaryCell(undefined, rep, 200)))]
  assert.equal(claim(evaluateClaims(context(both)), 'Leader-driven').cells.length, 6)
})

test('claims: in the "best" claims a variant competes under its own label, beside its engine', () => {
  const run = (label: string, p50: number) =>
    [1, 2, 3].map((rep) =>
      cell('epaxos', 0, rep, [p50 * jitter(rep), p50, p50], { label, id: `${label}-${rep}` }),
    )
  const r = claim(
    evaluateClaims(context([...run('epaxos', 100), ...run('epaxos/thrifty', 180)])),
    'Best for WANs',
  )
  assert.equal(r.verdict, 'supported')
  assert.deepEqual(r.figures.map((f) => f.name.split(':')[0]).sort(), ['epaxos', 'epaxos/thrifty'])
})

test('claims: "runs while a majority is up": minority outages keep committing, majority ones stop and resume', () => {
  const out = (down: number, firstCommitAfterMs: number | null, downMs: number | null = 2000) => ({
    down,
    replicas: 3,
    downMs,
    firstCommitAfterMs,
  })
  const verdict = (outages: Outage[], linearizable = true) =>
    claim(
      evaluateClaims(context([cell('raft', 0, 1, [100, 100, 100], { outages, linearizable })])),
      'Runs while',
    )
  const good = verdict([out(1, 600), out(2, 2300)])
  assert.equal(good.verdict, 'supported', good.why)
  assert.deepEqual(
    good.figures.map((f) => [f.name, f.mean]),
    [
      ['minority down: ms from the kill to the next commit', 600],
      ['majority down: ms from the restart to the next commit', 300],
    ],
  )
  assert.match(verdict([out(1, 600)]).why, /no cell killed a majority/)
  assert.equal(verdict([out(1, null)]).verdict, 'refuted', 'a minority down stopped commits')
  assert.equal(verdict([out(1, 2500)]).verdict, 'refuted', 'the first commit came only after the restart')
  assert.match(verdict([out(1, 600), out(2, 500)]).why, /committed with 2 of 3 down/)
  assert.match(verdict([out(1, 600), out(2, null)]).why, /no commit after the 2 killed replicas restarted/)
  assert.equal(verdict([out(1, 600)], false).verdict, 'refuted')
  assert.equal(verdict([out(2, 2300)]).verdict, 'inconclusive')
  assert.equal(claim(evaluateClaims(context([])), 'Runs while').verdict, 'inconclusive')
})

test('claims: kills a moment apart are one outage; the replicas down at once count', () => {
  const kill = (atUs: number, endUs: number | null, firstCommitAfterMs: number | null) =>
    ({
      kind: 'kill',
      replica: 'r1',
      signal: 'SIGKILL',
      leaderBefore: 'r0',
      newLeader: null,
      newLeaderAfterMs: null,
      firstCommitAfterMs,
      description: '',
      events: [],
      atUs,
      endUs,
    }) as const
  assert.deepEqual(
    outagesOf(
      [kill(1_000_000, 3_000_000, 500), kill(5_000_000, 7_000_000, 2_100), kill(5_050_000, 7_050_000, 2_050)],
      3,
    ),
    [
      { down: 1, replicas: 3, downMs: 2000, firstCommitAfterMs: 500 },
      { down: 2, replicas: 3, downMs: 1950, firstCommitAfterMs: 2050 },
    ],
  )
  // a kill with no restart stays down: a later kill makes two
  assert.deepEqual(
    outagesOf([kill(1_000_000, null, 500), kill(4_000_000, null, null)], 3).map((o) => [o.down, o.downMs]),
    [
      [1, null],
      [2, null],
    ],
  )
})

test('claims: the understandability proxies rank the engines; raft not lowest is refuted', () => {
  const small = { linesOfCode: 100, messageKinds: 2, timerKinds: 1, branches: 10 }
  const big = { linesOfCode: 500, messageKinds: 8, timerKinds: 4, branches: 60 }
  const ctx = (raft: typeof small, multipaxos: typeof small): ClaimContext => ({
    ...context([]),
    proxies: { raft, multipaxos },
  })
  assert.equal(claim(evaluateClaims(ctx(small, big)), 'Easiest').verdict, 'supported')
  assert.equal(claim(evaluateClaims(ctx(big, small)), 'Easiest').verdict, 'refuted')
  // raft bigger, but carrying a feature the smaller one lacks: not a like-for-like comparison
  const withExtras = (raftExtras: string[], multipaxosExtras: string[]) =>
    claim(
      evaluateClaims({ ...ctx(big, small), extras: { raft: raftExtras, multipaxos: multipaxosExtras } }),
      'Easiest',
    )
  const unlike = withExtras(['log compaction', 'pre-vote'], ['pre-vote'])
  assert.equal(unlike.verdict, 'inconclusive')
  assert.match(unlike.why, /raft's code also holds log compaction, which multipaxos's lacks/)
  assert.equal(withExtras(['pre-vote'], ['pre-vote', 'batching']).verdict, 'refuted')
})

test('understandability: comments and blank lines are not code; message and timer kinds are distinct names', () => {
  const p = proxiesOfSources([
    {
      name: 'messages.ts',
      text: "/** doc\n * more */\nexport type M =\n  | { type: 'a' }\n  | { type: 'b' } // trailing\n\n// only a comment\n",
    },
    {
      name: 'replica.ts',
      text: "if (x) ctx.setTimer(T_A, 1)\nelse if (y) ctx.setTimer(T_A, 2)\nconst u = 'http://x' // keep\nctx.setTimer(T_B, z ? 1 : 2)\n",
    },
  ])
  assert.deepEqual(p, { linesOfCode: 7, messageKinds: 2, timerKinds: 2, branches: 3 })
  assert.equal(stripComments("const u = 'http://x'"), "const u = 'http://x'")
})

test('bootstrap: seeded, so the same samples give the same interval; the interval holds the mean', () => {
  const values = [10, 12, 11, 13, 9]
  const a = bootstrapFigure('x', 'ms', values, 1, 's')
  assert.deepEqual(a, bootstrapFigure('x', 'ms', values, 1, 's'))
  assert.ok(a.ciLow! <= a.mean && a.mean <= a.ciHigh!, JSON.stringify(a))
  assert.ok(a.ciLow! > 9 && a.ciHigh! < 13)
  assert.equal(bootstrapFigure('x', 'ms', [5], 1, 's').ciLow, null)
})
