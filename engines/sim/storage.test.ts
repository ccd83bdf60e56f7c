import assert from 'node:assert/strict'
import { test } from 'node:test'
import { SimStorage } from './storage.ts'

test('values are copied on put and on get', () => {
  const storage = new SimStorage()
  const value = { ballot: 3, log: [1, 2] }
  storage.put('a', value)
  value.log.push(99)
  const read = storage.get<typeof value>('a')!
  assert.deepEqual(read, { ballot: 3, log: [1, 2] })
  read.ballot = 100
  assert.equal(storage.get<typeof value>('a')!.ballot, 3)
})

test('scan returns the keys with a prefix in ascending order', () => {
  const storage = new SimStorage()
  for (const key of ['log/0003', 'log/0001', 'meta', 'log/0002', 'logx']) storage.put(key, key)
  storage.delete('log/0002')
  assert.deepEqual(
    storage.scan<string>('log/').map(([k]) => k),
    ['log/0001', 'log/0003'],
  )
  assert.equal(storage.get('log/0002'), undefined)
  assert.equal(storage.size, 4)
})

test('put undefined and overfilling throw', () => {
  const storage = new SimStorage(2)
  assert.throws(() => storage.put('a', undefined), TypeError)
  storage.put('a', 1)
  storage.put('b', 1)
  storage.put('a', 2) // replacing is fine
  assert.throws(() => storage.put('c', 1), /full/)
})
