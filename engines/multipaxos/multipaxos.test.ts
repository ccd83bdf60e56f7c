/**
 * Multi-Paxos against the shared conformance suite (simulator, 200 fault seeds by default), and the
 * proof that the suite catches bugs: each test-only fault switch must make it fail.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  compactionConformanceSuite,
  conformanceSuite,
  describeFailures,
  runConformanceSeeds,
  runSeeds,
} from '../conformance.case.ts'
import { multipaxosEngine } from './index.ts'

conformanceSuite(multipaxosEngine)

/**
 * Log compaction on nearly every seed: a snapshot every 5 executed slots (a seed chooses a few hundred).
 * A snapshot discards the chosen values up to the previous one, so a replica that a crash or a partition
 * left more than one interval behind is caught up with a snapshot, and a restarted replica begins from
 * its stored snapshot. The suite must pass, and each of the three events must have happened on a third
 * of the seeds at least (seeds whose faults stall the cluster choose too little; a restore needs a crash).
 */
compactionConformanceSuite(multipaxosEngine, 100)

describe('the conformance suite catches the test-only faults', () => {
  // Every fault seed the suite runs (random mix and crash storms), with the bug switched on.
  it("testFault 'skip-accept-persist' (phase 2 answered before the vote is durable) fails", () => {
    const failures = runConformanceSeeds(multipaxosEngine, {
      engineConfig: { testFault: 'skip-accept-persist' },
    })
    assert.ok(failures.length > 0, 'no seed caught an acceptor that forgets its votes on a crash')
  })

  it("testFault 'ignore-promise-values' (a new leader overwrites possibly chosen values) fails", () => {
    const failures = runConformanceSeeds(multipaxosEngine, {
      engineConfig: { testFault: 'ignore-promise-values' },
    })
    assert.ok(
      failures.some((f) => f.kind === 'safety'),
      `no seed found a safety failure\n${describeFailures(failures)}`,
    )
  })
})

describe('multipaxos under configurations the default suite does not reach', () => {
  it('an origin at its pending limit never answers a retried write with a false rejection', () => {
    // With one pending place per replica, client retries land on full replicas; a 'rejected' answer
    // there made the history show a failed put whose value was later read (seeds 1 and 3 broke).
    const failures = runSeeds(multipaxosEngine, [1, 3, 4], {
      engineConfig: { maxPendingCommands: 1 },
      sim: { clients: 16, conflict: 0.9 },
    })
    assert.deepEqual(failures, [], describeFailures(failures))
  })
})
