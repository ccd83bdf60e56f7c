/** The per-node cost table of a run's printed summary (the figures: harness/node-cost.ts). */
import Table from 'cli-table3'
import type { CellSummary } from '../results/summary.ts'

/** a scrape answer later than this (the old timeout) is named under the table */
const LATE_ANSWER_MS = 1000

/**
 * One row per replica and cell, the bottleneck marked; '' when no cell has per-node figures. 'cpu us/op'
 * is raw process CPU per command; 'above idle' subtracts the replica's idle CPU rate over the window
 * ('-' when the run did not measure it: --idle-baseline). A replica without figures has a row of '-'
 * that says why (`nodeCost.missingReasons`): a reader must not take the rows shown for all of them.
 */
export function nodeCostTable(cells: readonly CellSummary[]): string {
  const table = new Table({
    style: { head: [], border: [] },
    head: [
      'cell',
      'node',
      'msgs/op',
      'sent/op',
      'recv/op',
      'bytes/op',
      'cpu us/op',
      'above idle',
      'fsyncs/op',
      'requests',
      '',
    ],
  })
  const notes: string[] = []
  for (const c of cells) {
    const missing = c.nodeCost?.missing ?? []
    const ids = [...Object.keys(c.nodes), ...missing].sort((x, y) =>
      x.localeCompare(y, 'en', { numeric: true }),
    )
    for (const id of ids) {
      const n = c.nodes[id]
      if (n === undefined) {
        const why = c.nodeCost?.missingReasons?.[id] ?? 'no figures'
        table.push([c.id, id, '-', '-', '-', '-', '-', '-', '-', '-', `MISSING: ${why}`])
        continue
      }
      const mark = id === c.bottleneckNode ? `bottleneck (by ${c.nodeCost?.bottleneckBy})` : ''
      table.push([
        c.id,
        id,
        n.msgsPerOp,
        n.msgsSentPerOp,
        n.msgsReceivedPerOp,
        Math.round(n.bytesPerOp),
        Math.round(n.cpuUsPerOp),
        n.cpuUsPerOpAboveIdle === null ? '-' : Math.round(n.cpuUsPerOpAboveIdle),
        n.fsyncsPerOp,
        n.requests,
        mark,
      ])
    }
    const cost = c.nodeCost
    if (cost === null) notes.push(`${c.id}: no per-node cost (the window's /metrics could not be scraped)`)
    else {
      const paths =
        c.fastPath === null ? 'no fast/slow path events' : `fast path ${c.fastPath}, slow path ${c.slowPath}`
      const missingNote =
        cost.missing.length > 0
          ? `; no figures for ${cost.missing.join(', ')}: the bottleneck is unknown (it may be the missing one)`
          : ''
      const late = Object.entries(c.nodes)
        .filter(
          ([, n]) => Math.max(n.answeredAfterMs?.start ?? 0, n.answeredAfterMs?.end ?? 0) > LATE_ANSWER_MS,
        )
        .map(([id, n]) => `${id} ${n.answeredAfterMs.start}/${n.answeredAfterMs.end} ms`)
      const lateNote =
        late.length > 0
          ? `; /metrics answered late (start/end; figures over each replica's own interval): ${late.join(', ')}`
          : ''
      const idle =
        cost.idleWindowMs === null
          ? ''
          : `; idle CPU (ms per s, over ${cost.idleWindowMs} ms before the load): ${Object.entries(c.nodes)
              .map(
                ([id, n]) =>
                  `${id} ${n.idleCpuUsPerSec === null ? '?' : (n.idleCpuUsPerSec / 1000).toFixed(1)}`,
              )
              .join(', ')}`
      notes.push(
        `${c.id}: per op = per each of ${cost.ops} commands committed in the window; ${paths}${missingNote}${lateNote}${idle}`,
      )
    }
  }
  const body = table.length > 0 ? `${table.toString()}\n` : ''
  return `${body}${notes.join('\n')}${notes.length > 0 ? '\n' : ''}`
}
