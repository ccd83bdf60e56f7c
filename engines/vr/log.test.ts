import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Command } from '../core/command.ts'
import { SimStorage } from '../sim/storage.ts'
import { VrLog } from './log.ts'
import type { Op } from './messages.ts'

const op = (client: string, seq = 1): Op => ({
  commands: [{ id: { client, seq }, op: 'put', key: 'k', value: client } satisfies Command],
})

describe('VrLog', () => {
  it('durable: a restart finds view, status, ops and commit-number; a truncation is durable too', () => {
    const storage = new SimStorage()
    const { log, boot } = VrLog.load(storage, true, 2)
    assert.equal(boot, 'first-boot')
    assert.deepEqual([log.view, log.status, log.lastNormalView], [2, 'normal', 2])
    for (const c of ['a', 'b', 'c']) log.append(op(c))
    log.setCommitNumber(2)
    log.setView(3, 'view-change')
    log.truncate(2)
    const again = VrLog.load(storage, true, 0)
    assert.equal(again.boot, 'restored')
    assert.deepEqual([again.log.view, again.log.status, again.log.lastNormalView], [3, 'view-change', 2])
    assert.deepEqual([again.log.opNumber, again.log.commitNumber], [2, 2])
    assert.throws(() => again.log.truncate(1), /truncating committed op 2/)
  })

  it('volatile: only the boot marker survives, so a restart knows its state is lost', () => {
    const storage = new SimStorage()
    const { log } = VrLog.load(storage, false, 0)
    log.append(op('a'))
    log.setCommitNumber(1)
    assert.deepEqual(
      storage.scan('vr/').map(([key]) => key),
      ['vr/booted'],
    )
    const again = VrLog.load(storage, false, 0)
    assert.equal(again.boot, 'state-lost')
    assert.equal(again.log.status, 'recovering')
  })

  it('replaceSuffix keeps the committed prefix and throws when a new log changes an executed op', () => {
    const { log } = VrLog.load(new SimStorage(), true, 0)
    for (const c of ['a', 'b', 'x']) log.append(op(c))
    log.setCommitNumber(2)
    log.replaceSuffix(2, [op('c'), op('d')], 2)
    assert.deepEqual(
      log.slice(0).map((o) => o.commands[0]!.id.client),
      ['a', 'b', 'c', 'd'],
    )
    assert.throws(() => log.replaceSuffix(0, [op('a')], 2), /safety: new log of 1 ops drops executed ops/)
    assert.throws(() => log.replaceSuffix(1, [op('z'), op('y')], 2), /safety: executed op 2 differs/)
    assert.throws(() => log.replaceSuffix(3, [], 2), /uncommitted prefix/)
  })

  it('installCommitted overwrites uncommitted ops at committed positions and keeps the ops above', () => {
    const { log } = VrLog.load(new SimStorage(), true, 0)
    for (const c of ['a', 'stale', 'above']) log.append(op(c))
    log.setCommitNumber(1)
    log.installCommitted(1, [op('b')], 1)
    assert.equal(log.commitNumber, 2)
    assert.deepEqual(
      log.slice(0).map((o) => o.commands[0]!.id.client),
      ['a', 'b', 'above'],
    )
  })
})
