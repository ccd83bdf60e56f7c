import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Command } from './command.ts'
import { CommandQueue } from './command-queue.ts'

const put = (client: string, seq: number): Command => ({
  id: { client, seq },
  op: 'put',
  key: 'k',
  value: 'v',
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
