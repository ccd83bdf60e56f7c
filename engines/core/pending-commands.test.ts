import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Command } from './command.ts'
import { PendingCommands } from './pending-commands.ts'

const cmd = (client: string, seq: number): Command => ({ id: { client, seq }, op: 'get', key: 'k' })

describe('PendingCommands', () => {
  it('admits up to its limit, refreshes a retried id, and settles once', () => {
    const pending = new PendingCommands(2)
    assert.equal(pending.admit(cmd('a', 1), 0), true)
    assert.equal(pending.admit(cmd('b', 1), 0), true)
    assert.equal(pending.admit(cmd('c', 1), 0), false, 'a new command beyond the limit')
    assert.equal(pending.admit(cmd('a', 1), 5), true, 'a retried id is not new')
    assert.equal(pending.size, 2)
    assert.equal(pending.settle({ client: 'a', seq: 1 }), true)
    assert.equal(pending.settle({ client: 'a', seq: 1 }), false)
    assert.equal(pending.size, 1)
  })

  it('stale() returns only commands forwarded retryMs ago or more, and restarts their clock', () => {
    const pending = new PendingCommands(10)
    pending.admit(cmd('a', 1), 0)
    pending.admit(cmd('b', 1), 50)
    assert.deepEqual(
      pending.stale(100, 100, 0).map((c) => c.id.client),
      ['a'],
    )
    assert.deepEqual(pending.stale(120, 100, 0), [], 'a was just marked forwarded')
    assert.deepEqual(
      pending.all(130).map((c) => c.id.client),
      ['a', 'b'],
    )
    assert.deepEqual(pending.stale(200, 100, 0), [], 'all() marked both forwarded at 130')
  })

  it('rejects a limit below 1', () => {
    assert.throws(() => new PendingCommands(0), RangeError)
  })
})
