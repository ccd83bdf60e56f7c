import assert from 'node:assert/strict'
import { test } from 'node:test'
import { type Output, OutputGate } from './output-gate.ts'
import { type DurableStorage, MemoryStorage, type StorageStats } from './storage.ts'

/** Storage whose syncs finish only when the test says so. */
class ManualSyncStorage extends MemoryStorage implements DurableStorage {
  private durable = 0
  readonly syncCalls: Array<() => void> = []
  override readonly stats: StorageStats = { fsyncs: 0, bytesWritten: 0 }
  override get durableWrites(): number {
    return this.durable
  }
  override sync(): Promise<void> {
    const target = this.writes
    return new Promise((resolve) => {
      this.syncCalls.push(() => {
        this.durable = target
        this.stats.fsyncs++
        resolve()
      })
    })
  }
}

function send(to: string, n: number): Output {
  return { kind: 'send', to, msg: { type: `m${n}` } }
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

test('outputs of a handler that wrote leave only after the sync; later handlers share the next sync', async () => {
  const storage = new ManualSyncStorage()
  const released: string[] = []
  const gate = new OutputGate(
    storage,
    (o) => released.push(o.kind === 'send' ? o.msg.type : 'reply'),
    (err) => assert.fail(String(err)),
  )
  gate.run(() => {
    storage.put('a', 1)
    gate.push(send('r1', 1))
  })
  assert.deepEqual(released, [], 'held until durable')
  assert.equal(storage.syncCalls.length, 1)
  // Two handlers run while the first sync is in flight: one writes, one only reads.
  gate.run(() => {
    storage.put('b', 2)
    gate.push(send('r1', 2))
  })
  gate.run(() => gate.push(send('r2', 3)))
  assert.equal(storage.syncCalls.length, 1, 'no second sync while one is in flight')
  storage.syncCalls[0]!()
  await tick()
  assert.deepEqual(released, ['m1'], 'only the first batch was covered')
  assert.equal(storage.syncCalls.length, 2, 'one sync for the two handlers that ran meanwhile')
  storage.syncCalls[1]!()
  await tick()
  assert.deepEqual(released, ['m1', 'm2', 'm3'], 'released in the order the handlers ran')
  await gate.drain()
  assert.equal(storage.stats.fsyncs, 2)
})

test('with nothing pending, outputs leave at once', () => {
  const storage = new MemoryStorage()
  const released: Output[] = []
  const gate = new OutputGate(
    storage,
    (o) => released.push(o),
    (err) => assert.fail(String(err)),
  )
  gate.run(() => {
    storage.put('a', 1)
    gate.push(send('r1', 1))
    gate.push({ kind: 'reply', id: { client: 'c', seq: 1 }, outcome: { status: 'ok', value: null } })
    assert.equal(released.length, 0, 'nothing leaves during the handler')
  })
  assert.equal(released.length, 2)
})

test('handlers must not nest, and push outside a handler is a bug', () => {
  const gate = new OutputGate(
    new MemoryStorage(),
    () => {},
    (err) => assert.fail(String(err)),
  )
  assert.throws(() => gate.push(send('r1', 1)), /outside an engine handler/)
  assert.throws(() => gate.run(() => gate.run(() => {})), /re-entered/)
})
