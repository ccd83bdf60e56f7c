import assert from 'node:assert/strict'
import fs, { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import type { FileHandle } from 'node:fs/promises'
import { syncBuiltinESMExports } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { encodeRecord, FileStorage, LOG_FILE_NAME } from './file-storage.ts'
import { MemoryStorage } from './storage.ts'

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'host-storage-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

test('memory storage copies on put, scans in key order, is always durable', async () => {
  const storage = new MemoryStorage()
  const value = { slot: 1, cmds: ['a'] }
  storage.put('log/2', value)
  storage.put('log/1', { slot: 0 })
  storage.put('meta', 1)
  value.cmds.push('b')
  assert.deepEqual(storage.get('log/2'), { slot: 1, cmds: ['a'] })
  assert.deepEqual(
    storage.scan('log/').map(([k]) => k),
    ['log/1', 'log/2'],
  )
  storage.delete('log/1')
  assert.equal(storage.get('log/1'), undefined)
  assert.equal(storage.writes, 4)
  assert.equal(storage.durableWrites, 4)
  await storage.sync()
  assert.equal(storage.stats.fsyncs, 0)
})

test('file storage: writes read back at once, are durable after sync, and survive a reopen', async (t) => {
  const dir = tempDir(t)
  const storage = await FileStorage.open(dir)
  storage.put('ballot', { round: 3, node: 'r1' })
  storage.put('log/0001', { cmd: 'x' })
  storage.put('log/0002', { cmd: 'y' })
  storage.delete('log/0001')
  assert.deepEqual(storage.get('ballot'), { round: 3, node: 'r1' })
  assert.equal(storage.writes, 4)
  assert.equal(storage.durableWrites, 0)
  await storage.sync()
  assert.equal(storage.durableWrites, 4)
  assert.equal(storage.stats.fsyncs, 1, 'one fdatasync for the group of four writes')
  assert.equal(storage.stats.bytesWritten, statSync(join(dir, LOG_FILE_NAME)).size)
  await storage.close()

  const reopened = await FileStorage.open(dir)
  t.after(() => reopened.close())
  assert.deepEqual(reopened.scan(''), [
    ['ballot', { round: 3, node: 'r1' }],
    ['log/0002', { cmd: 'y' }],
  ])
  assert.equal(reopened.tornBytes, 0)
  assert.equal(reopened.replayedRecords, 4)
})

test('file storage: a torn last record is ignored and cut off, later appends replay', async (t) => {
  const dir = tempDir(t)
  const first = await FileStorage.open(dir)
  first.put('a', 1)
  first.put('b', 2)
  await first.close()
  const path = join(dir, LOG_FILE_NAME)
  const whole = readFileSync(path).length
  const record = encodeRecord(0, 'c', 'lost in the crash')
  appendFileSync(path, record.subarray(0, record.length - 3)) // a crash mid-write

  const second = await FileStorage.open(dir)
  assert.equal(second.tornBytes, record.length - 3)
  assert.equal(second.get('c'), undefined)
  assert.equal(readFileSync(path).length, whole, 'the torn tail is truncated')
  second.put('d', 4)
  await second.close()

  const third = await FileStorage.open(dir)
  t.after(() => third.close())
  assert.deepEqual(third.scan(''), [
    ['a', 1],
    ['b', 2],
    ['d', 4],
  ])
})

test('file storage: a last record with a bad checksum is ignored', async (t) => {
  const dir = tempDir(t)
  const good = encodeRecord(0, 'a', 'ok')
  const bad = encodeRecord(0, 'b', 'flipped')
  bad[bad.length - 1] = (bad[bad.length - 1]! ^ 0xff) & 0xff
  writeFileSync(join(dir, LOG_FILE_NAME), Buffer.concat([good, bad]))
  const storage = await FileStorage.open(dir)
  t.after(() => storage.close())
  assert.equal(storage.get('a'), 'ok')
  assert.equal(storage.get('b'), undefined)
  assert.equal(storage.tornBytes, bad.length)
})

test('file storage: compaction rewrites the log to its live keys and loses nothing', async (t) => {
  const dir = tempDir(t)
  const compactLogBytes = 4096
  const storage = await FileStorage.open(dir, { compactLogBytes })
  const path = join(dir, LOG_FILE_NAME)
  let maxSizeBytes = 0
  for (let round = 0; round < 200; round++) {
    for (let k = 0; k < 5; k++) storage.put(`key/${k}`, { round, pad: 'x'.repeat(40) })
    storage.put(`gone/${round}`, round)
    storage.delete(`gone/${round}`)
    await storage.sync()
    maxSizeBytes = Math.max(maxSizeBytes, statSync(path).size)
  }
  assert.ok(maxSizeBytes < compactLogBytes * 2, `log stayed bounded (max ${maxSizeBytes} bytes)`)
  assert.ok(storage.logSizeBytes < compactLogBytes * 2)
  const expected = storage.scan('')
  assert.equal(expected.length, 5)
  await storage.close()
  const reopened = await FileStorage.open(dir)
  t.after(() => reopened.close())
  assert.deepEqual(reopened.scan(''), expected)
  assert.deepEqual(reopened.get('key/3'), { round: 199, pad: 'x'.repeat(40) })
})

test('file storage: syncs requested while one is in flight group into few fdatasyncs', async (t) => {
  const dir = tempDir(t)
  const storage = await FileStorage.open(dir)
  const syncs: Array<Promise<void>> = []
  for (let i = 0; i < 50; i++) {
    storage.put(`k/${String(i).padStart(2, '0')}`, i)
    syncs.push(storage.sync())
    if (i % 10 === 9) await syncs[syncs.length - 1] // let some syncs reach the disk in between
  }
  await Promise.all(syncs)
  assert.equal(storage.durableWrites, 50)
  assert.ok(
    storage.stats.fsyncs >= 1 && storage.stats.fsyncs < 50,
    `${storage.stats.fsyncs} fsyncs for 50 writes`,
  )
  await storage.close()
  const reopened = await FileStorage.open(dir)
  t.after(() => reopened.close())
  assert.equal(reopened.scan('k/').length, 50)
})

/** The storage's open log handle, to inject faults (a test reaching into a private field). */
function logHandle(storage: FileStorage): FileHandle {
  const handle = (storage as unknown as { handle: FileHandle | null }).handle
  assert.ok(handle !== null)
  return handle
}

test('file storage: a failed fdatasync is final, every later sync rejects, close releases the file', async (t) => {
  const dir = tempDir(t)
  const storage = await FileStorage.open(dir)
  const handle = logHandle(storage)
  const realDatasync = handle.datasync.bind(handle)
  let failures = 0
  handle.datasync = () => {
    if (failures++ === 0) return Promise.reject(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }))
    return realDatasync()
  }
  storage.put('a', 1)
  await assert.rejects(storage.sync(), /EIO/)
  assert.equal(storage.durableWrites, 0)
  // The disk "recovers", but after a failed fdatasync nothing proves the earlier write reached it.
  storage.put('b', 2)
  await assert.rejects(storage.sync(), /EIO/)
  await assert.rejects(storage.sync(), /EIO/)
  assert.equal(storage.durableWrites, 0, 'never reported durable')
  await assert.rejects(storage.close(), /EIO/)
  assert.equal(storage.durableWrites, 0)
  assert.equal((storage as unknown as { handle: FileHandle | null }).handle, null, 'the file is closed')
})

test('file storage: a short write is finished, so no torn record sits in the middle of the log', async (t) => {
  const dir = tempDir(t)
  const storage = await FileStorage.open(dir)
  const handle = logHandle(storage)
  const realWrite = handle.write.bind(handle) as (b: Buffer, o: number, l: number) => Promise<unknown>
  // The kernel may write fewer bytes than asked (a signal, a nearly full disk): 7 at a time here.
  handle.write = ((buffer: Buffer, offset: number, length: number) =>
    realWrite(buffer, offset, Math.min(length, 7))) as typeof handle.write
  storage.put('a', 'first value')
  await storage.sync()
  storage.put('b', 'second value')
  await storage.sync()
  await storage.close()
  const reopened = await FileStorage.open(dir)
  t.after(() => reopened.close())
  assert.equal(reopened.tornBytes, 0)
  assert.deepEqual(reopened.scan(''), [
    ['a', 'first value'],
    ['b', 'second value'],
  ])
})

test('file storage: creating the log fsyncs its directory, and the parents of directories it made', async (t) => {
  const base = tempDir(t)
  const dir = join(base, 'run', 'r0')
  const realOpenSync = fs.openSync
  const realFsyncSync = fs.fsyncSync
  const openPaths = new Map<number, string>()
  const fsynced: string[] = []
  fs.openSync = ((path: fs.PathLike, ...rest: unknown[]) => {
    const fd = (realOpenSync as (...args: unknown[]) => number)(path, ...rest)
    openPaths.set(fd, String(path))
    return fd
  }) as typeof fs.openSync
  fs.fsyncSync = (fd: number) => {
    fsynced.push(openPaths.get(fd) ?? `fd ${fd}`)
    realFsyncSync(fd)
  }
  syncBuiltinESMExports()
  let storage: FileStorage
  try {
    storage = await FileStorage.open(dir)
  } finally {
    fs.openSync = realOpenSync
    fs.fsyncSync = realFsyncSync
    syncBuiltinESMExports()
  }
  t.after(() => storage.close())
  for (const d of [dir, join(base, 'run'), base]) assert.ok(fsynced.includes(d), `${d} fsynced: ${fsynced}`)
})
