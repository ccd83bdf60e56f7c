/**
 * Multi-Paxos against the shared conformance suite (simulator, 200 fault seeds by default), and the
 * proof that the suite catches bugs: each test-only fault switch must make it fail.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { conformanceSuite, describeFailures, runSeeds } from '../conformance.case.ts'
import { multipaxosEngine } from './index.ts'

conformanceSuite(multipaxosEngine)

// Crash-heavy faults: a vote that was never made durable only matters when its acceptor crashes in the
// short window between voting and learning the slot chosen, so frequent short crashes expose it.
const CRASHY = { faults: { crashes: true, faultIntervalMsMean: 60, faultDurationMsMax: 150 } }
const FAULT_SEEDS = Array.from({ length: 100 }, (_, i) => i + 1)

describe('the conformance suite catches the test-only faults', () => {
  it('the correct engine passes the crash-heavy seeds (the control)', () => {
    const failures = runSeeds(multipaxosEngine, FAULT_SEEDS, { sim: CRASHY })
    assert.equal(failures.length, 0, describeFailures(failures))
  })

  it("testFault 'skip-accept-persist' (phase 2 answered before the vote is durable) fails", () => {
    const failures = runSeeds(multipaxosEngine, FAULT_SEEDS, {
      engineConfig: { testFault: 'skip-accept-persist' },
      sim: CRASHY,
    })
    assert.ok(failures.length > 0, 'no seed caught an acceptor that forgets its votes on a crash')
  })

  it("testFault 'ignore-promise-values' (a new leader overwrites possibly chosen values) fails", () => {
    const failures = runSeeds(multipaxosEngine, FAULT_SEEDS, {
      engineConfig: { testFault: 'ignore-promise-values' },
      sim: CRASHY,
    })
    assert.ok(failures.length > 0, 'no seed caught a leader that ignores the votes in promises')
    assert.ok(
      failures.some((f) => f.kind === 'safety'),
      describeFailures(failures),
    )
  })
})
