/** The printed run summary: the fast/slow split, the tail and the unknown outcomes of every cell. */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { RunSummary } from '../results/summary.ts'
import { summaryTable } from './run.ts'

const latency = (p50Ms: number) => ({
  p50: p50Ms * 1000,
  p90: p50Ms * 1500,
  p99: p50Ms * 2000,
  p999: p50Ms * 2500,
  max: p50Ms * 3000,
})

function summary(fastPath: number | null, slowPath: number | null, unknownOutcome: number): RunSummary {
  const cell = {
    id: 'fastpaxos-epaxos-3-c1-rep1',
    conflict: 1,
    achievedConflict: 1,
    opsCompleted: 1782,
    throughputOpsPerSec: 127.3,
    latencyUs: latency(208),
    sites: { CA: { ops: 450, throughputOpsPerSec: 32.1, latencyUs: latency(302), expectedLatencyMs: 156 } },
    check: { verdict: 'linearizable' },
    faults: [],
    errors: { timeout: 0, rejected: 0, refused: 0, connection: 0, http: 0, unknownOutcome, failedOutcome: 0 },
    load: { mode: 'closed', clientsPerSite: 10 },
    drivers: [],
    driverSaturated: false,
    nodes: {},
    bottleneckNode: null,
    nodeCost: null,
    fastPath,
    slowPath,
  }
  return { status: 'complete', runId: 'r', cells: [cell] } as unknown as RunSummary
}

test('the cell table prints the fast/slow split, the tail (p99, p99.9, max) and unknown outcomes', () => {
  const text = summaryTable(summary(18, 1764, 161))
  const header = text.split('\n').find((l) => l.includes('fast/slow'))
  assert.ok(header !== undefined, text)
  for (const column of ['p99 ms', 'p99.9 ms', 'max ms', 'unknown']) assert.ok(header.includes(column), column)
  const row = text
    .split('\n')
    .find((l) => l.includes('fastpaxos-epaxos-3-c1-rep1') && l.includes('linearizable'))
  assert.ok(row !== undefined, text)
  const cells = row.split('│').map((c) => c.trim())
  assert.ok(cells.includes('18/1764'), row)
  assert.ok(cells.includes('416.00') && cells.includes('520.00') && cells.includes('624.00'), row)
  assert.equal(cells.at(-2), '161', row)
})

test('an engine without fast/slow path events prints a dash', () => {
  const row = summaryTable(summary(null, null, 0))
    .split('\n')
    .find((l) => l.includes('linearizable'))!
  assert.ok(
    row
      .split('│')
      .map((c) => c.trim())
      .includes('-'),
    row,
  )
})
