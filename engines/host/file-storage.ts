/**
 * File storage: an append-only log of put/delete records, replayed into a map at start.
 *
 * Record framing: u32 BE payload length, u32 BE crc32 of the payload, payload = msgpack
 * [op, key, value?] with op 0 = put, 1 = delete. Replay stops at the first record that is short or fails
 * its checksum (a torn write from a crash) and truncates the file there, so later appends never sit
 * behind garbage. Durability: sync() appends every pending record with one write and one fdatasync.
 * Compaction: when the log passes `compactLogBytes`, sync() instead writes the whole map to a new file,
 * fdatasyncs it, renames it over the log and fsyncs the directory (atomic: a crash leaves old or new).
 * A failed sync is final: every later sync rejects with the same error. After a failed fdatasync the
 * kernel may have dropped the dirty pages and a retry that succeeds would prove nothing (PostgreSQL's
 * "fsyncgate"), and after a failed write the file may end in a partial record.
 */
import {
  closeSync,
  existsSync,
  fdatasyncSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
} from 'node:fs'
import { type FileHandle, open, rename, writeFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { crc32 } from 'node:zlib'
import { decodeValue, encodeValue } from './frame.ts'
import { type DurableStorage, type StorageStats, scanMap } from './storage.ts'

const RECORD_HEADER_BYTES = 8
const OP_PUT = 0
const OP_DELETE = 1
export const LOG_FILE_NAME = 'kv.log'
export const DEFAULT_COMPACT_LOG_BYTES = 64 * 1024 * 1024

export interface FileStorageOptions {
  /** compact when the log file grows past this many bytes */
  compactLogBytes?: number
}

export interface ReplayResult {
  readonly map: Map<string, unknown>
  /** bytes of whole, valid records; anything after is a torn tail */
  readonly validBytes: number
  readonly records: number
}

export function encodeRecord(op: typeof OP_PUT | typeof OP_DELETE, key: string, value?: unknown): Buffer {
  const payload = encodeValue(op === OP_PUT ? [op, key, value] : [op, key])
  const record = Buffer.allocUnsafe(RECORD_HEADER_BYTES + payload.length)
  record.writeUInt32BE(payload.length, 0)
  record.writeUInt32BE(crc32(payload), 4)
  payload.copy(record, RECORD_HEADER_BYTES)
  return record
}

/** Applies every whole, checksummed record in order; stops at the first that is not. */
export function replayLog(bytes: Buffer): ReplayResult {
  const map = new Map<string, unknown>()
  let offset = 0
  let records = 0
  while (bytes.length - offset >= RECORD_HEADER_BYTES) {
    const length = bytes.readUInt32BE(offset)
    const checksum = bytes.readUInt32BE(offset + 4)
    const end = offset + RECORD_HEADER_BYTES + length
    if (end > bytes.length) break
    const payload = bytes.subarray(offset + RECORD_HEADER_BYTES, end)
    if (crc32(payload) !== checksum) break
    let record: unknown
    try {
      record = decodeValue(payload)
    } catch {
      break
    }
    if (!Array.isArray(record) || typeof record[1] !== 'string') break
    if (record[0] === OP_PUT) map.set(record[1], record[2])
    else if (record[0] === OP_DELETE) map.delete(record[1])
    else break
    records++
    offset = end
  }
  return { map, validBytes: offset, records }
}

export class FileStorage implements DurableStorage {
  readonly stats: StorageStats = { fsyncs: 0, bytesWritten: 0 }
  private readonly map: Map<string, unknown>
  private readonly path: string
  private handle: FileHandle | null = null
  private pending: Buffer[] = []
  private writeCount = 0
  private durableCount = 0
  private logBytes: number
  private compactLogBytes: number
  private syncing: Promise<void> = Promise.resolve()
  private closed = false
  private failure: { readonly error: unknown } | null = null
  /** a torn tail found (and cut off) at open, in bytes; for logs and tests */
  readonly tornBytes: number
  readonly replayedRecords: number

  private constructor(
    private readonly dir: string,
    options: FileStorageOptions,
  ) {
    const firstCreated = mkdirSync(dir, { recursive: true })
    this.path = join(dir, LOG_FILE_NAME)
    rmSync(`${this.path}.tmp`, { force: true }) // a compaction that crashed before its rename
    const logExisted = existsSync(this.path)
    if (!logExisted) {
      // A new file's name is durable only once its directory is synced, and a new directory's once
      // its parent is: without this, a crash could lose the whole log after its records were synced.
      closeSync(openSync(this.path, 'a'))
      fsyncDirectory(dir)
      if (firstCreated !== undefined) {
        const stop = dirname(resolve(firstCreated))
        for (let d = resolve(dir); d !== stop && d !== dirname(d); d = dirname(d)) fsyncDirectory(dirname(d))
      }
    }
    const bytes = logExisted ? readFileSync(this.path) : Buffer.alloc(0)
    const replay = replayLog(bytes)
    this.map = replay.map
    this.tornBytes = bytes.length - replay.validBytes
    this.replayedRecords = replay.records
    this.logBytes = replay.validBytes
    if (this.tornBytes > 0) {
      const fd = openSync(this.path, 'r+')
      try {
        ftruncateSync(fd, replay.validBytes)
        fdatasyncSync(fd)
      } finally {
        closeSync(fd)
      }
    }
    this.compactLogBytes = options.compactLogBytes ?? DEFAULT_COMPACT_LOG_BYTES
    if (!(this.compactLogBytes > 0)) throw new RangeError('compactLogBytes must be positive')
  }

  static async open(dir: string, options: FileStorageOptions = {}): Promise<FileStorage> {
    const storage = new FileStorage(dir, options)
    storage.handle = await open(storage.path, 'a')
    return storage
  }

  get<T>(key: string): T | undefined {
    return this.map.get(key) as T | undefined
  }

  put(key: string, value: unknown): void {
    this.assertOpen()
    const record = encodeRecord(OP_PUT, key, value)
    // The map holds what the record decodes to: memory and disk can never disagree.
    const decoded = decodeValue(record.subarray(RECORD_HEADER_BYTES)) as unknown[]
    this.map.set(key, decoded[2])
    this.append(record)
  }

  delete(key: string): void {
    this.assertOpen()
    this.map.delete(key)
    this.append(encodeRecord(OP_DELETE, key))
  }

  scan<T>(prefix: string): Array<[string, T]> {
    return scanMap<T>(this.map, prefix)
  }

  get writes(): number {
    return this.writeCount
  }

  get durableWrites(): number {
    return this.durableCount
  }

  get logSizeBytes(): number {
    return this.logBytes
  }

  sync(): Promise<void> {
    // Chained, so two callers never interleave appends or race a compaction.
    const next = this.syncing.then(() => this.syncNow())
    this.syncing = next.catch(() => {})
    return next
  }

  async close(flush = true): Promise<void> {
    if (this.closed) return
    try {
      if (flush) await this.sync()
      else await this.syncing // never close the handle under a write in flight
    } finally {
      this.closed = true
      this.pending = []
      const handle = this.handle
      this.handle = null
      await handle?.close()
    }
  }

  private append(record: Buffer): void {
    this.pending.push(record)
    this.writeCount++
  }

  private async syncNow(): Promise<void> {
    if (this.failure !== null) throw this.failure.error
    if (this.pending.length === 0) return
    try {
      await this.syncPending()
    } catch (err) {
      this.failure = { error: err }
      throw err
    }
  }

  private async syncPending(): Promise<void> {
    const target = this.writeCount
    if (this.logBytes >= this.compactLogBytes) {
      await this.compact(target)
      return
    }
    const batch = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending)
    this.pending = []
    const handle = this.handle
    if (handle === null) throw new Error('file storage is closed')
    // A write may be short (a signal, a full disk): finish it, or a torn record would sit mid-log and
    // replay would stop there, dropping every later record.
    for (let offset = 0; offset < batch.length; ) {
      const { bytesWritten } = await handle.write(batch, offset, batch.length - offset)
      if (!(bytesWritten > 0)) throw new Error(`file storage: write made no progress at ${offset}`)
      offset += bytesWritten
    }
    await handle.datasync()
    this.logBytes += batch.length
    this.stats.bytesWritten += batch.length
    this.stats.fsyncs++
    this.durableCount = target
  }

  /** Rewrites the log as one put per live key; covers every write made up to `target`. */
  private async compact(target: number): Promise<void> {
    // Snapshot synchronously: writes made while the new file is written go to `pending` and are
    // appended to the new log by the next sync.
    const parts: Buffer[] = []
    for (const [key, value] of this.map) parts.push(encodeRecord(OP_PUT, key, value))
    const snapshot = Buffer.concat(parts)
    this.pending = []
    const tmp = `${this.path}.tmp`
    await writeFile(tmp, snapshot)
    const tmpHandle = await open(tmp, 'r+')
    try {
      await tmpHandle.datasync()
    } finally {
      await tmpHandle.close()
    }
    const old = this.handle
    await rename(tmp, this.path)
    const dirHandle = await open(this.dir, 'r')
    try {
      await dirHandle.sync()
    } finally {
      await dirHandle.close()
    }
    this.handle = await open(this.path, 'a')
    await old?.close()
    this.stats.fsyncs += 2
    this.stats.bytesWritten += snapshot.length
    this.logBytes = snapshot.length
    // A log that stays large after compaction is mostly live data: compact again only when it doubles.
    this.compactLogBytes = Math.max(this.compactLogBytes, snapshot.length * 2)
    this.durableCount = target
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('write to closed file storage')
  }
}

/** Makes a directory's entries (a created or renamed file) durable. */
function fsyncDirectory(dir: string): void {
  const fd = openSync(dir, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}
