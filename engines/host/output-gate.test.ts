import assert from 'node:assert/strict'
import { test } from 'node:test'
import { encodeFrame } from './frame.ts'
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
  return { kind: 'send', to, type: `m${n}`, frame: encodeFrame({ type: `m${n}` }) }
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

test('outputs of a handler that wrote leave only after the sync; later handlers share the next sync', async () => {
  const storage = new ManualSyncStorage()
  const released: string[] = []
  const gate = new OutputGate(
    storage,
    (o) => released.push(o.kind === 'send' ? o.type : 'reply'),
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

/** Storage whose every sync fails, like a disk returning EIO to fdatasync. */
class FailingSyncStorage extends MemoryStorage implements DurableStorage {
  syncCalls = 0
  override get durableWrites(): number {
    return 0
  }
  override sync(): Promise<void> {
    this.syncCalls++
    return Promise.reject(new Error('EIO: fdatasync failed'))
  }
}

test('a failed sync is final: nothing is released after it, it is reported once, and drain resolves', async () => {
  const storage = new FailingSyncStorage()
  const released: Output[] = []
  const errors: unknown[] = []
  const gate = new OutputGate(
    storage,
    (o) => released.push(o),
    (err) => errors.push(err),
  )
  gate.run(() => {
    storage.put('a', 1)
    gate.push(send('r1', 1))
  })
  await tick()
  assert.equal(errors.length, 1)
  assert.match(String(errors[0]), /EIO/)
  assert.ok(gate.failed)
  // A later handler, with or without writes, must not sync again nor release anything.
  gate.run(() => {
    storage.put('b', 2)
    gate.push(send('r1', 2))
  })
  gate.run(() => gate.push(send('r2', 3)))
  await Promise.race([
    gate.drain(),
    new Promise((_, reject) => setTimeout(() => reject(new Error('drain hung after a failed sync')), 500)),
  ])
  await tick()
  assert.deepEqual(released, [])
  assert.equal(errors.length, 1, 'reported once')
  assert.equal(storage.syncCalls, 1, 'no sync after the failure')
})

test('the outputs of a handler that throws never leave, and nothing after it does', async () => {
  const storage = new MemoryStorage()
  const released: Output[] = []
  const gate = new OutputGate(
    storage,
    (o) => released.push(o),
    (err) => assert.fail(String(err)),
  )
  assert.throws(
    () =>
      gate.run(() => {
        storage.put('half', 1)
        gate.push(send('r1', 1))
        throw new Error('assertion failed halfway')
      }),
    /halfway/,
  )
  gate.run(() => gate.push(send('r1', 2)))
  await gate.drain()
  assert.deepEqual(released, [], 'a broken engine sends nothing')
  assert.ok(gate.failed)
})

test('a release that throws after a sync is reported through onSyncError, not an unhandled rejection', async () => {
  const storage = new ManualSyncStorage()
  const errors: unknown[] = []
  const gate = new OutputGate(
    storage,
    () => {
      throw new Error('release blew up')
    },
    (err) => errors.push(err),
  )
  gate.run(() => {
    storage.put('a', 1)
    gate.push(send('r1', 1))
  })
  storage.syncCalls[0]!()
  await tick()
  assert.equal(errors.length, 1)
  assert.match(String(errors[0]), /release blew up/)
  assert.ok(gate.failed)
})
