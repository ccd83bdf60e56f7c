/** Per-node cost, link calibration, and measured against expected latency. */
import type { ResultsModel } from '../model.ts'
import {
  type Chart,
  cellKey,
  chart,
  HEIGHT,
  hasReferences,
  lineLabel,
  ms,
  referenceBarEncoding,
  referenceBarMark,
  referenceFields,
  referenceTitle,
  WIDTH,
} from './common.ts'

const NODE_METRICS = [
  { key: 'msgsPerOp', title: 'messages per op' },
  { key: 'bytesPerOp', title: 'bytes per op' },
  { key: 'cpuUsPerOp', title: 'CPU µs per op' },
] as const

/** Messages, bytes and CPU per committed command for each replica; the bottleneck node is outlined. */
export function nodeCost(model: ResultsModel): Chart {
  const cells = model.cells.filter((c) => c.nodes.length > 0)
  const repeated = new Set(cells.map((c) => c.repetition)).size > 1
  const values = cells.flatMap((c) =>
    c.nodes.flatMap((n) =>
      NODE_METRICS.flatMap((m) => {
        const value = n[m.key]
        if (value === null) return []
        return [
          {
            line: lineLabel(c, model.cells) + (repeated ? ` rep${c.repetition}` : ''),
            node: n.node,
            metric: m.title,
            value,
            bottleneck: c.bottleneckNode === n.node,
            cell: cellKey(c),
          },
        ]
      }),
    ),
  )
  const info = {
    name: 'node-cost',
    title: 'Cost per node',
    question: 'Which node does the most work per command (the leader of a leader-based protocol)?',
  }
  if (values.length === 0)
    return chart(info, null, 'no cell has per-node cost (summary.json `nodes`; recorded from /metrics)')
  return chart(
    info,
    {
      data: { values },
      facet: {
        column: { field: 'metric', type: 'nominal', title: null, sort: NODE_METRICS.map((m) => m.title) },
      },
      resolve: { scale: { y: 'independent' } },
      spec: {
        width: WIDTH / 3 - 10,
        height: HEIGHT - 60,
        mark: { type: 'bar', stroke: 'black' },
        encoding: {
          x: { field: 'node', type: 'nominal', title: 'node', axis: { labelAngle: 0 } },
          xOffset: { field: 'line', type: 'nominal' },
          y: { field: 'value', type: 'quantitative', title: null },
          color: { field: 'line', type: 'nominal', title: null },
          strokeWidth: { condition: { test: 'datum.bottleneck', value: 2 }, value: 0 },
          tooltip: [
            { field: 'line', title: 'series' },
            { field: 'node' },
            { field: 'metric' },
            { field: 'value' },
            { field: 'bottleneck' },
            { field: 'cell' },
          ],
        },
      },
    },
    '',
  )
}

/**
 * Calibration from env.json: each link's measured median RTT against its target, p99 as a whisker.
 * Points on the grey diagonal are on target; orange points missed the tolerance.
 */
export function calibration(model: ResultsModel): Chart {
  const values = model.runs.flatMap((r) =>
    (r.env?.calibration?.links ?? []).map((l) => ({
      link: `${l.from} → ${l.to}`,
      run: r.runId,
      targetRttMs: l.targetRttMs,
      measuredRttMsP50: l.measuredRttMsP50,
      measuredRttMsP99: l.measuredRttMsP99 ?? l.measuredRttMsP50,
      errorMs: l.errorMs,
      result: l.withinTolerance ? 'within tolerance' : 'off target',
    })),
  )
  const info = {
    name: 'calibration',
    title: 'Link calibration: target against measured RTT',
    question: 'Did the emulated network give each link the RTT the topology asked for?',
  }
  if (values.length === 0) {
    const shapers = new Set(model.runs.map((r) => r.env?.shaper ?? 'unknown'))
    return chart(
      info,
      null,
      `no calibration in env.json (shaper: ${[...shapers].join(', ')}; links are calibrated only when shaped)`,
    )
  }
  const top = Math.max(...values.map((v) => Math.max(v.targetRttMs, v.measuredRttMsP99))) * 1.05
  const x = {
    field: 'targetRttMs',
    type: 'quantitative',
    title: 'target RTT (ms)',
    scale: { domain: [0, top] as number[] },
  } as const
  const y = {
    field: 'measuredRttMsP50',
    type: 'quantitative',
    title: 'measured RTT (ms)',
    scale: { domain: [0, top] as number[] },
  } as const
  return chart(
    info,
    {
      width: HEIGHT + 60,
      height: HEIGHT + 60,
      layer: [
        {
          data: { values: [{ a: 0 }, { a: top }] },
          mark: { type: 'line', color: '#bbb', strokeDash: [4, 4] },
          encoding: {
            x: { field: 'a', type: 'quantitative', scale: { domain: [0, top] as number[] } },
            y: { field: 'a', type: 'quantitative', scale: { domain: [0, top] as number[] } },
          },
        },
        {
          data: { values },
          mark: { type: 'rule' },
          encoding: { x, y, y2: { field: 'measuredRttMsP99' }, color: { field: 'result', type: 'nominal' } },
        },
        {
          data: { values },
          mark: { type: 'point', filled: true, size: 60 },
          encoding: {
            x,
            y,
            color: {
              field: 'result',
              type: 'nominal',
              title: null,
              scale: { domain: ['within tolerance', 'off target'], range: ['#4c78a8', '#f58518'] },
            },
            tooltip: [
              { field: 'link' },
              { field: 'targetRttMs', title: 'target ms' },
              { field: 'measuredRttMsP50', title: 'p50 ms' },
              { field: 'measuredRttMsP99', title: 'p99 ms' },
              { field: 'errorMs', title: 'error ms' },
              { field: 'result' },
              { field: 'run' },
            ],
          },
        },
      ],
    },
    '',
  )
}

/**
 * Measured median latency over the protocol's expected latency (engine expectedLatencyMs from the
 * topology's RTTs), per engine and site: 1 is the physical bound, above it is overhead.
 */
export function measuredOverExpected(model: ResultsModel): Chart {
  const values = model.cells.flatMap((c) =>
    c.sites.flatMap((s) => {
      if (s.expectedLatencyMs === null || s.expectedLatencyMs <= 0) return []
      const measuredMs = ms(s.latencyUs.p50)
      return [
        {
          line: lineLabel(c, model.cells),
          site: s.site,
          measuredMs,
          expectedMs: s.expectedLatencyMs,
          ratio: Math.round((measuredMs / s.expectedLatencyMs) * 1000) / 1000,
          cell: cellKey(c),
          ...referenceFields(c),
        },
      ]
    }),
  )
  const info = {
    name: 'measured-vs-expected',
    title: 'Measured / expected latency per site',
    question: 'How close does each engine come to its protocol’s latency bound on this topology?',
  }
  if (values.length === 0)
    return chart(
      info,
      null,
      'no site has an expected latency (summary.json `sites.<site>.expectedLatencyMs`; needs a topology)',
    )
  const refs = hasReferences(model.cells)
  return chart(
    info,
    {
      width: WIDTH,
      height: HEIGHT,
      ...referenceTitle(refs, 'faint bars with a dashed outline'),
      layer: [
        {
          data: { values },
          mark: { type: 'bar', ...(refs ? referenceBarMark : {}) },
          encoding: {
            x: { field: 'site', type: 'nominal', title: 'site', axis: { labelAngle: 0 } },
            xOffset: { field: 'line', type: 'nominal' },
            y: {
              aggregate: 'median',
              field: 'ratio',
              type: 'quantitative',
              title: 'median measured / expected',
              ...(refs ? { stack: null } : {}),
            },
            ...(refs ? referenceBarEncoding : {}),
            color: { field: 'line', type: 'nominal', title: null },
            tooltip: [
              { field: 'line', title: 'series' },
              { field: 'site' },
              { aggregate: 'median', field: 'ratio', title: 'ratio' },
              { aggregate: 'median', field: 'measuredMs', title: 'measured p50 ms' },
              { aggregate: 'median', field: 'expectedMs', title: 'expected ms' },
              ...(refs ? [{ field: 'kind' }, { field: 'source' }] : []),
            ],
          },
        },
        {
          data: { values: [{ one: 1 }] },
          mark: { type: 'rule', color: 'black', strokeDash: [4, 4] },
          encoding: { y: { field: 'one', type: 'quantitative' } },
        },
      ],
    },
    '',
  )
}
