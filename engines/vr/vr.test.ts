/**
 * VR against the shared conformance suite (simulator: random fault seeds, crash storms, determinism,
 * purity), and the proof that the suite catches a broken VR: the test-only fault switch must fail it.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { conformanceSuite, describeFailures, runConformanceSeeds, runSeeds } from '../conformance.case.ts'
import { simulate } from '../sim/simulator.ts'
import { vrEngine } from './index.ts'

conformanceSuite(vrEngine)

describe('the conformance suite catches the test-only fault', () => {
  it("testFault 'reply-before-quorum' (the primary commits before f PrepareOKs) fails on safety", () => {
    const failures = runConformanceSeeds(vrEngine, {
      engineConfig: { testFault: 'reply-before-quorum' },
      seeds: 60, // 10 of these 60 catch it (38 of seeds 1-200), and 2 of the 100 storms
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

  it('a tiny pipeline window, batch and state transfer, and a primary placed by initialView, still pass', () => {
    // stateTransferBatchOps 4 forces StartView to send partial logs and lagging replicas to catch up
    // in many rounds (with 1, catching up one op per round trip can outlast the liveness window)
    const failures = runSeeds(
      vrEngine,
      Array.from({ length: 20 }, (_, i) => i + 1),
      { engineConfig: { maxInflightOps: 4, batchMaxCommands: 2, stateTransferBatchOps: 4, initialView: 2 } },
    )
    assert.deepEqual(failures, [], describeFailures(failures))
  })
})

describe("persistence 'volatile' (the paper's VRR: state rebuilt by the recovery protocol)", () => {
  const volatile = { persistence: 'volatile' }

  it('random fault seeds never break safety; the only failures are runs that stop (two replicas without state)', () => {
    // The simulator bounds crashed replicas at f, but a restarted replica is without state until it
    // recovers; a second crash in that window leaves f + 1 replicas unable to act, and the paper's
    // protocol then waits for ever. It must never answer wrongly.
    const seeds = Array.from({ length: 60 }, (_, i) => i + 1)
    const failures = runSeeds(vrEngine, seeds, { engineConfig: volatile })
    const unsafe = failures.filter((f) => f.kind !== 'liveness')
    assert.deepEqual(unsafe, [], describeFailures(unsafe))
    assert.ok(failures.length < seeds.length / 2, `${failures.length} of ${seeds.length} seeds stopped`)
  })

  it('with crashes seconds apart, crashed replicas recover from their peers and every seed is safe', () => {
    let recoveredRuns = 0
    for (let seed = 1; seed <= 20; seed++) {
      const result = simulate({
        engine: vrEngine,
        seed,
        engineConfig: volatile,
        faults: { crashes: true, partitions: false, oneWayPartitions: false, faultIntervalMsMean: 4000 },
      })
      assert.deepEqual(result.safety.problems, [], `seed ${seed}`)
      assert.notEqual(result.linearizability.verdict, 'violation', `seed ${seed}`)
      if (result.stats.crashes > 0 && result.liveness.ok) recoveredRuns++
    }
    // a run with a crash fails liveness only when a second replica crashes while the first recovers
    assert.ok(recoveredRuns >= 5, `only ${recoveredRuns} runs with a crash completed`)
  })
})
