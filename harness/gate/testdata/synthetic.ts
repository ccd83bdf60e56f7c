/**
 * Synthetic results directories for the gate tests: summary.json and a real latency.hlog per cell,
 * with a known latency distribution scaled per repetition, so a test states "20% slower" exactly.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LatencyRecorder, summarizeLatency } from '../../../workloads/latency.ts'
import type { MicroResults } from '../micro.ts'

export interface SyntheticRep {
  /** every latency of the cell is multiplied by this (1 = the reference distribution) */
  readonly latencyScale: number
  /** ops/s of the cell (default 1000 / latencyScale) */
  readonly throughput?: number
}

export interface SyntheticCase {
  readonly engine: string
  readonly topology?: string
  readonly conflict?: number
  readonly sites?: readonly string[]
  readonly reps: readonly SyntheticRep[]
  /** the cells ran with the host's processing-delay knob */
  readonly processingDelayMs?: number
}

/** 1000 commands per site and op: latencies 1.0 .. 2.0 ms (p99 ~1.99 ms) times the scale */
function recorderFor(sites: readonly string[], scale: number): LatencyRecorder {
  const r = new LatencyRecorder()
  for (const site of sites)
    for (const op of ['get', 'put'] as const)
      for (let i = 0; i < 1000; i++) r.record(site, op, (1000 + i) * scale)
  return r
}

export function tempResults(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'gate-test-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Writes a run directory `dir` holding the cases; returns it. */
export function writeSyntheticRun(
  dir: string,
  cases: readonly SyntheticCase[],
  cpuModel = 'Test CPU',
): string {
  mkdirSync(dir, { recursive: true })
  const cells = []
  for (const c of cases) {
    const sites = c.sites ?? ['r0', 'r1', 'r2']
    const topology = c.topology ?? 'lan'
    const conflict = c.conflict ?? 0
    for (const [i, rep] of c.reps.entries()) {
      const id = `${c.engine}-${topology}-c${conflict}-rep${i + 1}`
      const recorder = recorderFor(sites, rep.latencyScale)
      mkdirSync(join(dir, 'cells', id), { recursive: true })
      writeFileSync(join(dir, 'cells', id, 'latency.hlog'), recorder.toHlog(0, 0, 10))
      const throughput = rep.throughput ?? Math.round(1000 / rep.latencyScale)
      cells.push({
        id,
        state: 'complete',
        engine: c.engine,
        topology,
        conflict,
        ...(c.processingDelayMs !== undefined ? { processingDelayMs: c.processingDelayMs } : {}),
        repetition: i + 1,
        throughputOpsPerSec: throughput,
        latencyUs: summarizeLatency(recorder.merged()),
        latencyUsByOp: {
          get: summarizeLatency(recorder.merged(undefined, 'get')),
          put: summarizeLatency(recorder.merged(undefined, 'put')),
        },
        sites: Object.fromEntries(
          sites.map((s) => [
            s,
            {
              ops: 2000,
              throughputOpsPerSec: throughput / sites.length,
              latencyUs: summarizeLatency(recorder.merged(s)),
            },
          ]),
        ),
        files: { latency: `cells/${id}/latency.hlog` },
      })
    }
  }
  const summary = { status: 'complete', runId: 'synthetic', startedAt: '', finishedAt: '', cells }
  writeFileSync(join(dir, 'summary.json'), JSON.stringify(summary, null, 2))
  writeFileSync(join(dir, 'env.json'), JSON.stringify({ cpuModel, cpuCount: 2 }))
  return dir
}

/** Writes micro.json into `dir` (created): benchmark id -> ops/s per repetition. */
export function writeSyntheticMicro(
  dir: string,
  opsPerSec: Readonly<Record<string, readonly number[]>>,
): string {
  mkdirSync(dir, { recursive: true })
  const micro: MicroResults = {
    kind: 'micro',
    startedAt: '',
    env: { node: 'v20', cpuModel: 'Test CPU', cpuCount: 2 },
    repetitions: Object.values(opsPerSec)[0]?.length ?? 0,
    benchmarks: Object.entries(opsPerSec).map(([id, ops]) => ({
      id,
      name: id,
      opsPerSec: ops,
      rmePercent: ops.map(() => 1),
    })),
  }
  writeFileSync(join(dir, 'micro.json'), JSON.stringify(micro, null, 2))
  return dir
}
