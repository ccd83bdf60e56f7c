/**
 * The acceptance check on per-node cost (issue #4): Multi-Paxos on 5 local replicas, batching off.
 * Per command the leader sends 4 accepts and 4 commits and receives 4 accepted (plus the forwards of
 * the 4/5 of commands that arrive at followers); a follower receives an accept and a commit and sends
 * an accepted (plus forwards for its own fifth): about 12.8 against 3.2, n-1 = 4 times. Heartbeats
 * (the leader's 4 per 50 ms) are a rounding error at hundreds of commands per second.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import type { RunSummary } from './results/summary.ts'
import { runBenchmark } from './run.ts'

test('multipaxos, 5 replicas: the leader handles about n-1 times the messages per command of a follower and is the bottleneck', async (t) => {
  const resultsRoot = mkdtempSync(join(tmpdir(), 'nodecost-test-'))
  t.after(() => rmSync(resultsRoot, { recursive: true, force: true }))
  const { dir, summary } = await runBenchmark({
    engine: 'multipaxos',
    engineConfig: { batching: false },
    replicas: 5,
    clientsPerSite: 4,
    conflict: 0.1,
    durationMs: 5000,
    warmupMs: 1000,
    storage: 'memory',
    readBack: false,
    resultsRoot,
  })
  const cell = summary.cells[0]!
  const leader = cell.nodeCost?.leaderAtStart
  assert.ok(leader !== null && leader !== undefined, 'the replicas agreed on a leader')
  assert.deepEqual(cell.nodeCost?.missing, [])
  assert.ok(
    cell.nodeCost!.ops > 100,
    `${cell.nodeCost!.ops} commands in the window: enough to swamp heartbeats`,
  )
  const followers = Object.entries(cell.nodes).filter(([id]) => id !== leader)
  assert.equal(followers.length, 4)
  const followerMsgsPerOp = followers.reduce((sum, [, n]) => sum + n.msgsPerOp, 0) / followers.length
  const ratio = cell.nodes[leader]!.msgsPerOp / followerMsgsPerOp
  assert.ok(ratio >= 2.5 && ratio <= 6, `leader/follower messages per op ${ratio.toFixed(2)}, want about 4`)
  for (const [id, n] of followers) {
    assert.ok(n.msgsPerOp >= 2 && n.msgsPerOp <= 5, `follower ${id}: ${n.msgsPerOp} messages per op`)
  }
  assert.equal(cell.bottleneckNode, leader, `bottleneck by ${cell.nodeCost?.bottleneckBy}`)
  assert.equal(cell.fastPath, null, 'Multi-Paxos has no fast path')
  // summary.json on disk carries the same figures
  const onDisk = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as RunSummary
  assert.deepEqual(onDisk.cells[0]!.nodes, cell.nodes)
})
