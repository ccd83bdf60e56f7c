/**
 * Simulated durable storage. It survives a crash (the simulator keeps it when it discards the engine),
 * and it copies values on put and on get, so an engine that mutates an object after storing it, or
 * mutates what it read, cannot change what is "on disk" - the same behaviour as an encoded store.
 */
import type { Storage } from '../core/engine.ts'
import { copyPlain } from './copy.ts'

export class SimStorage implements Storage {
  private readonly data = new Map<string, unknown>()
  private writeCount = 0

  /** maxKeys: a bound on stored keys; an engine that never compacts fails loudly instead of slowly */
  constructor(private readonly maxKeys = 1_000_000) {}

  get<T>(key: string): T | undefined {
    const value = this.data.get(key)
    return value === undefined ? undefined : (copyPlain(value) as T)
  }

  put(key: string, value: unknown): void {
    if (value === undefined) throw new TypeError(`storage.put('${key}', undefined): use delete`)
    if (!this.data.has(key) && this.data.size >= this.maxKeys)
      throw new RangeError(`storage is full (${this.maxKeys} keys)`)
    this.data.set(key, copyPlain(value))
    this.writeCount++
  }

  delete(key: string): void {
    this.data.delete(key)
    this.writeCount++
  }

  scan<T>(prefix: string): Array<[string, T]> {
    const keys: string[] = []
    for (const key of this.data.keys()) if (key.startsWith(prefix)) keys.push(key)
    keys.sort()
    return keys.map((key) => [key, copyPlain(this.data.get(key)) as T])
  }

  get size(): number {
    return this.data.size
  }

  /** puts and deletes since creation */
  get writes(): number {
    return this.writeCount
  }
}
