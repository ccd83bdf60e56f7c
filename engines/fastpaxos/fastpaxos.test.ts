/**
 * Fast Paxos against the shared conformance suite, and the proof that the suite catches the test-only
 * fault (a recovery round that ignores Lamport's selection rule).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { conformanceSuite, describeFailures, runConformanceSeeds, runSeeds } from '../conformance.case.ts'
import { type SimResult, simulate } from '../sim/index.ts'
import { fastPaxosExpectedLatencyMs, fastpaxosEngine } from './index.ts'

conformanceSuite(fastpaxosEngine)

describe('the conformance suite catches the test-only fault', () => {
  it("testFault 'recovery-ignores-selection-rule' (recovery proposes its own value) fails on safety", () => {
    const failures = runConformanceSeeds(fastpaxosEngine, {
      seeds: 100,
      engineConfig: { testFault: 'recovery-ignores-selection-rule' },
    })
    assert.ok(
      failures.some((f) => f.kind === 'safety'),
      `no seed found a safety failure\n${describeFailures(failures)}`,
    )
  })
})

describe('fastpaxos under configurations the default suite does not reach', () => {
  it('high conflict: collisions and their recoveries, coordinated and uncoordinated', () => {
    for (const recovery of ['coordinated', 'uncoordinated']) {
      const failures = runSeeds(fastpaxosEngine, [1, 2, 3, 4, 5, 6, 7, 8], {
        engineConfig: { recovery },
        sim: { clients: 12, conflict: 1 },
      })
      assert.deepEqual(failures, [], `${recovery}\n${describeFailures(failures)}`)
    }
  })

  it('five and seven replicas, with both quorum choices', () => {
    for (const nodes of [5, 7])
      for (const quorumChoice of ['max-f', 'max-e']) {
        const failures = runSeeds(fastpaxosEngine, [1, 2, 3], { nodes, engineConfig: { quorumChoice } })
        assert.deepEqual(failures, [], `n=${nodes} ${quorumChoice}\n${describeFailures(failures)}`)
      }
  })

  it('tight limits and a single replica', () => {
    const tight = runSeeds(fastpaxosEngine, [1, 2, 3], {
      engineConfig: {
        maxInflightInstances: 1,
        maxPendingCommands: 2,
        maxOpenInstances: 16,
        syncBatchKeys: 1,
      },
      sim: { clients: 12, conflict: 0.9 },
    })
    assert.deepEqual(tight, [], describeFailures(tight))
    const one = runSeeds(fastpaxosEngine, [1, 2], { nodes: 1 })
    assert.deepEqual(one, [], describeFailures(one))
  })
})

describe('fastpaxos under contention on a WAN (the EPaxos paper three sites, 10 clients per site)', () => {
  // netem/topologies/epaxos-3.yaml: CA-VA 85 ms, VA-EU 90 ms, CA-EU 156 ms (r0 = CA, r1 = VA, r2 = EU)
  const rtt = [
    [0, 85, 156],
    [85, 0, 90],
    [156, 90, 0],
  ]
  const clientRttMs = 0.2
  const run = (conflict: number, engineConfig?: unknown): SimResult =>
    simulate({
      engine: fastpaxosEngine,
      seed: 1,
      engineConfig,
      clients: 30,
      conflict,
      sharedKeys: 1,
      faults: false,
      rttMs: rtt,
      clientRttMs,
      clientTimeoutMs: 2000,
      safetyPhaseMs: 15_000,
      livenessPhaseMs: 20_000,
      checkLinearizability: false,
    })
  /** p50 and p99 in ms per origin replica, from the history (client i is attached to replica i mod 3) */
  const perSite = (r: SimResult): Array<{ p50: number; p99: number }> =>
    [0, 1, 2].map((site) => {
      const ms = r.history
        .filter((op) => op.completeUs !== null && Number(op.client.slice(1)) % 3 === site)
        .map((op) => (op.completeUs! - op.invokeUs) / 1000)
        .sort((a, b) => a - b)
      const at = (q: number): number => ms[Math.min(ms.length - 1, Math.floor(q * ms.length))]!
      return { p50: at(0.5), p99: at(0.99) }
    })

  it('conflict 1.0: every command through coordinated recovery, in batches, none starved', () => {
    // before batching and the carried-over union: 205 commands in 15 s, p50 1.8 s, EU's clients starved
    const r = run(1)
    assert.ok(r.safety.ok && r.liveness.ok, `${r.safety.problems} ${r.liveness.problems}`)
    assert.ok(r.stats.committed >= 1500, `committed ${r.stats.committed}`)
    assert.equal(r.stats.retries, 0, 'a client timed out (2 s): a starved command')
    for (const [site, { p50, p99 }] of perSite(r).entries())
      assert.ok(p50 < 300 && p99 < 400, `site r${site}: p50 ${p50} ms, p99 ${p99} ms`)
    assert.ok((r.stats.engineEvents['slow-path'] ?? 0) > 0.9 * r.stats.committed)
  })

  it('conflict 1.0, uncoordinated recovery: acceptors that saw every vote agree on the union', () => {
    const r = run(1, { recovery: 'uncoordinated' })
    assert.ok(r.safety.ok && r.liveness.ok, `${r.safety.problems} ${r.liveness.problems}`)
    assert.ok(r.stats.committed >= 1000, `committed ${r.stats.committed}`)
    assert.equal(r.stats.messagesByType.prepare ?? 0, 0, 'a second collision fell to failover')
    for (const [site, { p99 }] of perSite(r).entries()) assert.ok(p99 < 500, `site r${site}: p99 ${p99} ms`)
  })

  it('conflict 0: each site at its fast-path bound (no timeout recovers a fast round slower than recoveryTimeoutMs)', () => {
    const r = run(0)
    const nodes = ['r0', 'r1', 'r2']
    for (const [site, { p50, p99 }] of perSite(r).entries()) {
      const expected = fastPaxosExpectedLatencyMs(
        {
          nodes,
          rttMs: (a, b) => rtt[nodes.indexOf(a)]![nodes.indexOf(b)]!,
          origin: nodes[site]!,
          clientRttMs,
          leader: 'r0',
        },
        { quorumChoice: 'max-f' },
      )
      assert.ok(
        Math.abs(p50 - expected) <= 1 && Math.abs(p99 - expected) <= 1,
        `r${site}: p50 ${p50} p99 ${p99} expected ${expected}`,
      )
    }
  })
})
