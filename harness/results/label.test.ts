/** The one label of a cell: engine without a variant, the variant when it names its engine, else both. */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { cellLabel } from './label.ts'

test('a cell without a variant is labelled by its engine, exactly as before variants existed', () => {
  assert.equal(cellLabel({ engine: 'multipaxos' }), 'multipaxos')
  assert.equal(cellLabel({ engine: 'multipaxos', variant: null }), 'multipaxos')
  assert.equal(cellLabel({ engine: 'raft', variant: 'raft' }), 'raft')
})

test('a variant label that names its engine is used as is (lan-throughput: multipaxos-batching)', () => {
  assert.equal(cellLabel({ engine: 'multipaxos', variant: 'multipaxos-batching' }), 'multipaxos-batching')
})

test('a bare variant label keeps its engine in front, so two engines with a "fast" variant stay apart', () => {
  assert.equal(cellLabel({ engine: 'epaxos', variant: 'fast' }), 'epaxos/fast')
  assert.equal(cellLabel({ engine: 'raft', variant: 'fast' }), 'raft/fast')
  // a prefix that is not followed by '-' does not name the engine
  assert.equal(cellLabel({ engine: 'paxos', variant: 'paxosish' }), 'paxos/paxosish')
})

test('two variants of one engine never share a label', () => {
  const labels = ['multipaxos', 'multipaxos-batching', 'batching'].map((variant) =>
    cellLabel({ engine: 'multipaxos', variant }),
  )
  assert.equal(new Set(labels).size, labels.length)
})
