/**
 * Reference rows: external systems (harness/external/, etcd) measured in the same matrix as our engines.
 * They are not one of the talk's protocols, so they take no part in the claims' verdicts; each row says
 * what the system did, how its medians compare with its model's expectedLatencyMs (etcd: Raft's), and
 * its throughput and p99 over the model engine's in the same topology and conflict rate, when that
 * engine ran too (raft beside etcd).
 */
import Table from 'cli-table3'
import { cellLabel } from '../results/label.ts'
import type { CellSummary } from '../results/summary.ts'

export interface ReferenceRow {
  /** the external system's name, or its variant's (harness/results/label.ts cellLabel) */
  readonly engine: string
  /** the registered engine that models it (null: none) */
  readonly model: string | null
  readonly topology: string
  readonly conflict: number
  readonly cells: readonly string[]
  /** means over the row's cells (its repetitions) */
  readonly throughputOpsPerSec: number
  readonly p50Ms: number
  readonly p99Ms: number
  /**
   * medians by op: means over the cells that issued that op; null when none did (a write-only workload
   * has no get median, and must not read as 0 ms). etcd's reads cost more.
   */
  readonly p50MsByOp: { readonly get: number | null; readonly put: number | null }
  /** cells whose history was linearizable, of all */
  readonly linearizable: { readonly yes: number; readonly of: number }
  /** the mean over cells and sites of median / expectedLatencyMs (null without a topology or model) */
  readonly p50OverExpected: number | null
  /** this system over the model engine's cells of the same topology and conflict (null when none ran) */
  readonly vsModel: {
    readonly engine: string
    readonly cells: readonly string[]
    readonly throughputRatio: number
    readonly p99Ratio: number
  } | null
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length)
const round3 = (x: number) => Math.round(x * 1000) / 1000

/**
 * The mean median of one op kind over the cells that issued it, ms; null when none did. A cell's summary
 * of an op with no commands is all zeros (workloads/latency.ts summarizeLatency of an empty histogram):
 * its max is 0, which a recorded command (at least 1 us) never gives.
 */
function opMedianMs(cells: readonly CellSummary[], op: 'get' | 'put'): number | null {
  const issued = cells.map((c) => c.latencyUsByOp[op]).filter((l) => l.max > 0)
  return issued.length === 0 ? null : round3(mean(issued.map((l) => l.p50 / 1000)))
}

export function referenceRows(cells: readonly CellSummary[]): ReferenceRow[] {
  const groups = new Map<string, CellSummary[]>()
  for (const c of cells) {
    if (c.external === undefined) continue
    const key = JSON.stringify([c.variant ?? c.engine, c.topology, c.conflict])
    groups.set(key, [...(groups.get(key) ?? []), c])
  }
  return [...groups.values()].map((group) => {
    const first = group[0]!
    const model = first.external?.model ?? null
    const ratios = group.flatMap((c) =>
      Object.values(c.sites)
        .filter((s) => s.expectedLatencyMs !== undefined && s.expectedLatencyMs > 0 && s.ops > 0)
        .map((s) => s.latencyUs.p50 / 1000 / s.expectedLatencyMs!),
    )
    const modelCells = cells.filter(
      (c) =>
        c.external === undefined &&
        (c.variant ?? c.engine) === model &&
        c.topology === first.topology &&
        c.conflict === first.conflict,
    )
    const throughput = mean(group.map((c) => c.throughputOpsPerSec))
    const p99Ms = mean(group.map((c) => c.latencyUs.p99 / 1000))
    const modelThroughput = mean(modelCells.map((c) => c.throughputOpsPerSec))
    const modelP99Ms = mean(modelCells.map((c) => c.latencyUs.p99 / 1000))
    return {
      engine: cellLabel(first),
      model,
      topology: first.topology,
      conflict: first.conflict,
      cells: group.map((c) => c.id),
      throughputOpsPerSec: Math.round(throughput * 10) / 10,
      p50Ms: round3(mean(group.map((c) => c.latencyUs.p50 / 1000))),
      p99Ms: round3(p99Ms),
      p50MsByOp: { get: opMedianMs(group, 'get'), put: opMedianMs(group, 'put') },
      linearizable: { yes: group.filter((c) => c.check.verdict === 'linearizable').length, of: group.length },
      p50OverExpected: ratios.length === 0 ? null : round3(mean(ratios)),
      vsModel:
        model === null || modelCells.length === 0 || modelThroughput <= 0 || modelP99Ms <= 0
          ? null
          : {
              engine: model,
              cells: modelCells.map((c) => c.id),
              throughputRatio: round3(throughput / modelThroughput),
              p99Ratio: round3(p99Ms / modelP99Ms),
            },
    }
  })
}

/** The columns of a reference row, in the terminal and in report.html (dashboards/html.ts). */
export const REFERENCE_COLUMNS = [
  'reference',
  'topology',
  'conflict',
  'ops/s',
  'p50 ms',
  'p50 get/put ms',
  'p99 ms',
  'linearizable',
  'p50/expected',
  'vs model: ops/s ratio',
  'p99 ratio',
] as const

/** The reference rows as a table for the terminal. */
export function referencesTable(rows: readonly ReferenceRow[]): string {
  const table = new Table({ style: { head: [], border: [] }, head: [...REFERENCE_COLUMNS] })
  for (const r of rows)
    table.push([
      r.engine,
      r.topology,
      r.conflict,
      r.throughputOpsPerSec,
      r.p50Ms,
      `${r.p50MsByOp.get ?? '-'}/${r.p50MsByOp.put ?? '-'}`,
      r.p99Ms,
      `${r.linearizable.yes}/${r.linearizable.of}`,
      r.p50OverExpected ?? '-',
      r.vsModel === null ? '-' : `${r.vsModel.throughputRatio} (/${r.vsModel.engine})`,
      r.vsModel === null ? '-' : r.vsModel.p99Ratio,
    ])
  return `${table.toString()}\n`
}
