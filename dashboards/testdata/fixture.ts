/**
 * Synthetic results directories for the dashboard tests: every field of the results contract the charts
 * read, including the ones other parts add (expectedLatencyMs, calibration, achievedConflict, timeline,
 * per-node cost), with a real .hlog written by the same LatencyRecorder the driver uses. Figures are
 * made up but shaped like a WAN run (three sites, a leader at CA), seeded so every call is identical.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Rng } from '../../engines/core/runtime/rng.ts'
import { referenceRows } from '../../harness/claims/references.ts'
import type { CellSummary } from '../../harness/results/summary.ts'
import { LatencyRecorder, summarizeLatency } from '../../workloads/latency.ts'

/** An experiment's engine variant (summary.json `cells[].variant`): its cells are `<variant>-...`. */
export interface FixtureVariant {
  readonly engine: string
  readonly variant: string
}

export interface FixtureOptions {
  /** engine names, or variants of one (two configurations of multipaxos, as lan-throughput runs) */
  readonly engines?: readonly (string | FixtureVariant)[]
  readonly conflicts?: readonly number[]
  readonly repetitions?: number
  /** leave out every optional field (an old or minimal run): charts must say "no data", not fail */
  readonly minimal?: boolean
  readonly claims?: unknown
  readonly runId?: string
  /**
   * add etcd as a reference (cells marked `external`, model raft, after the engines' cells, no node
   * cost): 'summary' also writes summary.json `references` as a finished run does; 'cells' leaves it out
   * and marks the run incomplete, as an interrupted one
   */
  readonly references?: 'summary' | 'cells'
  /** the share of gets (default 0.5); 0 is a write-only run: every cell's get summary is empty */
  readonly readRatio?: number
}

const SITES = ['CA', 'VA', 'EU'] as const
/** one-way-ish base latency per site, ms: CA holds the leader, EU is far from it */
const BASE_MS: Record<(typeof SITES)[number], number> = { CA: 85, VA: 90, EU: 150 }
const RTT_MS: Record<string, number> = { 'CA-VA': 85, 'VA-EU': 90, 'CA-EU': 156 }

/** Writes `<root>/<runId>/` and returns its path. */
export function writeFixtureRun(root: string, options: FixtureOptions = {}): string {
  const engines = [...(options.engines ?? ['multipaxos', 'epaxos']), ...(options.references ? ['etcd'] : [])]
  const readRatio = options.readRatio ?? 0.5
  const conflicts = options.conflicts ?? [0, 0.5, 1]
  const repetitions = options.repetitions ?? 1
  const minimal = options.minimal ?? false
  const runId = options.runId ?? `20261126T150000Z-fixture-${minimal ? 'minimal' : 'full'}`
  const dir = join(root, runId)
  mkdirSync(dir, { recursive: true })
  const rng = new Rng(7, 'dashboards-fixture')
  const cells: unknown[] = []
  for (const [e, entry] of engines.entries()) {
    const engine = typeof entry === 'string' ? entry : entry.engine
    const variant = typeof entry === 'string' ? null : entry.variant
    // a variant carries 1.5x its engine's load (batching), so its points sit apart from the engine's
    const load = variant === null ? 1 : 1.5
    for (const conflict of conflicts) {
      for (let repetition = 1; repetition <= repetitions; repetition++) {
        const id = `${variant ?? engine}-epaxos-3-c${conflict}-rep${repetition}`
        const cellDir = join(dir, 'cells', id)
        mkdirSync(cellDir, { recursive: true })
        const recorder = new LatencyRecorder()
        const sites: Record<string, unknown> = {}
        for (const site of SITES) {
          // leaderless engines suffer more from conflicts, leader ones are slower at far sites
          const baseMs = engine !== 'epaxos' ? BASE_MS[site] + (site === 'CA' ? 0 : 85) : 90 * (1 + conflict)
          for (let i = 0; i < 400; i++) {
            const tail = rng.next() < 0.02 ? 3 : 1
            const us = (baseMs + rng.next() * 10 * (1 + e)) * 1000 * tail
            recorder.record(site, rng.next() < readRatio ? 'get' : 'put', us)
          }
          const latencyUs = summarizeLatency(recorder.merged(site))
          sites[site] = {
            ops: 400,
            throughputOpsPerSec: 133.3,
            latencyUs,
            ...(minimal
              ? {}
              : {
                  expectedLatencyMs: engine !== 'epaxos' ? BASE_MS[site] + (site === 'CA' ? 0 : 85) : 90,
                }),
          }
        }
        writeFileSync(join(cellDir, 'latency.hlog'), recorder.toHlog(Date.UTC(2026, 10, 26, 15), 1, 4))
        const seconds = 5
        if (!minimal) {
          const rows = Array.from({ length: seconds }, (_, second) => ({
            second,
            intended: 0,
            sent: 400,
            completed: second === 2 && engine === 'multipaxos' ? 40 : 380 + rng.int(40),
            failed: 0,
            unknown: 0,
          }))
          writeFileSync(join(cellDir, 'timeline.jsonl'), rows.map((r) => JSON.stringify(r)).join('\n') + '\n')
        }
        const nodes = Object.fromEntries(
          ['r0', 'r1', 'r2'].map((node, i) => [
            node,
            {
              msgsPerOp: engine === 'multipaxos' && i === 0 ? 8 : 4,
              msgsSentPerOp: 2,
              msgsReceivedPerOp: 2,
              bytesPerOp: engine === 'multipaxos' && i === 0 ? 900 : 450,
              cpuUsPerOp: engine === 'multipaxos' && i === 0 ? 120 : 70 + i,
              fsyncsPerOp: 1,
              requests: 400,
            },
          ]),
        )
        const all = summarizeLatency(recorder.merged())
        const external = engine === 'etcd'
        cells.push({
          id,
          state: 'complete',
          engine,
          ...(variant !== null ? { variant } : {}),
          ...(external ? { external: { model: 'raft' } } : {}),
          topology: 'epaxos-3',
          conflict,
          readRatio,
          repetition,
          replicas: 3,
          clientsPerSite: 10,
          durationMs: seconds * 1000,
          warmupMs: 1000,
          cooldownMs: 0,
          loadStartUs: 1_000_000,
          opsCompleted: 1200,
          opsRecorded: 1500,
          throughputOpsPerSec: load * (engine === 'multipaxos' ? 300 - 20 * conflict : 420 - 200 * conflict),
          latencyUs: all,
          latencyUsByOp: {
            get: summarizeLatency(recorder.merged(undefined, 'get')),
            put: summarizeLatency(recorder.merged(undefined, 'put')),
          },
          sites,
          check: { verdict: 'linearizable', elapsedMs: 12 },
          // a leader kill in the first multipaxos cell: the timeline marks it, the unavailability chart draws it
          faults:
            !minimal && engine === 'multipaxos' && conflict === 0 && repetition === 1
              ? [
                  {
                    kind: 'kill-leader',
                    replica: 'r0',
                    signal: 'SIGKILL',
                    leaderBefore: 'r0',
                    description: 'kill -9 the leader, restart after 1000 ms',
                    atUs: 3_500_000,
                    endUs: 4_500_000,
                    events: [
                      { atUs: 3_500_000, what: 'kill -9 r0' },
                      { atUs: 4_500_000, what: 'restart r0' },
                    ],
                    newLeader: 'r1',
                    newLeaderAfterMs: 610,
                    firstCommitAfterMs: 700,
                    recoveryMsBySite: { CA: 820, VA: 700, EU: null },
                    opsFailed: 1,
                    opsUnknown: 3,
                  },
                ]
              : [],
          errors: {
            timeout: 0,
            rejected: 0,
            refused: 0,
            connection: 0,
            http: 0,
            unknownOutcome: 0,
            failedOutcome: 0,
          },
          readBack: { keys: 10, ok: 10 },
          truncated: false,
          ...(minimal
            ? {}
            : {
                achievedConflict: Math.min(1, conflict * 0.9 + 0.01),
                nodes: external ? {} : nodes,
                bottleneckNode: engine === 'multipaxos' ? 'r0' : null,
              }),
          files: {
            history: `cells/${id}/history.jsonl`,
            check: `cells/${id}/check.json`,
            latency: `cells/${id}/latency.hlog`,
            ...(minimal ? {} : { timeline: `cells/${id}/timeline.jsonl` }),
            replicas: `cells/${id}/replicas`,
          },
        })
      }
    }
  }
  const interrupted = options.references === 'cells'
  const summary = {
    status: interrupted ? 'incomplete' : 'complete',
    runId,
    startedAt: '2026-11-26T15:00:00.000Z',
    finishedAt: interrupted ? null : '2026-11-26T15:01:00.000Z',
    cells,
    ...(options.claims !== undefined ? { claims: options.claims } : {}),
    ...(options.references === 'summary'
      ? { references: referenceRows(cells as unknown as CellSummary[]) }
      : {}),
  }
  writeFileSync(join(dir, 'summary.json'), JSON.stringify(summary, null, 2))
  const links = Object.entries(RTT_MS).flatMap(([pair, rtt], i) => {
    const [a, b] = pair.split('-') as [string, string]
    return [
      [a, b],
      [b, a],
    ].map(([from, to], j) => {
      const errorMs = i === 2 && j === 1 ? 6 : 0.2
      return {
        from,
        to,
        targetRttMs: rtt,
        measuredRttMsP50: rtt + errorMs,
        measuredRttMsP99: rtt + errorMs + 1.5,
        errorMs,
        withinTolerance: errorMs <= Math.max(1, 0.02 * rtt),
      }
    })
  })
  const env = {
    gitCommit: '0123456789abcdef0123456789abcdef01234567',
    gitDirty: false,
    node: 'v20.20.2',
    platform: 'linux',
    kernel: '6.18.0',
    cpuModel: 'Fixture CPU',
    cpuCount: 2,
    memoryBytes: 8 * 1024 ** 3,
    hostname: 'fixture',
    launcher: 'local',
    shaper: minimal ? 'none' : 'relay',
    ...(minimal ? {} : { calibration: { topology: 'epaxos-3', shaper: 'relay', links } }),
  }
  writeFileSync(join(dir, 'env.json'), JSON.stringify(env, null, 2))
  return dir
}
