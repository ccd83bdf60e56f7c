/**
 * End to end: real multipaxos replica processes (engines/host) on 127.0.0.x, the closed-loop driver,
 * the results directory and the checker, through the same runBenchmark call the CLI makes.
 */
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { readHlog } from '../workloads/latency.ts'
import { historyFromJsonl } from './check/history.ts'
import { tracked } from './launchers/cleanup.ts'
import type { CellSummary, RunSummary } from './results/summary.ts'
import { RunOptionError, resolveRunOptions, runBenchmark } from './run.ts'

const resultsRoot = mkdtempSync(join(tmpdir(), 'cb-run-test-'))
after(() => rmSync(resultsRoot, { recursive: true, force: true }))

function assertOrdered(l: CellSummary['latencyUs'], where: string): void {
  assert.ok(l.p50 > 0, `${where}: p50 > 0`)
  assert.ok(
    l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.p999 && l.p999 <= l.max,
    `${where}: ordered ${JSON.stringify(l)}`,
  )
}

/** summary.json against results/README.md: every documented field, nothing else, with its type. */
const SCHEDULED_FIELDS = ['atUs', 'description', 'endUs', 'events', 'kind']
const KILL_FIELDS = [
  'firstCommitAfterMs',
  'leaderBefore',
  'newLeader',
  'newLeaderAfterMs',
  'replica',
  'signal',
]
const AVAILABILITY_FIELDS = ['firstCommitAfterMs', 'opsFailed', 'opsUnknown', 'recoveryMsBySite']

function assertDocumentedShape(summary: RunSummary): void {
  const keys = (o: object) => Object.keys(o).sort()
  assert.deepEqual(keys(summary), ['cells', 'finishedAt', 'runId', 'startedAt', 'status'])
  assert.equal(typeof summary.finishedAt, 'string')
  const latencyKeys = ['max', 'mean', 'p50', 'p90', 'p99', 'p999']
  const isLatency = (l: object, where: string) => {
    assert.deepEqual(keys(l), latencyKeys, where)
    for (const v of Object.values(l)) assert.ok(Number.isInteger(v) && v >= 0, `${where}: ${v}`)
  }
  for (const cell of summary.cells) {
    assert.deepEqual(
      keys(cell),
      [
        'bottleneckNode',
        'achievedConflict',
        'arrivals',
        'check',
        'clientsPerSite',
        'driverSaturated',
        'drivers',
        'load',
        'workload',
        'conflict',
        'cooldownMs',
        'durationMs',
        'engine',
        'errors',
        'fastPath',
        'faults',
        'files',
        'id',
        'latencyUs',
        'latencyUsByOp',
        'loadStartUs',
        'lostWrites',
        'nodeCost',
        'nodes',
        'opsCompleted',
        'opsRecorded',
        'readBack',
        'readRatio',
        'replicas',
        'repetition',
        'sites',
        'slowPath',
        'state',
        'throughputOpsPerSec',
        'topology',
        'truncated',
        'warmupMs',
      ].sort(),
    )
    isLatency(cell.latencyUs, 'latencyUs')
    assert.deepEqual(keys(cell.latencyUsByOp), ['get', 'put'])
    isLatency(cell.latencyUsByOp.get, 'get')
    isLatency(cell.latencyUsByOp.put, 'put')
    for (const [name, site] of Object.entries(cell.sites)) {
      assert.deepEqual(keys(site), ['latencyUs', 'ops', 'throughputOpsPerSec'], name)
      isLatency(site.latencyUs, name)
    }
    assert.deepEqual(keys(cell.errors), [
      'connection',
      'failedOutcome',
      'http',
      'refused',
      'rejected',
      'timeout',
      'unknownOutcome',
      'unsent',
    ])
    for (const v of Object.values(cell.errors)) assert.ok(Number.isInteger(v))
    assert.deepEqual(keys(cell.readBack), ['keys', 'ok'])
    if (cell.nodeCost !== null) {
      assert.deepEqual(keys(cell.nodeCost), [
        'bottleneckBy',
        'idleWindowMs',
        'leaderAtStart',
        'missing',
        'missingReasons',
        'ops',
        'windowEndUs',
        'windowStartUs',
      ])
    }
    for (const [id, n] of Object.entries(cell.nodes)) {
      assert.deepEqual(
        keys(n),
        [
          'answeredAfterMs',
          'bytesPerOp',
          'cpuUsPerOp',
          'cpuUsPerOpAboveIdle',
          'fsyncsPerOp',
          'idleCpuUsPerSec',
          'msgsPerOp',
          'msgsReceivedPerOp',
          'msgsSentPerOp',
          'ops',
          'requests',
        ],
        id,
      )
    }
    assert.deepEqual(keys(cell.files), ['check', 'history', 'latency', 'replicas', 'timeline'])
    assert.ok(cell.achievedConflict >= 0 && cell.achievedConflict <= 1)
    assert.deepEqual(keys(cell.load), [
      'arrival',
      'clientSites',
      'clientsPerSite',
      'drivers',
      'maxOutstanding',
      'mode',
      'ops',
      'rateOpsPerSec',
      'thinkTimeMs',
    ])
    assert.deepEqual(keys(cell.workload), ['keyDistribution', 'valueSizeBytes'])
    if (cell.arrivals !== null)
      assert.deepEqual(keys(cell.arrivals), [
        'intended',
        'intendedInWindow',
        'intendedOpsPerSec',
        'sent',
        'sentLate',
        'sentOpsPerSec',
      ])
    assert.ok(cell.drivers.length >= 1)
    for (const d of cell.drivers)
      assert.deepEqual(keys(d), ['cpuUtilization', 'index', 'saturated', 'systemUs', 'userUs', 'wallUs'])
    assert.equal(
      cell.driverSaturated,
      cell.drivers.some((d) => d.saturated),
    )
    assert.ok(['linearizable', 'violation', 'unknown'].includes(cell.check.verdict))
    assert.ok(Number.isInteger(cell.check.elapsedMs))
    for (const n of [cell.loadStartUs, cell.opsCompleted, cell.opsRecorded]) assert.ok(Number.isInteger(n))
    assert.equal(typeof cell.throughputOpsPerSec, 'number')
    assert.deepEqual(keys(cell.lostWrites), ['examples', 'keysChecked', 'lost'])
    for (const f of cell.faults) {
      const expected =
        f.kind === 'replica-exit'
          ? ['atUs', 'exitCode', 'kind', 'replica', 'signal']
          : f.error !== undefined
            ? [...SCHEDULED_FIELDS, ...KILL_FIELDS, 'error'].sort()
            : [
                ...SCHEDULED_FIELDS,
                ...AVAILABILITY_FIELDS,
                ...(f.kind === 'kill' || f.kind === 'kill-leader'
                  ? KILL_FIELDS
                  : ['replicas', 'leaderBefore']),
              ]
                .filter((k, i, all) => all.indexOf(k) === i)
                .sort()
      assert.deepEqual(keys(f), expected, JSON.stringify(f))
    }
  }
}

function optionError(field: string, fix: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof RunOptionError, String(err))
    assert.equal(err.field, field)
    assert.match(err.fix, fix)
    return true
  }
}

test('run options: a killed replica must be one of the run; errors name the option and a concrete fix', () => {
  const base = { engine: 'multipaxos', replicas: 3, durationMs: 5000 }
  for (const replica of ['r3', 'r01']) {
    assert.throws(
      () => resolveRunOptions({ ...base, faults: [{ atMs: 1000, kind: 'kill', replica }] }),
      optionError('faults.0', /r0\.\.r2/),
      replica,
    )
  }
  assert.throws(
    () => resolveRunOptions({ ...base, faults: [{ atMs: 1000, kind: 'kill', replica: 'x' }] }),
    optionError('faults.0.replica', /kind: 'kill'/),
  )
  assert.throws(
    () => resolveRunOptions({ ...base, faults: [{ atMs: 1000, kind: 'partition', sides: [['r0']] }] }),
    optionError('faults.0', /topology/),
  )
  // compose topology runs take them too: the sidecars shape the replicas' links and take fault commands
  assert.equal(
    resolveRunOptions({
      ...base,
      launcher: 'compose',
      topology: 'epaxos-3',
      faults: [{ atMs: 1000, kind: 'partition', sides: [['r0']] }],
    }).faults.length,
    1,
  )
  assert.equal(
    resolveRunOptions({ ...base, faults: [{ atMs: 0, kind: 'kill', replica: 'r2' }] }).faults.length,
    1,
  )
  assert.throws(() => resolveRunOptions({ ...base, replicas: 0 }), optionError('replicas', /1 to 50/))
  assert.throws(() => resolveRunOptions({ ...base, seed: 1.5 }), optionError('seed', /integer/))
  assert.throws(() => resolveRunOptions({ ...base, readRatio: 2 }), optionError('readRatio', /\[0, 1\]/))
  assert.throws(
    () => resolveRunOptions({ ...base, durationMs: 1000, faults: [{ atMs: -1, kind: 'kill-leader' }] }),
    optionError('faults.0.atMs', /kind: 'kill-leader', atMs/),
  )
  assert.throws(
    () => resolveRunOptions({ ...base, durationMsec: 5 } as never),
    optionError('(options)', /remove it; the options are: .*durationMs/),
  )
})

test('run: multipaxos on 3 local replicas -> throughput, ordered percentiles, linearizable, results layout', async () => {
  const { dir, summary } = await runBenchmark({
    engine: 'multipaxos',
    replicas: 3,
    clientsPerSite: 3,
    conflict: 0.2,
    durationMs: 3000,
    warmupMs: 500,
    resultsRoot,
  })
  assert.equal(summary.status, 'complete')
  assert.deepEqual(JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')), summary)
  for (const f of ['run.json', 'env.json', 'summary.json']) assert.ok(existsSync(join(dir, f)), f)
  // the run ends with its report (dashboards/report.ts): the page, its bundles and the charts with data
  for (const f of ['report.html', 'report-assets/vega.min.js', 'charts/latency-distribution.svg'])
    assert.ok(existsSync(join(dir, f)), f)
  const env = JSON.parse(readFileSync(join(dir, 'env.json'), 'utf8'))
  assert.equal(env.launcher, 'local')
  assert.ok(env.cpuCount >= 1 && env.node.startsWith('v'))

  assert.equal(summary.cells.length, 1)
  const cell = summary.cells[0]!
  assert.equal(cell.engine, 'multipaxos')
  assert.equal(cell.topology, 'lan')
  assert.ok(cell.opsCompleted > 0 && cell.throughputOpsPerSec > 0, `throughput ${cell.throughputOpsPerSec}`)
  assertOrdered(cell.latencyUs, 'overall')
  assert.deepEqual(Object.keys(cell.sites).sort(), ['r0', 'r1', 'r2'])
  for (const [name, site] of Object.entries(cell.sites)) {
    assert.ok(site.ops > 0, `site ${name} completed commands`)
    assertOrdered(site.latencyUs, `site ${name}`)
  }
  assert.equal(
    Object.values(cell.sites).reduce((a, s) => a + s.ops, 0),
    cell.opsCompleted,
  )
  assert.equal(cell.check.verdict, 'linearizable')
  assert.deepEqual(cell.faults, [])
  assert.equal(cell.readBack.ok, cell.readBack.keys)

  const cellDir = join(dir, 'cells', cell.id)
  const history = historyFromJsonl(readFileSync(join(cellDir, 'history.jsonl'), 'utf8'))
  assert.equal(history.length, cell.opsRecorded)
  assert.equal(JSON.parse(readFileSync(join(cellDir, 'check.json'), 'utf8')).verdict, 'linearizable')
  const hlog = readHlog(readFileSync(join(cellDir, 'latency.hlog'), 'utf8'))
  assert.equal(
    [...hlog.values()].reduce((a, h) => a + h.totalCount, 0),
    cell.opsCompleted,
  )
  for (const r of ['r0', 'r1', 'r2']) assert.ok(existsSync(join(cellDir, 'replicas', `${r}.stderr.log`)), r)
  assert.deepEqual(tracked(), { pids: [], dirs: [] }, 'nothing left running')
})

test('run: SIGKILL of the leader mid-run -> a new leader in time, no acknowledged write lost, results kept', async () => {
  const engineConfig = { heartbeatIntervalMs: 50, leaderTimeoutMsMin: 300, leaderTimeoutMsMax: 600 }
  // detection takes at most leaderTimeoutMsMax; then one phase-1 round (an fsync on each side) on a shared
  // 2-core machine: allow it this much on top
  const electionRoundAllowanceMs = 600
  const { dir, summary } = await runBenchmark({
    engine: 'multipaxos',
    engineConfig,
    replicas: 3,
    clientsPerSite: 3,
    conflict: 0.2,
    durationMs: 4000,
    warmupMs: 500,
    faults: [{ atMs: 1500, kind: 'kill-leader' }],
    resultsRoot,
  })
  const saved = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as RunSummary
  assert.deepEqual(saved, summary)
  assert.equal(saved.status, 'complete')
  assertDocumentedShape(saved)
  const cell = saved.cells[0]!
  const fault = cell.faults.find((f) => f.kind === 'kill-leader')
  assert.ok(fault !== undefined && fault.kind === 'kill-leader', JSON.stringify(cell.faults))
  process.stderr.write(`kill-leader fault: ${JSON.stringify(fault)}\n`)
  assert.equal(fault.error, undefined)
  assert.equal(fault.replica, fault.leaderBefore)
  assert.ok(fault.newLeader !== null && fault.newLeader !== fault.replica, `new leader ${fault.newLeader}`)
  assert.ok(
    fault.newLeaderAfterMs !== null &&
      fault.newLeaderAfterMs <= engineConfig.leaderTimeoutMsMax + electionRoundAllowanceMs,
    `takeover took ${fault.newLeaderAfterMs} ms`,
  )
  assert.ok(
    fault.firstCommitAfterMs !== null &&
      fault.firstCommitAfterMs <= engineConfig.leaderTimeoutMsMax + 2 * electionRoundAllowanceMs,
    `first commit after ${fault.firstCommitAfterMs} ms`,
  )
  assert.deepEqual(
    cell.faults.filter((f) => f.kind === 'replica-exit'),
    [],
    'the only exit was the kill',
  )

  // no acknowledged write lost: the checker over the whole history (with the read-back), and directly:
  // every private key reads back its last acknowledged put, or a later put whose outcome is unknown
  assert.equal(cell.check.verdict, 'linearizable')
  assert.equal(cell.readBack.ok, cell.readBack.keys)
  const history = historyFromJsonl(readFileSync(join(dir, cell.files.history), 'utf8'))
  const readBack = new Map(history.filter((op) => op.client === 'readback').map((op) => [op.key, op.value]))
  let checkedKeys = 0
  for (const key of readBack.keys()) {
    if (key.startsWith('shared-')) continue
    const puts = history
      .filter((op) => op.key === key && op.op === 'put' && op.client !== 'readback')
      .sort((a, b) => a.seq - b.seq)
    const lastAcked = puts.filter((op) => op.outcome === 'ok').at(-1)
    if (lastAcked === undefined) continue
    const allowed = new Set([
      lastAcked.value,
      ...puts.filter((op) => op.seq > lastAcked.seq && op.outcome === 'unknown').map((op) => op.value),
    ])
    assert.ok(
      allowed.has(readBack.get(key) ?? null),
      `${key}: read back ${readBack.get(key)}, last acknowledged ${lastAcked.value}`,
    )
    checkedKeys++
  }
  assert.ok(checkedKeys > 10, `checked ${checkedKeys} keys`)
  assert.ok(cell.opsCompleted > 0)
  // results kept: the killed replica's log is there
  assert.ok(existsSync(join(dir, cell.files.replicas, `${fault.replica}.stderr.log`)))
  assert.deepEqual(tracked(), { pids: [], dirs: [] }, 'nothing left running')
})

test('run: a replica that dies by itself is recorded as a fault and the run keeps its results', async () => {
  process.env.FAKE_HOST_EXIT_AFTER_MS = 'r2:1500'
  try {
    const { dir, summary } = await runBenchmark({
      engine: 'fake',
      hostEntry: 'harness/launchers/testdata/fake-host.ts',
      replicas: 3,
      clientsPerSite: 2,
      durationMs: 2500,
      warmupMs: 200,
      storage: 'memory',
      resultsRoot,
    })
    assert.equal(summary.status, 'complete')
    const cell = summary.cells[0]!
    assertDocumentedShape(summary)
    const exit = cell.faults.find((f) => f.kind === 'replica-exit')
    assert.ok(exit !== undefined && exit.kind === 'replica-exit', JSON.stringify(cell.faults))
    assert.equal(exit.replica, 'r2')
    assert.equal(exit.exitCode, 7)
    assert.ok(exit.atUs >= cell.loadStartUs, 'it died during the load')
    const history = historyFromJsonl(readFileSync(join(dir, cell.files.history), 'utf8'))
    const after = history.filter(
      (op) => op.client.startsWith('r2-') && op.outcome === 'ok' && op.invokeUs > exit.atUs,
    )
    assert.ok(after.length > 0, 'r2 clients moved on to other replicas')
    assert.equal(cell.check.verdict, 'linearizable')
  } finally {
    delete process.env.FAKE_HOST_EXIT_AFTER_MS
  }
})

test('run: a fault due after the load ended (maxOps) is recorded as not injected; the read-back runs unfaulted', async () => {
  // maxOps stops the load long before the fault: the only commands after the kill are the read-back's
  const { summary } = await runBenchmark({
    engine: 'fake',
    hostEntry: 'harness/launchers/testdata/fake-host.ts',
    replicas: 3,
    clientsPerSite: 1,
    durationMs: 1500,
    warmupMs: 0,
    maxOps: 20,
    storage: 'memory',
    faults: [{ atMs: 800, kind: 'kill', replica: 'r2' }],
    resultsRoot,
  })
  const cell = summary.cells[0]!
  assert.equal(cell.truncated, true)
  assert.ok(cell.readBack.ok > 0, 'the read-back completed after the kill')
  // the load ended (maxOps) before the kill was due: it is recorded, not injected into the read-back
  const kill = cell.faults.find((f) => f.kind === 'kill')
  assert.ok(kill !== undefined && kill.kind === 'kill', JSON.stringify(cell.faults))
  assert.match(kill.error ?? '', /the load ended before its time/)
  assert.equal(kill.firstCommitAfterMs, null)
  assert.deepEqual(kill.events, [])
})

test('run: with no replica answering, the read-back gives up after a few keys instead of timing out on every one', async () => {
  // r0 holds the fake's only map and stops answering mid-run: every key would time out at every replica
  process.env.FAKE_HOST_STOP_AFTER_MS = 'r0:400'
  try {
    const requestTimeoutMs = 100
    const { dir, summary } = await runBenchmark({
      engine: 'fake',
      hostEntry: 'harness/launchers/testdata/fake-host.ts',
      replicas: 2,
      clientsPerSite: 2,
      durationMs: 1000,
      warmupMs: 0,
      requestTimeoutMs,
      maxAttempts: 2,
      storage: 'memory',
      resultsRoot,
    })
    const cell = summary.cells[0]!
    const history = historyFromJsonl(readFileSync(join(dir, cell.files.history), 'utf8'))
    const touched = new Set(history.filter((op) => op.client !== 'readback').map((op) => op.key)).size
    // A count, not a duration: replica start-up time on a loaded machine would swamp a timing bound.
    // The read-back stops after 3 keys in a row timed out everywhere (READ_BACK_MAX_MISSES in run.ts).
    assert.ok(touched > 5, `touched ${touched} keys`)
    assert.equal(cell.readBack.ok, 0)
    assert.equal(cell.readBack.keys, 3, `read back ${cell.readBack.keys} of ${touched} keys`)
    assert.equal(cell.check.verdict, 'linearizable')
    assert.deepEqual(tracked(), { pids: [], dirs: [] }, 'the stopped replica was killed too')
  } finally {
    delete process.env.FAKE_HOST_STOP_AFTER_MS
  }
})

test('run: replicas that cannot start fail the run; the results directory stays, marked incomplete', async () => {
  const root = mkdtempSync(join(tmpdir(), 'cb-run-test-'))
  try {
    await assert.rejects(
      runBenchmark({
        engine: 'fake',
        hostEntry: 'harness/launchers/testdata/no-such-host.ts',
        durationMs: 1000,
        warmupMs: 0,
        resultsRoot: root,
      }),
      /exited before listening/,
    )
    const [runId] = readdirSync(root)
    const summary = JSON.parse(readFileSync(join(root, runId!, 'summary.json'), 'utf8')) as RunSummary
    assert.equal(summary.status, 'incomplete')
    assert.deepEqual(summary.cells, [])
    assert.deepEqual(tracked(), { pids: [], dirs: [] })
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
})
