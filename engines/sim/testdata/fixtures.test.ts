/**
 * The conformance suite on the simulator's own fixtures: the correct sequencer passes it, and the
 * suite's `runSeeds` fails the broken ones (which is what makes a passing suite mean something).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { conformanceSuite, runSeeds } from '../../conformance.case.ts'
import { localUnsafeEngine } from './local-unsafe.ts'
import { sequencerEngine } from './sequencer.ts'

conformanceSuite(sequencerEngine, {
  seeds: 100,
  skip: { purity: 'a test fixture has no engines/<name>/ folder (testdata is exempt from the rule)' },
})

test('runSeeds fails an engine without agreement on every seed, each with a replay command', () => {
  const failures = runSeeds(localUnsafeEngine, [1, 2, 3])
  assert.deepEqual(
    failures.map((f) => f.seed),
    [1, 2, 3],
  )
  for (const f of failures) {
    assert.equal(f.kind, 'safety')
    assert.equal(f.replay, `consensus-bench sim --engine test-local-unsafe --seeds ${f.seed}`)
  }
})

test('runSeeds fails the sequencer with its fault switch on (no persistence), and names the config', () => {
  const seeds = Array.from({ length: 20 }, (_, i) => i + 1)
  const failures = runSeeds(sequencerEngine, seeds, { engineConfig: { persist: false } })
  assert.ok(failures.length > 0, 'the fault switch went unnoticed')
  assert.ok(failures.every((f) => f.kind === 'safety'))
  assert.match(failures[0]!.replay, /--config '\{"persist":false\}'$/)
  assert.deepEqual(runSeeds(sequencerEngine, seeds), [], 'the same seeds pass with the switch off')
})
