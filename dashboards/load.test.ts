import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import {
  listRunDirs,
  loadResults,
  loadRun,
  parseTimeline,
  ResultsLoadError,
  timelineFromHistory,
} from './load.ts'
import { writeFixtureRun } from './testdata/fixture.ts'

const root = mkdtempSync(join(tmpdir(), 'dash-load-'))
after(() => rmSync(root, { recursive: true, force: true }))

describe('loadRun', () => {
  test('reads every field of a full run, including the ones other parts add', () => {
    const dir = writeFixtureRun(root)
    const model = loadRun(dir)
    assert.equal(model.runs.length, 1)
    assert.equal(model.cells.length, 6)
    const cell = model.cells.find((c) => c.engine === 'multipaxos' && c.conflict === 0.5)
    assert.ok(cell)
    assert.equal(cell.topology, 'epaxos-3')
    assert.ok(cell.achievedConflict !== null && Math.abs(cell.achievedConflict - 0.46) < 1e-9)
    assert.equal(cell.bottleneckNode, 'r0')
    assert.deepEqual(
      cell.nodes.map((n) => n.node),
      ['r0', 'r1', 'r2'],
    )
    assert.equal(cell.nodes[0]?.msgsPerOp, 8)
    assert.equal(cell.sites.find((s) => s.site === 'EU')?.expectedLatencyMs, 235)
    assert.equal(cell.timeline?.source, 'timeline')
    assert.equal(cell.timeline?.points.length, 5)
    assert.equal(cell.timeline?.points[2]?.ops, 40)
    // the HDR distribution is increasing and ends near the recorded tail (x3 outliers)
    const d = cell.distribution ?? []
    assert.ok(d.length > 20)
    for (let i = 1; i < d.length; i++) assert.ok(d[i]!.latencyUs >= d[i - 1]!.latencyUs)
    assert.ok(d[0]!.latencyUs >= 85_000 && d[0]!.latencyUs < 100_000)
    const env = model.runs[0]?.env
    assert.equal(env?.shaper, 'relay')
    assert.equal(env?.calibration?.links.length, 6)
    assert.equal(env?.calibration?.links.filter((l) => !l.withinTolerance).length, 1)
    // series carry only the engine: topology, replicas and clients are the same everywhere
    assert.deepEqual([...new Set(model.cells.map((c) => c.series))].sort(), ['epaxos', 'multipaxos'])
  })

  test('a minimal run loads with the optional fields null, not as an error', () => {
    const dir = writeFixtureRun(root, { minimal: true, engines: ['multipaxos'], conflicts: [0.1] })
    const model = loadRun(dir)
    const cell = model.cells[0]
    assert.ok(cell)
    assert.equal(cell.achievedConflict, null)
    assert.equal(cell.bottleneckNode, null)
    assert.deepEqual(cell.nodes, [])
    assert.equal(cell.timeline, null)
    assert.equal(cell.sites[0]?.expectedLatencyMs, null)
    assert.equal(model.runs[0]?.env?.calibration, null)
  })

  test('two variants of one engine are two series; cells without a variant are labelled as before', () => {
    const dir = writeFixtureRun(join(root, 'variants'), {
      engines: ['multipaxos', { engine: 'multipaxos', variant: 'multipaxos-batching' }],
      conflicts: [0, 0.5],
    })
    const model = loadRun(dir)
    const byId = new Map(model.cells.map((c) => [c.id, c]))
    const plain = byId.get('multipaxos-epaxos-3-c0-rep1')
    const batching = byId.get('multipaxos-batching-epaxos-3-c0-rep1')
    assert.ok(plain && batching)
    assert.equal(batching.engine, 'multipaxos')
    assert.equal(batching.variant, 'multipaxos-batching')
    assert.equal(batching.label, 'multipaxos-batching')
    assert.equal(batching.series, 'multipaxos-batching')
    // the cell without a variant: engine, label and series are the engine, exactly as before variants
    assert.equal(plain.variant, null)
    assert.equal(plain.label, 'multipaxos')
    assert.equal(plain.series, 'multipaxos')
    assert.deepEqual([...new Set(model.cells.map((c) => c.series))], ['multipaxos', 'multipaxos-batching'])
    // a variant label that does not name its engine keeps the engine in front
    const file = join(dir, 'summary.json')
    const summary = JSON.parse(readFileSync(file, 'utf8')) as { cells: Record<string, unknown>[] }
    for (const c of summary.cells) if (c.variant !== undefined) c.variant = 'batching'
    writeFileSync(file, JSON.stringify(summary))
    assert.deepEqual(
      [...new Set(loadRun(dir).cells.map((c) => c.series))],
      ['multipaxos', 'multipaxos/batching'],
    )
  })

  test('series labels name what differs between runs', () => {
    const a = writeFixtureRun(join(root, 'series'), { engines: ['raft'], conflicts: [0], runId: 'a' })
    const b = writeFixtureRun(join(root, 'series'), { engines: ['raft'], conflicts: [0], runId: 'b' })
    const summary = join(b, 'summary.json')
    const text = (JSON.parse(readFileSync(summary, 'utf8')) as { cells: { clientsPerSite: number }[] }).cells
    text[0]!.clientsPerSite = 20
    writeFileSync(summary, JSON.stringify({ status: 'complete', runId: 'b', cells: text }))
    const model = loadResults([a, b])
    assert.deepEqual(
      model.cells.map((c) => c.series),
      ['raft 10 cl/site', 'raft 20 cl/site'],
    )
    assert.deepEqual(listRunDirs(join(root, 'series')), [b, a])
  })

  test('reference cells (external systems) are marked, labelled and their rows read from summary.json', () => {
    const dir = writeFixtureRun(join(root, 'refs'), {
      engines: ['raft'],
      conflicts: [0],
      references: 'summary',
    })
    const model = loadRun(dir)
    const etcd = model.cells.find((c) => c.engine === 'etcd')
    const raft = model.cells.find((c) => c.engine === 'raft')
    assert.ok(etcd && raft)
    assert.equal(etcd.reference?.kind, 'external')
    assert.equal(etcd.reference?.model, 'raft')
    assert.match(
      etcd.reference?.source ?? '',
      /^external system run beside the engines \(harness\/external\/\), held to raft's expected latency$/,
    )
    assert.equal(raft.reference, null)
    assert.deepEqual(
      model.cells.map((c) => c.series),
      ['raft', 'etcd (reference)'],
    )
    const rows = model.runs[0]?.references ?? []
    assert.equal(rows.length, 1)
    const row = rows[0]!
    assert.equal(row.from, 'summary')
    assert.equal(row.engine, 'etcd')
    assert.deepEqual(row.cells, [etcd.id])
    assert.deepEqual(row.linearizable, { yes: 1, of: 1 })
    assert.equal(row.vsModel?.engine, 'raft')
    assert.equal(row.throughputOpsPerSec, etcd.throughputOpsPerSec)
    assert.equal(row.p99Ms, etcd.latencyUs.p99 / 1000)
    // the fixture's workload issues gets and puts: both medians are figures
    assert.ok((row.p50MsByOp?.get ?? 0) > 0 && (row.p50MsByOp?.put ?? 0) > 0)
    // a run without external cells has no reference rows
    assert.deepEqual(loadRun(writeFixtureRun(join(root, 'norefs'))).runs[0]?.references, [])
  })

  test('an interrupted run (no summary.references): the rows are computed from the external cells', () => {
    const written = loadRun(
      writeFixtureRun(join(root, 'refs-a'), { engines: ['raft'], references: 'summary' }),
    )
    const dir = writeFixtureRun(join(root, 'refs-b'), { engines: ['raft'], references: 'cells' })
    const computed = loadRun(dir).runs[0]!
    assert.equal(computed.status, 'incomplete')
    assert.equal(computed.references.length, 3)
    assert.ok(computed.references.every((r) => r.from === 'cells'))
    // the same figures the run itself would have written at its end
    assert.deepEqual(
      computed.references.map((r) => ({ ...r, from: 'summary' })),
      written.runs[0]!.references,
    )
    // an external cell the rows cannot be computed from: a loading note, not an error
    const file = join(dir, 'summary.json')
    const summary = JSON.parse(readFileSync(file, 'utf8')) as { cells: Record<string, unknown>[] }
    for (const c of summary.cells) if (c.engine === 'etcd') delete c.latencyUsByOp
    writeFileSync(file, JSON.stringify(summary))
    const broken = loadRun(dir).runs[0]!
    assert.deepEqual(broken.references, [])
    assert.ok(broken.problems.some((p) => p.includes('cannot compute the reference rows')))
  })

  test('a reference row of a write-only workload has no get median: null, not 0 ms (also from old runs)', () => {
    const dir = writeFixtureRun(join(root, 'refs-writes'), {
      engines: ['raft'],
      conflicts: [0],
      references: 'summary',
      readRatio: 0,
    })
    const row = loadRun(dir).runs[0]!.references[0]!
    assert.equal(row.p50MsByOp?.get, null)
    assert.ok((row.p50MsByOp?.put ?? 0) > 0)
    // a run written while the field was 0 for an op with no commands reads the same
    const file = join(dir, 'summary.json')
    const summary = JSON.parse(readFileSync(file, 'utf8')) as {
      references: { p50MsByOp: { get: number | null } }[]
    }
    summary.references[0]!.p50MsByOp.get = 0
    writeFileSync(file, JSON.stringify(summary))
    assert.equal(loadRun(dir).runs[0]!.references[0]!.p50MsByOp?.get, null)
  })

  test('no summary.json: an error naming the file and the fix', () => {
    const empty = join(root, 'empty')
    mkdirSync(empty)
    assert.throws(
      () => loadRun(empty),
      (err: unknown) =>
        err instanceof ResultsLoadError &&
        err.file === join(empty, 'summary.json') &&
        /consensus-bench run/.test(err.fix),
    )
    writeFileSync(join(empty, 'summary.json'), '{"cells": 3}')
    assert.throws(() => loadRun(empty), /no `cells` array/)
  })
})

describe('timelines', () => {
  test('parseTimeline reads JSON lines and arrays with any of the count names, skips bad rows', () => {
    assert.deepEqual(parseTimeline('{"second":1,"completed":5}\n{"second":0,"completed":3}\n{"x":1}\n'), [
      { second: 0, ops: 3 },
      { second: 1, ops: 5 },
    ])
    assert.deepEqual(parseTimeline('[{"second":0,"ops":7},{"sec":1,"throughputOpsPerSec":9}]'), [
      { second: 0, ops: 7 },
      { second: 1, ops: 9 },
    ])
    assert.equal(parseTimeline(''), null)
    assert.equal(parseTimeline('[{"foo":1}]'), null)
  })

  test('timelineFromHistory counts ok load commands per second and keeps empty seconds as zeros', () => {
    const op = (client: string, completeUs: number | null, outcome = 'ok') =>
      JSON.stringify({ client, seq: 1, key: 'k', op: 'put', value: 'v', invokeUs: 0, completeUs, outcome })
    const text = [
      op('c0', 1_100_000),
      op('c0', 1_900_000),
      op('c1', 3_500_000),
      op('c1', 3_600_000, 'fail'),
      op('c1', null, 'unknown'),
      op('readback', 3_700_000),
      op('c2', 500_000), // before the load started
    ].join('\n')
    assert.deepEqual(timelineFromHistory(text, 1_000_000), [
      { second: 0, ops: 2 },
      { second: 1, ops: 0 },
      { second: 2, ops: 1 },
    ])
    // a 2 s load: the command completing at 2.5 s was in flight when the load stopped
    assert.deepEqual(timelineFromHistory(text, 1_000_000, 2000), [
      { second: 0, ops: 2 },
      { second: 1, ops: 0 },
    ])
  })
})
