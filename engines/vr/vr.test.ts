/**
 * VR against the shared conformance suite (simulator: random fault seeds, crash storms, determinism,
 * purity), and the proof that the suite catches a broken VR: the test-only fault switch must fail it.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { conformanceSuite, describeFailures, runConformanceSeeds, runSeeds } from '../conformance.case.ts'
import { vrEngine } from './index.ts'

conformanceSuite(vrEngine)

describe('the conformance suite catches the test-only fault', () => {
  it("testFault 'reply-before-quorum' (the primary commits before f PrepareOKs) fails on safety", () => {
    const failures = runConformanceSeeds(vrEngine, {
      engineConfig: { testFault: 'reply-before-quorum' },
      seeds: 60, // about a quarter of the random seeds catch it (51 of seeds 1-200); storms: 6 of 100
    })
    assert.ok(
      failures.some((f) => f.kind === 'safety'),
      `no seed found a safety failure\n${describeFailures(failures)}`,
    )
  })
})

describe('vr under configurations the default suite does not reach', () => {
  it('five replicas (f = 2): the random fault seeds pass', () => {
    const failures = runSeeds(
      vrEngine,
      Array.from({ length: 30 }, (_, i) => i + 1),
      { nodes: 5 },
    )
    assert.deepEqual(failures, [], describeFailures(failures))
  })

  it('a tiny pipeline window and batch, and a primary placed by initialView, still pass', () => {
    const failures = runSeeds(vrEngine, [1, 2, 3, 4, 5, 6, 7, 8], {
      engineConfig: { maxInflightOps: 2, batchMaxCommands: 1, stateTransferBatchOps: 1, initialView: 2 },
    })
    assert.deepEqual(failures, [], describeFailures(failures))
  })
})
