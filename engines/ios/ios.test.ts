/**
 * Ios against the shared conformance suite (simulator, fault seeds and crash storms), and the proof
 * that the suite catches a coordinator that commits with a replication quorum too small to meet every
 * recovery quorum.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { conformanceSuite, describeFailures, runConformanceSeeds, runSeeds } from '../conformance.case.ts'
import { iosEngine } from './index.ts'

conformanceSuite(iosEngine)

describe('the conformance suite catches the test-only fault', () => {
  it("testFault 'small-replication-quorum' (commit with N - q1 votes) fails on safety", () => {
    const failures = runConformanceSeeds(iosEngine, {
      engineConfig: { testFault: 'small-replication-quorum' },
    })
    assert.ok(
      failures.some((f) => f.kind === 'safety'),
      `no seed found a safety failure\n${describeFailures(failures)}`,
    )
  })
})

describe('ios under configurations the default suite does not reach', () => {
  it('reverse delegation with batching, 5 replicas, flexible quorums q1=4 q2=2', () => {
    const failures = runSeeds(iosEngine, [1, 2, 3, 4, 5, 6, 7, 8], {
      engineConfig: { delegation: 'reverse', batching: true, q1: 4, q2: 2 },
      nodes: 5,
    })
    assert.deepEqual(failures, [], describeFailures(failures))
  })

  it('held master acknowledgements (lazyAckQuietMs 0: held even right after a client of the master), 5 replicas', () => {
    const failures = runSeeds(iosEngine, [1, 2, 3, 4, 5, 6, 7, 8], {
      engineConfig: { lazyAckQuietMs: 0, masterAckDelayMs: 50 },
      nodes: 5,
    })
    assert.deepEqual(failures, [], describeFailures(failures))
  })

  it('a window of 2 slots and rotation among 1 node still completes under faults', () => {
    const failures = runSeeds(iosEngine, [1, 2, 3, 4, 5, 6], {
      engineConfig: { windowSize: 2, rotateAmong: 1 },
    })
    assert.deepEqual(failures, [], describeFailures(failures))
  })
})
