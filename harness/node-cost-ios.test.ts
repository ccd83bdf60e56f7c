/**
 * The per-node cost acceptance check for Ios (issue #7): 5 local replicas, the same open-loop rate as a
 * Multi-Paxos run of the same configuration (batching off in both), clients at r1..r4 only (r0 is the
 * Ios master and the Multi-Paxos leader). Per command the Ios master receives one forward and sends one
 * coordinate; the coordinators' commits reach it held and coalesced (masterAckDelayMs), mostly riding on
 * their next forward: about 2.3 messages per command with heartbeats, against about 3.2 with a commit per
 * command (what the 2.9 bound below tells apart). The accepts, votes and commits are spread over the four
 * coordinators (about 5 each). The Multi-Paxos leader handles about 13. CPU per op is printed, not
 * asserted: on a shared machine it is noise-bound (bench/ios-node-cost.ts compares it).
 *
 * Both runs also measure idle CPU before the load, so the test checks the CPU-above-idle figures exist
 * and never exceed the raw ones.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import type { CellSummary } from './results/summary.ts'
import { type RunOptionsInput, runBenchmark } from './run.ts'

const SAME: Omit<RunOptionsInput, 'engine' | 'resultsRoot'> = {
  replicas: 5,
  rateOpsPerSec: 300,
  conflict: 0.1,
  durationMs: 5000,
  warmupMs: 1000,
  idleBaselineMs: 1000,
  storage: 'memory',
  readBack: false,
  report: false,
  clientSites: ['r1', 'r2', 'r3', 'r4'],
}

function leaderOf(cell: CellSummary): string {
  const leader = cell.nodeCost?.leaderAtStart
  assert.ok(leader !== null && leader !== undefined, `${cell.id}: the replicas agreed on a leader`)
  assert.deepEqual(cell.nodeCost?.missing, [], `${cell.id}: every replica scraped`)
  assert.ok(cell.nodeCost!.ops > 200, `${cell.id}: ${cell.nodeCost!.ops} commands in the window`)
  return leader
}

test('ios, 5 replicas, clients off the master: the master handles a fraction of the multipaxos leader’s messages per command, the rest spread over the coordinators', async (t) => {
  const resultsRoot = mkdtempSync(join(tmpdir(), 'nodecost-ios-test-'))
  t.after(() => rmSync(resultsRoot, { recursive: true, force: true }))
  // Long failure timeouts in both: on a loaded CI host replicas start seconds apart, and the others
  // would move to view 1 (master r1) before r0 is up; the placement keeps clients off r0 only.
  const ios = (
    await runBenchmark({
      ...SAME,
      engine: 'ios',
      engineConfig: { masterTimeoutMsMin: 5000, masterTimeoutMsMax: 10_000 },
      resultsRoot,
    })
  ).summary.cells[0]!
  const mp = (
    await runBenchmark({
      ...SAME,
      engine: 'multipaxos',
      engineConfig: { batching: false, leaderTimeoutMsMin: 5000, leaderTimeoutMsMax: 10_000 },
      resultsRoot,
    })
  ).summary.cells[0]!
  const master = leaderOf(ios)
  const leader = leaderOf(mp)
  const m = ios.nodes[master]!
  const l = mp.nodes[leader]!
  t.diagnostic(
    `ios master ${master}: ${m.msgsPerOp} msgs/op, ${m.cpuUsPerOp} cpu us/op (${m.cpuUsPerOpAboveIdle} above idle); ` +
      `multipaxos leader ${leader}: ${l.msgsPerOp} msgs/op, ${l.cpuUsPerOp} cpu us/op (${l.cpuUsPerOpAboveIdle} above idle)`,
  )
  assert.equal(master, 'r0', 'the Ios master of view 0')
  assert.equal(leader, 'r0', 'the Multi-Paxos initial leader')
  for (const cell of [ios, mp])
    assert.equal(cell.nodes.r0!.requests, 0, `${cell.id}: no client requests at r0`)
  assert.ok(
    m.msgsPerOp >= 1.5 && m.msgsPerOp <= 2.9,
    `ios master: ${m.msgsPerOp} messages per op, want about 2.3 (3.2: commits not held)`,
  )
  assert.ok(l.msgsPerOp >= 10, `multipaxos leader: ${l.msgsPerOp} messages per op, want about 13`)
  assert.ok(m.msgsPerOp <= 0.4 * l.msgsPerOp, `master/leader messages per op ${m.msgsPerOp / l.msgsPerOp}`)
  const coordinators = Object.entries(ios.nodes).filter(([id]) => id !== master)
  const msgs = coordinators.map(([, n]) => n.msgsPerOp)
  assert.ok(
    // within 1.5x, not equal: on a loaded host the slowness test takes slots off a coordinator for a while
    Math.min(...msgs) >= 3.5 && Math.max(...msgs) <= 1.5 * Math.min(...msgs),
    `coordinators' messages per op ${msgs.join(', ')}: each above the master's, evenly spread`,
  )
  for (const cell of [ios, mp]) {
    assert.ok(
      cell.nodeCost!.idleWindowMs! >= 900,
      `${cell.id}: idle measured for ${cell.nodeCost!.idleWindowMs} ms`,
    )
    for (const [id, n] of Object.entries(cell.nodes)) {
      assert.ok(
        n.idleCpuUsPerSec !== null && n.idleCpuUsPerSec > 0,
        `${cell.id} ${id}: idle CPU ${n.idleCpuUsPerSec}`,
      )
      assert.ok(
        n.cpuUsPerOpAboveIdle !== null && n.cpuUsPerOpAboveIdle <= n.cpuUsPerOp,
        `${cell.id} ${id}: above idle ${n.cpuUsPerOpAboveIdle} <= raw ${n.cpuUsPerOp}`,
      )
    }
  }
})
