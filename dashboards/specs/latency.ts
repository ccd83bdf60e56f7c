/** Latency charts: the HDR percentile distribution, median and p99 per site, latency against conflict. */
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
  noteTitle,
  pointLayers,
  REFERENCE_KINDS,
  referenceBarEncoding,
  referenceBarMark,
  referenceFields,
  referenceNote,
  referenceTitle,
  statUs,
  WIDTH,
} from './common.ts'

/**
 * Latency by percentile from each cell's latency.hlog (every site and op merged). The x axis is in
 * "nines" (1 = 90%, 2 = 99%, 3 = 99.9%) so the tail gets as much room as the body, as in HdrHistogram's
 * own plots. Repetitions are separate lines of one colour: their spread is the run-to-run noise.
 */
export function latencyDistribution(model: ResultsModel): Chart {
  const values = model.cells.flatMap((c) =>
    (c.distribution ?? []).map((p) => ({
      line: lineLabel(c, model.cells),
      cell: cellKey(c),
      kind: referenceFields(c).kind,
      nines: -Math.log10(1 - p.percentile / 100),
      percentile: Math.round(p.percentile * 1000) / 1000,
      latencyMs: ms(p.latencyUs),
    })),
  )
  const info = {
    name: 'latency-distribution',
    title: 'Latency by percentile (HDR)',
    question: 'How is latency distributed per engine, and how heavy is the tail?',
  }
  if (values.length === 0) return chart(info, null, 'no cell has a readable latency.hlog')
  const refs = hasReferences(model.cells)
  return chart(
    info,
    {
      width: WIDTH,
      height: HEIGHT,
      ...referenceTitle(refs, 'dashed lines'),
      data: { values },
      mark: { type: 'line', interpolate: 'step-after', point: false },
      encoding: {
        x: {
          field: 'nines',
          type: 'quantitative',
          title: 'percentile',
          axis: {
            values: [0, 1, 2, 3, 4, 5],
            labelExpr: "['0%','90%','99%','99.9%','99.99%','99.999%'][datum.value]",
          },
        },
        y: { field: 'latencyMs', type: 'quantitative', title: 'latency (ms)', scale: { type: 'log' } },
        color: { field: 'line', type: 'nominal', title: null },
        detail: { field: 'cell', type: 'nominal' },
        ...(refs
          ? {
              strokeDash: {
                field: 'kind',
                type: 'nominal',
                title: null,
                scale: {
                  domain: [...REFERENCE_KINDS],
                  range: [
                    [1, 0],
                    [6, 3],
                  ],
                },
              },
            }
          : {}),
        tooltip: [
          { field: 'line', title: 'series' },
          { field: 'percentile', title: 'percentile' },
          { field: 'latencyMs', title: 'latency ms' },
          { field: 'cell' },
        ],
      },
    },
    '',
  )
}

/** Median and p99 per site; bars of a site side by side per series, the median of repetitions. */
export function latencyBySite(model: ResultsModel): Chart {
  const values = model.cells.flatMap((c) =>
    c.sites.flatMap((s) =>
      LATENCY_STATS.map((stat) => ({
        line: lineLabel(c, model.cells),
        site: s.site,
        stat,
        latencyMs: ms(statUs(s.latencyUs, stat)),
        ...referenceFields(c),
      })),
    ),
  )
  const info = {
    name: 'latency-by-site',
    title: 'Median and p99 latency per site',
    question: 'Which sites wait longest, per engine (a leader far away shows here)?',
  }
  if (values.length === 0) return chart(info, null, 'no cell has per-site figures (summary.json `sites`)')
  const refs = hasReferences(model.cells)
  return chart(
    info,
    {
      ...referenceTitle(refs, 'faint bars with a dashed outline'),
      data: { values },
      facet: { column: { field: 'stat', type: 'nominal', title: null, sort: [...LATENCY_STATS] } },
      resolve: { scale: { y: 'independent' } },
      spec: {
        width: WIDTH / 2 - 20,
        height: HEIGHT,
        mark: { type: 'bar', ...(refs ? referenceBarMark : {}) },
        encoding: {
          x: { field: 'site', type: 'nominal', title: 'site', axis: { labelAngle: 0 } },
          xOffset: { field: 'line', type: 'nominal' },
          y: {
            aggregate: 'median',
            field: 'latencyMs',
            type: 'quantitative',
            title: 'latency (ms)',
            ...(refs ? { stack: null } : {}),
          },
          ...(refs ? referenceBarEncoding : {}),
          color: { field: 'line', type: 'nominal', title: null },
          tooltip: [
            { field: 'line', title: 'series' },
            { field: 'site' },
            { field: 'stat' },
            { aggregate: 'median', field: 'latencyMs', title: 'latency ms (median of repetitions)' },
            ...(refs ? [{ field: 'kind' }, { field: 'source' }] : []),
          ],
        },
      },
    },
    '',
  )
}

/**
 * Latency against the configured conflict rate: a point per cell, a line through the median of each
 * conflict rate; median solid, p99 dashed. The achieved conflict is in the tooltip.
 */
export function latencyVsConflict(model: ResultsModel): Chart {
  const values = model.cells.flatMap((c) =>
    LATENCY_STATS.map((stat) => ({
      series: c.series,
      stat,
      conflict: c.conflict,
      achievedConflict: c.achievedConflict,
      latencyMs: ms(statUs(c.latencyUs, stat)),
      cell: cellKey(c),
      ...referenceFields(c),
    })),
  )
  const info = {
    name: 'latency-vs-conflict',
    title: 'Latency against conflict rate',
    question: 'How does latency grow as more commands touch the same keys?',
  }
  if (values.length === 0) return chart(info, null, 'no cells in the results')
  const conflicts = new Set(model.cells.map((c) => c.conflict))
  const refs = hasReferences(model.cells)
  const notes = [
    ...(conflicts.size === 1 ? [`one conflict rate measured (c=${[...conflicts][0]})`] : []),
    ...(refs ? referenceNote('hollow points') : []),
  ]
  const encoding = {
    x: {
      field: 'conflict',
      type: 'quantitative',
      title: 'conflict rate (configured)',
      scale: { domain: [0, 1] as number[] },
    },
    y: { field: 'latencyMs', type: 'quantitative', title: 'latency (ms)' },
    color: { field: 'series', type: 'nominal', title: null },
    strokeDash: { field: 'stat', type: 'nominal', title: 'statistic', sort: [...LATENCY_STATS] },
  } as const
  return chart(
    info,
    {
      width: WIDTH,
      height: HEIGHT,
      ...(notes.length > 0 ? noteTitle(notes) : {}),
      data: { values },
      layer: [
        {
          mark: { type: 'line' },
          encoding: { ...encoding, y: { ...encoding.y, aggregate: 'median' } },
        },
        ...pointLayers(
          { type: 'point', filled: true },
          {
            x: encoding.x,
            y: encoding.y,
            color: encoding.color,
            shape: { field: 'stat', type: 'nominal', title: 'statistic', sort: [...LATENCY_STATS] },
            tooltip: [
              { field: 'series' },
              { field: 'stat' },
              { field: 'conflict', title: 'conflict (configured)' },
              { field: 'achievedConflict', title: 'conflict (achieved)' },
              { field: 'latencyMs', title: 'latency ms' },
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
