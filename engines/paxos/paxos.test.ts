/**
 * Classic Paxos against the shared conformance suite (simulator: fault seeds, crash storms, determinism,
 * purity), and the proof that the suite catches the test-only fault.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { conformanceSuite, describeFailures, runConformanceSeeds, runSeeds } from '../conformance.case.ts'
import { paxosEngine } from './index.ts'

conformanceSuite(paxosEngine)

describe('the conformance suite catches the test-only fault', () => {
  it("testFault 'ignore-promise-values' (phase 2 ignores the highest accepted value) fails on safety", () => {
    const failures = runConformanceSeeds(paxosEngine, {
      seeds: 100,
      engineConfig: { testFault: 'ignore-promise-values' },
    })
    assert.ok(
      failures.some((f) => f.kind === 'safety'),
      `no seed found a safety failure\n${describeFailures(failures)}`,
    )
  })
})

describe('paxos under configurations the default suite does not reach', () => {
  it('five replicas, and tight limits (one instance in flight, a few pending commands)', () => {
    const five = runSeeds(paxosEngine, [1, 2, 3, 4, 5], { nodes: 5 })
    assert.deepEqual(five, [], describeFailures(five))
    const tight = runSeeds(paxosEngine, [1, 2, 3, 4, 5], {
      engineConfig: { maxInflightInstances: 1, maxPendingCommands: 2 },
      sim: { clients: 12, conflict: 0.9 },
    })
    assert.deepEqual(tight, [], describeFailures(tight))
  })

  it('a single replica decides alone', () => {
    const one = runSeeds(paxosEngine, [1, 2], { nodes: 1 })
    assert.deepEqual(one, [], describeFailures(one))
  })
})
