import assert from 'node:assert/strict'
import { test } from 'node:test'
import { compareBallots, nextBallot, ZERO_BALLOT } from './ballot.ts'

test('ballots order by round then node, and nextBallot is strictly greater and owned', () => {
  const nodes = ['r0', 'r1', 'r2']
  let seen = ZERO_BALLOT
  for (let i = 0; i < 50; i++) {
    const node = nodes[i % 3]!
    const b = nextBallot(seen, node)
    assert.ok(compareBallots(b, seen) > 0)
    assert.equal(b.node, node)
    seen = b
  }
  assert.equal(compareBallots({ round: 2, node: 'r0' }, { round: 1, node: 'r9' }), 1)
  assert.equal(compareBallots({ round: 2, node: 'r0' }, { round: 2, node: 'r1' }), -1)
  assert.deepEqual(nextBallot({ round: 3, node: 'r0' }, 'r1'), { round: 3, node: 'r1' })
  assert.deepEqual(nextBallot({ round: 3, node: 'r2' }, 'r1'), { round: 4, node: 'r1' })
  assert.deepEqual(nextBallot(ZERO_BALLOT, 'r1'), { round: 1, node: 'r1' })
})
