import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import type { TopLevelSpec } from 'vega-lite'
import { loadRun } from '../load.ts'
import { renderSvg, svgToPng } from '../render.ts'
import { writeFixtureRun } from '../testdata/fixture.ts'
import { buildCharts, type Chart } from './index.ts'

const root = mkdtempSync(join(tmpdir(), 'dash-specs-'))
after(() => rmSync(root, { recursive: true, force: true }))

const EXPECTED = [
  'latency-distribution',
  'latency-by-site',
  'latency-vs-conflict',
  'throughput-vs-latency',
  'throughput-timeline',
  'unavailability',
  'node-cost',
  'measured-vs-expected',
  'calibration',
]

function dataOf(chart: Chart): Record<string, unknown>[] {
  assert.equal(chart.kind, 'chart', `${chart.name} should have data`)
  const spec = (chart as { spec: TopLevelSpec }).spec as {
    data?: { values?: Record<string, unknown>[] }
    layer?: { data?: { values?: Record<string, unknown>[] } }[]
  }
  // the main data of a layered spec is its largest layer (the others are guides: a band, a diagonal)
  const sets = [spec.data?.values, ...(spec.layer ?? []).map((l) => l.data?.values)].filter(
    (v) => v !== undefined,
  )
  return sets.sort((a, b) => b.length - a.length)[0] ?? []
}

describe('chart specs', () => {
  const full = buildCharts(loadRun(writeFixtureRun(root)))
  const byName = new Map(full.map((c) => [c.name, c]))

  test('a full run gives every chart, each rendering to an SVG with marks and a PNG', async () => {
    assert.deepEqual(
      full.map((c) => c.name),
      EXPECTED,
    )
    for (const c of full) {
      assert.equal(c.kind, 'chart', `${c.name}: ${c.kind === 'no-data' ? c.reason : ''}`)
      if (c.kind !== 'chart') continue
      const svg = await renderSvg(c.spec)
      assert.match(svg, /^<svg/, c.name)
      assert.match(svg, /role-mark/, `${c.name} has marks`)
      const png = await svgToPng(svg)
      assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47], `${c.name} PNG signature`)
      assert.ok(png.length > 5000, `${c.name} PNG is not blank (${png.length} bytes)`)
    }
  })

  test('the figures in the charts are the run’s figures', () => {
    const ratio = dataOf(byName.get('measured-vs-expected')!)
    // without conflicts the fixture's medians sit a few ms above the expected latency: ratios just above 1;
    // epaxos at c=1 takes twice its conflict-free bound
    for (const r of ratio.filter((r) => String(r.line).endsWith('c=0')))
      assert.ok((r.ratio as number) >= 1 && (r.ratio as number) < 1.2, JSON.stringify(r))
    const epaxosFull = ratio.filter((r) => r.line === 'epaxos c=1')
    assert.equal(epaxosFull.length, 3)
    for (const r of epaxosFull)
      assert.ok((r.ratio as number) > 1.9 && (r.ratio as number) < 2.4, JSON.stringify(r))
    const calibration = dataOf(byName.get('calibration')!)
    assert.equal(calibration.length, 6)
    assert.deepEqual(
      calibration.filter((l) => l.result === 'off target').map((l) => l.link),
      ['EU → CA'],
    )
    const cost = dataOf(byName.get('node-cost')!)
    const bottlenecks = cost.filter((r) => r.bottleneck === true)
    assert.ok(
      bottlenecks.length > 0 &&
        bottlenecks.every((r) => r.node === 'r0' && String(r.line).startsWith('multipaxos')),
    )
    const timeline = dataOf(byName.get('throughput-timeline')!)
    assert.ok(timeline.some((r) => r.second === 2 && r.ops === 40 && String(r.line).startsWith('multipaxos')))
    // the fault: two rules on the timeline at 2.5 s and 3.5 s of the load, and a bar per site
    const rules = (
      byName.get('throughput-timeline') as {
        spec: { layer: { mark: { type?: string } | string; data?: { values: Record<string, unknown>[] } }[] }
      }
    ).spec.layer.find((l) => typeof l.mark === 'object' && l.mark.type === 'rule')
    assert.deepEqual(
      rules?.data?.values.map((v) => [v.second, v.what]),
      [
        [2.5, 'kill -9 r0'],
        [3.5, 'restart r0'],
      ],
    )
    const bars = dataOf(byName.get('unavailability')!)
    assert.deepEqual(
      bars.map((b) => [String(b.row).split(' · ')[1], b.from, b.to, b.recoveryMs]),
      [
        ['CA', 2.5, 3.32, 820],
        ['VA', 2.5, 3.2, 700],
        ['EU', 2.5, 5, null],
      ],
      'EU never committed again: its bar runs to the end of the load (5 s in the fixture)',
    )
    const conflict = dataOf(byName.get('latency-vs-conflict')!)
    assert.deepEqual([...new Set(conflict.map((r) => r.conflict))].sort(), [0, 0.5, 1])
    // epaxos's medians grow with conflict in the fixture; the chart must carry that
    const epaxosMedian = (c: number) =>
      conflict.find((r) => r.series === 'epaxos' && r.conflict === c && r.stat === 'median')
        ?.latencyMs as number
    assert.ok(epaxosMedian(1) > epaxosMedian(0) * 1.5)
    const dist = dataOf(byName.get('latency-distribution')!)
    assert.ok(
      dist.some((r) => (r.nines as number) >= 2),
      'reaches p99',
    )
  })

  test('a run without reference rows: no chart encodes or notes a kind', () => {
    for (const c of full) {
      if (c.kind !== 'chart') continue
      const json = JSON.stringify(c.spec)
      assert.doesNotMatch(json, /"field":"kind"/, c.name)
      assert.doesNotMatch(json, /reference/, c.name)
    }
  })

  test('reference rows (etcd beside raft) are drawn apart, labelled, with their source', async () => {
    const charts = buildCharts(
      loadRun(
        writeFixtureRun(join(root, 'refs'), { engines: ['raft'], conflicts: [0, 1], references: 'summary' }),
      ),
    )
    const of = (name: string) => charts.find((c) => c.name === name)!
    const specOf = (name: string) => (of(name) as unknown as { spec: Record<string, unknown> }).spec
    for (const c of charts) {
      if (c.kind !== 'chart') continue
      const svg = await renderSvg(c.spec)
      assert.match(svg, /role-mark/, `${c.name} has marks`)
    }
    // every datum of the comparing charts says its kind; etcd's are references with their source
    for (const name of [
      'latency-by-site',
      'latency-vs-conflict',
      'throughput-vs-latency',
      'measured-vs-expected',
    ]) {
      const data = dataOf(of(name))
      const kinds = (series: string) =>
        new Set(data.filter((d) => String(d.line ?? d.series).startsWith(series)).map((d) => d.kind))
      assert.deepEqual([...kinds('etcd (reference)')], ['reference'], name)
      assert.deepEqual([...kinds('raft')], ['engine'], name)
      for (const d of data.filter((d) => d.kind === 'reference'))
        assert.match(String(d.source), /external system run beside the engines/, name)
      // the chart says what the reference marks are
      assert.match(JSON.stringify(specOf(name).title), /reference rows, not our engines/, name)
    }
    // bars: references faint (opacity by kind, with a legend) and outlined dashed
    for (const name of ['latency-by-site', 'measured-vs-expected']) {
      const json = JSON.stringify(specOf(name))
      assert.match(json, /"opacity":\{"field":"kind","type":"ordinal".*"range":\[1,0\.4\]/, name)
      assert.match(
        json,
        /"strokeWidth":\{"condition":\{"test":"datum\.kind === 'reference'","value":1\.5\}/,
        name,
      )
    }
    // points: engines filled, references in a layer of their own, hollow
    for (const name of ['latency-vs-conflict', 'throughput-vs-latency']) {
      const layers = specOf(name).layer as { transform?: { filter: string }[]; mark: { filled?: boolean } }[]
      const refLayer = layers.find((l) => l.transform?.[0]?.filter === "datum.kind === 'reference'")
      const engineLayer = layers.find((l) => l.transform?.[0]?.filter === "!(datum.kind === 'reference')")
      assert.equal(refLayer?.mark.filled, false, name)
      assert.equal(engineLayer?.mark.filled, true, name)
    }
    // distribution lines: dashed for references
    assert.match(JSON.stringify(specOf('latency-distribution')), /"strokeDash":\{"field":"kind"/)
  })

  test('two variants of one engine are two series in every chart, legend and tooltip', async () => {
    const charts = buildCharts(
      loadRun(
        writeFixtureRun(join(root, 'variants'), {
          engines: ['multipaxos', { engine: 'multipaxos', variant: 'multipaxos-batching' }],
          conflicts: [0, 0.5],
        }),
      ),
    )
    for (const c of charts) {
      if (c.name === 'calibration') continue // links, not cells
      // the series-like field of each chart: `series`, `line`, or the unavailability chart's `row`
      const labelsByVariant = new Map<boolean, Set<string>>([
        [false, new Set()],
        [true, new Set()],
      ])
      for (const d of dataOf(c)) {
        const label = String(d.series ?? d.line ?? d.row)
        // a datum of one cell is classed by its cell; an aggregate one (bars of a site) by its label, then
        // it must still show both
        const batching =
          d.cell === undefined
            ? label.startsWith('multipaxos-batching')
            : String(d.cell).includes('/multipaxos-batching-')
        labelsByVariant.get(batching)!.add(label)
      }
      const plain = [...labelsByVariant.get(false)!]
      const batching = [...labelsByVariant.get(true)!]
      assert.ok(plain.length > 0 && batching.length > 0, `${c.name} has both configurations`)
      assert.ok(
        batching.every((l) => l.startsWith('multipaxos-batching')),
        `${c.name}: ${batching.join(', ')}`,
      )
      // no line, bar or legend entry holds cells of both configurations
      for (const l of plain) assert.ok(!batching.includes(l), `${c.name}: '${l}' mixes the two`)
      // tooltips name the series
      assert.match(
        JSON.stringify(c.kind === 'chart' ? c.spec : null),
        /"tooltip":\[[^\]]*"field":"(series|line|row)"/,
        c.name,
      )
    }
    // the legend of the throughput chart shows both
    const tvl = charts.find((c) => c.name === 'throughput-vs-latency')!
    assert.equal(tvl.kind, 'chart')
    const svg = await renderSvg((tvl as { spec: TopLevelSpec }).spec)
    assert.match(svg, />multipaxos-batching</)
    assert.match(svg, />multipaxos</)
  })

  test('a minimal run: the charts that need newer fields say why there is no data', () => {
    const charts = buildCharts(loadRun(writeFixtureRun(root, { minimal: true, conflicts: [0.1] })))
    const reasons = Object.fromEntries(
      charts.filter((c) => c.kind === 'no-data').map((c) => [c.name, c.reason]),
    )
    assert.deepEqual(Object.keys(reasons).sort(), [
      'calibration',
      'measured-vs-expected',
      'node-cost',
      'throughput-timeline',
      'unavailability',
    ])
    assert.match(reasons.calibration!, /shaper: none/)
    assert.match(reasons['measured-vs-expected']!, /expectedLatencyMs/)
    assert.match(reasons['node-cost']!, /nodes/)
    // the charts that need only summary.json and the hlog still draw
    assert.equal(charts.find((c) => c.name === 'latency-distribution')?.kind, 'chart')
  })
})
