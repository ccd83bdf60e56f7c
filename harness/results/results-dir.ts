/**
 * A new results directory per run, never an existing one: `results/<UTC timestamp>-<engine>-<random>/`.
 * The final mkdir is not recursive, so two runs can never share a directory even if they race.
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

/** 2026-11-26T14:02:15.123Z -> 20261126T140215Z */
export function utcStamp(date: Date): string {
  return date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')
}

export function createResultsDir(root: string, engine: string, now = new Date()): string {
  if (!/^[a-z0-9-]+$/.test(engine)) throw new Error(`engine name '${engine}' is not safe in a path`)
  mkdirSync(root, { recursive: true })
  for (let attempt = 0; attempt < 10; attempt++) {
    const dir = join(root, `${utcStamp(now)}-${engine}-${randomBytes(3).toString('hex')}`)
    try {
      mkdirSync(dir)
      return dir
    } catch (err: unknown) {
      if ((err as { code?: unknown }).code !== 'EEXIST') throw err
    }
  }
  throw new Error(`could not create a new results directory under ${root}`)
}

/** Writes JSON so a reader never sees half a file: write a temp file, then rename over. */
export function writeJsonAtomic(path: string, value: unknown): void {
  const tmp = `${path}.tmp-${process.pid}`
  writeFileSync(tmp, JSON.stringify(value, null, 2) + '\n')
  renameSync(tmp, path)
}
