/**
 * Fast Paxos against the shared conformance suite, and the proof that the suite catches the test-only
 * fault (a recovery round that ignores Lamport's selection rule).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { conformanceSuite, describeFailures, runConformanceSeeds, runSeeds } from '../conformance.case.ts'
import { fastpaxosEngine } from './index.ts'

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
