import assert from 'node:assert/strict'
import { test } from 'node:test'
import { RunOptionError, resolveRunOptions } from '../harness/run.ts'
import type { DriverResult } from './driver-spec.ts'
import { noErrors } from './executor.ts'
import { LatencyRecorder } from './latency.ts'
import { mergeDriverResults } from './load.ts'
import { loadShapeOf, loadSummaryOf, pickClientSites } from './run-options.ts'

const base = { engine: 'multipaxos', durationMs: 5000 }

test('run options: --rate and --clients are exclusive; the defaults give a closed loop of 8 clients per site', () => {
  assert.throws(
    () => resolveRunOptions({ ...base, rateOpsPerSec: 100, clientsPerSite: 4 }),
    (err: unknown) =>
      err instanceof RunOptionError && err.field === 'rateOpsPerSec' && /not both/.test(err.fix),
  )
  const closed = resolveRunOptions(base)
  assert.deepEqual(loadShapeOf(closed), {
    kind: 'closed',
    clientsPerSite: 8,
    thinkTimeMs: 0,
    opsPerClient: null,
  })
  const open = resolveRunOptions({ ...base, rateOpsPerSec: 250, arrival: 'constant' })
  assert.equal(open.clientsPerSite, undefined)
  assert.deepEqual(loadShapeOf(open), {
    kind: 'open',
    rateOpsPerSec: 250,
    arrival: 'constant',
    maxOutstanding: 2000,
  })
})

test('run options: an open loop with --ops runs ops / rate; think time and a closed-loop op count with cool-down are refused', () => {
  assert.equal(resolveRunOptions({ ...base, rateOpsPerSec: 500, ops: 2000 }).durationMs, 4000)
  assert.throws(
    () => resolveRunOptions({ ...base, rateOpsPerSec: 500, ops: 100 }),
    (e: unknown) => e instanceof RunOptionError && e.field === 'ops',
  )
  assert.throws(
    () => resolveRunOptions({ ...base, rateOpsPerSec: 500, thinkTimeMs: 10 }),
    (e: unknown) => e instanceof RunOptionError && e.field === 'thinkTimeMs',
  )
  assert.throws(
    () => resolveRunOptions({ ...base, ops: 100, cooldownMs: 500 }),
    (e: unknown) => e instanceof RunOptionError && e.field === 'cooldownMs',
  )
  assert.throws(
    () => resolveRunOptions({ ...base, keyDistribution: 'zipf', zipfTheta: -1 }),
    (e: unknown) => e instanceof RunOptionError && e.field === 'zipfTheta' && /0.99/.test(e.fix),
  )
})

function driverResult(index: number, utilization: number): DriverResult {
  const latency = new LatencyRecorder()
  latency.record('r0', 'get', 1000 * (index + 1))
  latency.record('r0', 'put', 2000)
  return {
    driverIndex: index,
    records: [],
    latencyHlog: latency.toHlog(0, 0, 1),
    errors: { ...noErrors(), timeout: index + 1 },
    measuredOpsBySite: { r0: 2 },
    arrivals: { intended: 10, intendedInWindow: 8, sent: 9, sentLate: 1 },
    cpu: { driverIndex: index, userUs: 1, systemUs: 1, wallUs: 2, utilization },
    startUs: 0,
    endUs: 1_000_000 + index,
    windowStartUs: 0,
    windowEndUs: 1_000_000,
    truncated: false,
  }
}

test('merging drivers: histograms added, counts summed, a driver at >= 90% CPU flagged as saturated', () => {
  const load = mergeDriverResults([driverResult(0, 0.4), driverResult(1, 0.95)])
  assert.equal(load.latency.merged().totalCount, 4)
  assert.equal(load.latency.merged('r0', 'get').maxValue, 2000)
  assert.equal(load.errors.timeout, 3)
  assert.equal(load.measuredOpsBySite.get('r0'), 4)
  assert.deepEqual(load.arrivals, { intended: 20, intendedInWindow: 16, sent: 18, sentLate: 2 })
  assert.deepEqual(
    load.drivers.map((d) => d.saturated),
    [false, true],
  )
  const summary = loadSummaryOf(resolveRunOptions({ ...base, rateOpsPerSec: 20, drivers: 2 }), load)
  assert.equal(summary.driverSaturated, true)
  assert.deepEqual(
    summary.drivers.map((d) => [d.index, d.cpuUtilization, d.saturated]),
    [
      [0, 0.4, false],
      [1, 0.95, true],
    ],
  )
  assert.equal(summary.arrivals?.intendedOpsPerSec, 16)
})

test('run options: clientSites must name sites of the run (replica ids without a topology, sites with one), each once', () => {
  assert.throws(
    () => resolveRunOptions({ ...base, replicas: 3, clientSites: ['r1', 'r3'] }),
    (err: unknown) =>
      err instanceof RunOptionError &&
      err.field === 'clientSites' &&
      /'r3'/.test(err.problem) &&
      /r0, r1, r2/.test(err.fix),
  )
  assert.throws(
    () => resolveRunOptions({ ...base, replicas: 3, clientSites: ['r1', 'r1'] }),
    (err: unknown) => err instanceof RunOptionError && /twice/.test(err.problem),
  )
  assert.throws(
    () => resolveRunOptions({ ...base, topology: 'epaxos-3', clientSites: ['r1'] }),
    (err: unknown) => err instanceof RunOptionError && /CA, VA, EU/.test(err.fix),
  )
  assert.deepEqual(resolveRunOptions({ ...base, topology: 'epaxos-3', clientSites: ['EU'] }).clientSites, [
    'EU',
  ])
  const sites = [{ name: 'r0' }, { name: 'r1' }, { name: 'r2' }]
  assert.deepEqual(pickClientSites(sites, ['r2', 'r1']), [{ name: 'r1' }, { name: 'r2' }])
  assert.deepEqual(pickClientSites(sites, undefined), sites)
})
