import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ReplicaMetrics } from './metrics.ts'

test('a message to itself is one sent and one received with 0 bytes, and is also counted as self', () => {
  const metrics = new ReplicaMetrics('r0', 'test', () => ({ fsyncs: 0, bytesWritten: 0 }))
  metrics.countSent('accept', 40)
  metrics.countSelfSent('accept')
  metrics.countReceived('accept', 0)
  metrics.countReceived('accepted', 30)
  const snap = metrics.snapshot()
  assert.deepEqual(snap.messages.sent, { accept: { count: 2, bytes: 40 } })
  assert.deepEqual(snap.messages.received, {
    accept: { count: 1, bytes: 0 },
    accepted: { count: 1, bytes: 30 },
  })
  assert.deepEqual(snap.messages.self, { accept: 1 })
})

test('commit events add their commands; cpuUs is whole microseconds that only grow', () => {
  const metrics = new ReplicaMetrics('r0', 'test', () => ({ fsyncs: 0, bytesWritten: 0 }))
  metrics.countEvent({ type: 'commit', commands: 3 })
  metrics.countEvent({ type: 'commit', commands: 2 })
  metrics.countEvent({ type: 'fast-path' })
  const first = metrics.snapshot()
  assert.equal(first.commandsCommitted, 5)
  assert.equal(first.events.commit, 2)
  assert.equal(first.events['fast-path'], 1)
  let x = 0
  for (let i = 0; i < 2e6; i++) x += i % 7
  assert.ok(x > 0)
  const second = metrics.snapshot()
  assert.ok(Number.isInteger(second.cpuUs.total))
  assert.ok(second.cpuUs.total > first.cpuUs.total, 'burning CPU shows up in cpuUs')
  assert.equal(second.cpuUs.total, second.cpuUs.user + second.cpuUs.system)
})
