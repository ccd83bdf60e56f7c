/** Throughput charts: throughput against latency, and the per-second timeline. */
import type { ResultsModel } from '../model.ts'
import {
  type Chart,
  cellKey,
  chart,
  HEIGHT,
  hasReferences,
  LATENCY_STATS,
  lineLabel,
  ms,
  pointLayers,
  referenceFields,
  referenceTitle,
  statUs,
  WIDTH,
} from './common.ts'
import { faultEventMarks } from './faults.ts'

/**
 * One point per cell and statistic: where each engine sits on the throughput/latency plane. Points of a
 * series are joined in throughput order, so a series measured at several loads or conflict rates draws
 * its curve (the knee is where latency climbs for little more throughput).
 */
export function throughputVsLatency(model: ResultsModel): Chart {
  const values = model.cells.flatMap((c) =>
    LATENCY_STATS.map((stat) => ({
      series: c.series,
      stat,
      throughputOpsPerSec: c.throughputOpsPerSec,
      latencyMs: ms(statUs(c.latencyUs, stat)),
      conflict: c.conflict,
      cell: cellKey(c),
      ...referenceFields(c),
    })),
  )
  const info = {
    name: 'throughput-vs-latency',
    title: 'Throughput against latency',
    question: 'How much throughput does each engine give, and at what latency?',
  }
  if (values.length === 0) return chart(info, null, 'no cells in the results')
  const x = { field: 'throughputOpsPerSec', type: 'quantitative', title: 'throughput (ops/s)' } as const
  const y = { field: 'latencyMs', type: 'quantitative', title: 'latency (ms)' } as const
  const color = { field: 'series', type: 'nominal', title: null } as const
  const refs = hasReferences(model.cells)
  return chart(
    info,
    {
      width: WIDTH,
      height: HEIGHT,
      ...referenceTitle(refs, 'hollow points'),
      data: { values },
      layer: [
        {
          mark: { type: 'line', opacity: 0.5 },
          encoding: {
            x,
            y,
            color,
            detail: { field: 'stat', type: 'nominal' },
            order: { field: 'throughputOpsPerSec', type: 'quantitative' },
          },
        },
        ...pointLayers(
          { type: 'point', filled: true, size: 70 },
          {
            x,
            y,
            color,
            shape: { field: 'stat', type: 'nominal', title: 'statistic', sort: [...LATENCY_STATS] },
            tooltip: [
              { field: 'series' },
              { field: 'stat' },
              { field: 'throughputOpsPerSec', title: 'ops/s' },
              { field: 'latencyMs', title: 'latency ms' },
              { field: 'conflict' },
              { field: 'cell' },
              ...(refs ? [{ field: 'source' }] : []),
            ],
          },
          refs,
        ),
      ],
    },
    '',
  )
}

/**
 * Commands completed per second of the load, per cell; the grey band is the trimmed warm-up, and a red
 * rule marks each fault event (kill, restart, partition, heal, ...).
 */
export function throughputTimeline(model: ResultsModel): Chart {
  const cells = model.cells.filter((c) => c.timeline !== null)
  const repeated = new Set(cells.map((c) => c.repetition)).size > 1
  const values = cells.flatMap((c) =>
    (c.timeline?.points ?? []).map((p) => ({
      line: lineLabel(c, model.cells) + (repeated ? ` rep${c.repetition}` : ''),
      cell: cellKey(c),
      second: p.second,
      ops: p.ops,
      source: c.timeline?.source ?? '',
    })),
  )
  const info = {
    name: 'throughput-timeline',
    title: 'Throughput per second',
    question: 'Is throughput steady over the run, and where did it stall (an election, a fault)?',
  }
  if (values.length === 0)
    return chart(info, null, 'no cell has a timeline file or a history.jsonl to count one from')
  const warmupSec = Math.max(...cells.map((c) => c.warmupMs / 1000))
  const events = faultEventMarks(model)
  return chart(
    info,
    {
      width: WIDTH,
      height: HEIGHT,
      layer: [
        {
          data: { values: [{ from: 0, to: warmupSec }] },
          mark: { type: 'rect', color: '#eee' },
          encoding: {
            x: { field: 'from', type: 'quantitative' },
            x2: { field: 'to' },
            tooltip: { value: 'warm-up (trimmed from the figures)' },
          },
        },
        ...(events.length === 0
          ? []
          : [
              {
                data: { values: events },
                mark: { type: 'rule' as const, color: '#c0392b', strokeDash: [4, 3] },
                encoding: {
                  x: { field: 'second', type: 'quantitative' as const },
                  tooltip: [{ field: 'what', title: 'fault event' }, { field: 'second' }, { field: 'cell' }],
                },
              },
            ]),
        {
          data: { values },
          mark: { type: 'line', point: true, interpolate: 'linear' },
          encoding: {
            x: {
              field: 'second',
              type: 'quantitative',
              title: 'second of the load',
              axis: { tickMinStep: 1, format: 'd' },
            },
            y: { field: 'ops', type: 'quantitative', title: 'commands completed per second' },
            color: { field: 'line', type: 'nominal', title: null },
            detail: { field: 'cell', type: 'nominal' },
            tooltip: [
              { field: 'line', title: 'series' },
              { field: 'second' },
              { field: 'ops' },
              { field: 'source' },
            ],
          },
        },
      ],
    },
    '',
  )
}
