/**
 * Replica storage behind the engine's Storage interface, plus what the runtime needs for the
 * persist-then-send rule: a write counter, a durable-write counter, and sync() to close the gap.
 *
 * Values are copied on put through a msgpack round trip, in both kinds, so a value reads back the same
 * from memory as it would after a restart from a file (and mutating it after put changes nothing stored).
 */
import type { Storage } from '../core/engine.ts'
import { decodeValue, encodeValue } from './frame.ts'

export interface StorageStats {
  fsyncs: number
  bytesWritten: number
}

export interface DurableStorage extends Storage {
  /** puts and deletes made so far */
  readonly writes: number
  /** how many of those are durable; equal to `writes` when nothing waits for a sync */
  readonly durableWrites: number
  /** Makes every write made before the call durable: one append and one fdatasync for the group. */
  sync(): Promise<void>
  /**
   * Syncs what is pending (unless `flush` is false: after a fatal error, what the engine wrote since
   * must not become durable) and releases the file. Rejects if that sync fails; the file is released.
   */
  close(flush?: boolean): Promise<void>
  readonly stats: Readonly<StorageStats>
}

/** Every [key, value] whose key starts with prefix, in ascending key order (O(n log n): for recovery). */
export function scanMap<T>(map: Map<string, unknown>, prefix: string): Array<[string, T]> {
  const keys: string[] = []
  for (const key of map.keys()) if (key.startsWith(prefix)) keys.push(key)
  keys.sort()
  return keys.map((key) => [key, map.get(key) as T])
}

/** No durability: every write counts as durable at once. For tests and in-memory benchmarks. */
export class MemoryStorage implements DurableStorage {
  private readonly map = new Map<string, unknown>()
  private writeCount = 0
  readonly stats: StorageStats = { fsyncs: 0, bytesWritten: 0 }

  get<T>(key: string): T | undefined {
    return this.map.get(key) as T | undefined
  }
  put(key: string, value: unknown): void {
    this.map.set(key, decodeValue(encodeValue(value)))
    this.writeCount++
  }
  delete(key: string): void {
    this.map.delete(key)
    this.writeCount++
  }
  scan<T>(prefix: string): Array<[string, T]> {
    return scanMap<T>(this.map, prefix)
  }
  get writes(): number {
    return this.writeCount
  }
  get durableWrites(): number {
    return this.writeCount
  }
  async sync(): Promise<void> {}
  async close(_flush = true): Promise<void> {}
}
