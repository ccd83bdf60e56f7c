import assert from 'node:assert/strict'
import { test } from 'node:test'
import { parseReplicaConfig, ReplicaConfigError } from './config.ts'

const valid = {
  id: 'r0',
  engine: 'multipaxos',
  engineConfig: {},
  nodes: [
    { id: 'r0', peerAddress: '127.0.0.1:7101' },
    { id: 'r1', peerAddress: '127.0.0.2:7102' },
  ],
  listen: { peer: '127.0.0.1:7101', client: '127.0.0.1:8101' },
  storage: { kind: 'file', dir: '/tmp/x/r0' },
  seed: 1,
}

function problem(raw: unknown): ReplicaConfigError {
  try {
    parseReplicaConfig(raw, 'r0.json')
  } catch (err) {
    assert.ok(err instanceof ReplicaConfigError)
    return err
  }
  assert.fail('expected a ReplicaConfigError')
}

test('a valid config parses; seed and engineConfig have defaults', () => {
  assert.deepEqual(parseReplicaConfig(valid), valid)
  const { seed: _seed, engineConfig: _ec, ...minimal } = valid
  const parsed = parseReplicaConfig({ ...minimal, storage: { kind: 'memory' } })
  assert.equal(parsed.seed, 1)
  assert.deepEqual(parsed.engineConfig, {})
})

test('unknown keys are rejected at every level, naming the field', () => {
  const top = problem({ ...valid, sede: 2 })
  assert.equal(top.field, 'sede')
  assert.match(top.message, /^r0\.json: sede: unknown field/)
  assert.equal(problem({ ...valid, listen: { ...valid.listen, admin: '1.2.3.4:5' } }).field, 'listen.admin')
  assert.equal(problem({ ...valid, storage: { kind: 'memory', dir: '/x' } }).field, 'storage.dir')
  assert.equal(
    problem({ ...valid, nodes: [{ id: 'r0', peerAddress: '127.0.0.1:1', port: 1 }] }).field,
    'nodes.0.port',
  )
})

test('bad values name the field and the fix', () => {
  const address = problem({ ...valid, listen: { ...valid.listen, client: '8101' } })
  assert.equal(address.field, 'listen.client')
  assert.match(address.fix, /host:port/)
  assert.equal(problem({ ...valid, id: 'r7' }).field, 'id')
  assert.equal(problem({ ...valid, nodes: [valid.nodes[0], valid.nodes[0]] }).field, 'nodes')
  assert.equal(problem({ ...valid, storage: { kind: 'disk' } }).field, 'storage.kind')
  assert.equal(problem({ ...valid, seed: -1 }).field, 'seed')
})
