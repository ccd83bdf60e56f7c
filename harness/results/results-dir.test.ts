import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { test } from 'node:test'
import { createResultsDir, utcStamp, writeJsonAtomic } from './results-dir.ts'

test('results dirs: <UTC stamp>-<engine>-<random>, a new one every time, even in the same second', () => {
  const root = mkdtempSync(join(tmpdir(), 'cb-results-test-'))
  try {
    const now = new Date('2026-11-26T14:02:15.123Z')
    assert.equal(utcStamp(now), '20261126T140215Z')
    const dirs = Array.from({ length: 20 }, () => createResultsDir(root, 'multipaxos', now))
    assert.equal(new Set(dirs).size, 20)
    for (const d of dirs) assert.match(basename(d), /^20261126T140215Z-multipaxos-[0-9a-f]{6}$/)
    assert.equal(readdirSync(root).length, 20)
    assert.throws(() => createResultsDir(root, '../escape'), /not safe in a path/)
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
})

test('writeJsonAtomic replaces the file whole and leaves no temp file', () => {
  const root = mkdtempSync(join(tmpdir(), 'cb-results-test-'))
  try {
    const path = join(root, 'summary.json')
    writeJsonAtomic(path, { status: 'incomplete' })
    writeJsonAtomic(path, { status: 'complete' })
    assert.deepEqual(JSON.parse(readFileSync(path, 'utf8')), { status: 'complete' })
    assert.deepEqual(readdirSync(root), ['summary.json'])
    assert.ok(existsSync(path))
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
})
