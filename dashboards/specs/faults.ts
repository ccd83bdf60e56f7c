/** Fault charts: how long each client site went without a commit after each fault. */
import type { ResultsModel } from '../model.ts'
import { type Chart, cellKey, chart, HEIGHT, lineLabel, WIDTH } from './common.ts'

/** The fault events of every cell with a timeline, as rule marks over the throughput timeline. */
export function faultEventMarks(model: ResultsModel) {
  return model.cells
    .filter((c) => c.timeline !== null)
    .flatMap((c) =>
      c.faults.flatMap((f) =>
        f.events.map((e) => ({ second: e.second, what: e.what, fault: f.description, cell: cellKey(c) })),
      ),
    )
}

/**
 * One bar per (cell, fault, site): from the fault to the first commit at that site of a command invoked
 * after it. A site that never committed again is drawn to the end of its cell's load, in grey.
 */
export function unavailability(model: ResultsModel): Chart {
  const values = model.cells.flatMap((c) =>
    c.faults.flatMap((f, i) =>
      Object.entries(f.recoveryMsBySite).map(([site, ms]) => ({
        row: `${lineLabel(c, model.cells)} rep${c.repetition} · ${site}`,
        fault: `#${i + 1} ${f.description}`,
        from: f.atSecond,
        to:
          ms === null
            ? Math.max(f.atSecond, ...(c.timeline?.points.map((p) => p.second + 1) ?? []))
            : f.atSecond + ms / 1000,
        recoveryMs: ms,
        recovered: ms !== null,
        opsFailed: f.opsFailed,
        opsUnknown: f.opsUnknown,
        newLeaderAfterMs: f.newLeaderAfterMs,
        cell: cellKey(c),
      })),
    ),
  )
  const info = {
    name: 'unavailability',
    title: 'Unavailability after each fault, per site',
    question: 'After each fault, how long did each client site wait for its next commit?',
  }
  if (values.length === 0) return chart(info, null, 'no cell had a fault with per-site recovery figures')
  const rows = new Set(values.map((v) => v.row)).size
  return chart(
    info,
    {
      width: WIDTH,
      height: Math.max(HEIGHT / 2, rows * 18),
      data: { values },
      layer: [
        {
          mark: { type: 'bar', height: 12 },
          encoding: {
            x: { field: 'from', type: 'quantitative', title: 'second of the load' },
            x2: { field: 'to' },
            y: { field: 'row', type: 'nominal', title: null, sort: null },
            color: { field: 'fault', type: 'nominal', title: 'fault' },
            opacity: { condition: { test: 'datum.recovered', value: 0.9 }, value: 0.3 },
            tooltip: [
              { field: 'row', title: 'cell · site' },
              { field: 'fault' },
              { field: 'recoveryMs', title: 'ms until a commit (null: never)' },
              { field: 'newLeaderAfterMs', title: 'new leader after ms' },
              { field: 'opsFailed', title: 'failed' },
              { field: 'opsUnknown', title: 'unknown' },
            ],
          },
        },
        {
          mark: { type: 'text', align: 'left', dx: 4, fontSize: 10 },
          encoding: {
            x: { field: 'to', type: 'quantitative' },
            y: { field: 'row', type: 'nominal', sort: null },
            text: { field: 'recoveryMs', type: 'quantitative', format: '.0f' },
          },
        },
      ],
    },
    '',
  )
}
