import assert from 'node:assert/strict'
import { test } from 'node:test'
import { listEngines } from './engines.ts'

test('engines lists every registered engine with its leadership kind', () => {
  const engines = listEngines()
  const multipaxos = engines.find((e) => e.name === 'multipaxos')
  assert.ok(multipaxos, 'multipaxos is registered')
  assert.equal(multipaxos.leadership, 'leader')
  assert.ok(multipaxos.description.length > 0)
})
