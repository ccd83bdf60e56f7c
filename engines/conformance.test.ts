/** The conformance suite's own verdict rules (the suite itself runs in each engine's test file). */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { suiteFailures } from './conformance.case.ts'
import type { SeedsReport } from './sim/run-seeds.ts'

test('a seed whose history the checker could not decide fails the suite, with its replay command', () => {
  const report: SeedsReport = {
    engine: 'multipaxos',
    seeds: 3,
    passed: 3,
    failures: [],
    linearizabilityUnknown: [2],
    committed: 10,
    events: 100,
    seedsWithEvent: {},
  }
  const failures = suiteFailures(report, { nodes: 5 })
  assert.equal(failures.length, 1)
  assert.equal(failures[0]!.seed, 2)
  assert.equal(failures[0]!.kind, 'safety')
  assert.match(failures[0]!.problems.join(), /linearizability not checked/)
  assert.equal(failures[0]!.replay, 'consensus-bench sim --engine multipaxos --seeds 2 --nodes 5')
  // a seed that failed anyway is listed once
  const failed = suiteFailures({ ...report, failures: [{ ...failures[0]!, kind: 'liveness' }] })
  assert.deepEqual(
    failed.map((f) => f.kind),
    ['liveness'],
  )
})
