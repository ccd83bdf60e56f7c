/** The printed per-node cost table: every replica has a row, a missing one with the reason. */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { NodeCost } from '../node-cost.ts'
import type { CellSummary } from '../results/summary.ts'
import { nodeCostTable } from './node-cost-table.ts'

const node = (cpuUsPerOp: number, answeredAfterMs = { start: 3, end: 4 }): NodeCost => ({
  msgsPerOp: 3.2,
  msgsSentPerOp: 1.6,
  msgsReceivedPerOp: 1.6,
  bytesPerOp: 300,
  cpuUsPerOp,
  idleCpuUsPerSec: null,
  cpuUsPerOpAboveIdle: null,
  fsyncsPerOp: 0,
  requests: 500,
  ops: 2000,
  answeredAfterMs,
})

function cell(nodes: Record<string, NodeCost>, missingReasons: Record<string, string>): CellSummary {
  return {
    id: 'multipaxos-5-rep1',
    nodes,
    bottleneckNode: null,
    fastPath: null,
    slowPath: null,
    nodeCost: {
      leaderAtStart: 'r0',
      ops: 2000,
      windowStartUs: 1_000_000,
      windowEndUs: 7_000_000,
      bottleneckBy: null,
      missing: Object.keys(missingReasons),
      missingReasons,
      idleWindowMs: null,
    },
  } as unknown as CellSummary
}

test('a replica without figures has its own row naming the reason, and the note says the bottleneck is unknown', () => {
  const text = nodeCostTable([
    cell(
      { r1: node(90), r2: node(95, { start: 2, end: 1650 }) },
      { r0: 'timeout after 5000 ms at the window end', r3: 'connection refused (3 attempts) at both edges' },
    ),
  ])
  const rowOf = (id: string) =>
    text
      .split('\n')
      .find((l) => l.split('│').map((c) => c.trim())[2] === id)
      ?.split('│')
      .map((c) => c.trim())
  assert.ok(rowOf('r1')?.includes('90'), text)
  const order = text
    .split('\n')
    .map((l) => l.split('│').map((c) => c.trim())[2])
    .filter((id) => id?.startsWith('r'))
  assert.deepEqual(order, ['r0', 'r1', 'r2', 'r3'], 'rows in node order, missing ones in their place')
  assert.ok(rowOf('r0')?.includes('MISSING: timeout after 5000 ms at the window end'), text)
  assert.ok(rowOf('r3')?.includes('MISSING: connection refused (3 attempts) at both edges'), text)
  assert.match(text, /no figures for r0, r3: the bottleneck is unknown/)
  assert.match(text, /answered late .*: r2 2\/1650 ms/)
  assert.doesNotMatch(text, /r1 3\/4 ms/, 'prompt answers are not listed as late')
})
