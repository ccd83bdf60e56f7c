import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Command } from './command.ts'
import { CommandQueue, PendingCommands } from './origin.ts'

const put = (client: string, seq: number): Command => ({
  id: { client, seq },
  op: 'put',
  key: 'k',
  value: 'v',
})

describe('PendingCommands', () => {
  it('bounds new commands, renews a known one, and completes each once', () => {
    const pending = new PendingCommands(1)
    assert.equal(pending.add(put('a', 1), 0), true)
    assert.equal(pending.add(put('b', 1), 0), false, 'over the limit')
    assert.equal(pending.add(put('a', 1), 50), true, 'a retry of a known id always fits')
    assert.deepEqual(pending.resendStale(100, 60), [], 'renewed at 50: not stale at 100')
    assert.equal(pending.resendStale(110, 60).length, 1)
    assert.equal(pending.complete({ client: 'a', seq: 1 }), true)
    assert.equal(pending.complete({ client: 'a', seq: 1 }), false)
    assert.equal(pending.size, 0)
  })
})

describe('CommandQueue', () => {
  it('drops ids queued or in flight until forgotten, and bounds its length', () => {
    const queue = new CommandQueue(2)
    queue.push([put('a', 1), put('a', 1), put('b', 1), put('c', 1)])
    assert.equal(queue.length, 2, 'duplicate dropped, then the limit')
    assert.deepEqual(
      queue.take(5).map((c) => c.id.client),
      ['a', 'b'],
    )
    queue.push([put('a', 1)])
    assert.equal(queue.length, 0, 'in flight: not queued again')
    queue.forget({ client: 'a', seq: 1 })
    queue.push([put('a', 1)])
    assert.equal(queue.length, 1)
  })
})
