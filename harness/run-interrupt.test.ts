/**
 * SIGINT in the middle of a cell, in process: the signal handler's process.exit is replaced by a recorder,
 * so what the run does after the interrupt is visible. An interrupted cell must never be written as
 * complete (the CLI exits 130 with summary.json 'incomplete').
 */
import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { tracked } from './launchers/cleanup.ts'
import type { RunSummary } from './results/summary.ts'
import { runBenchmark } from './run.ts'

test('run: a SIGINT mid-cell fails the run; summary.json stays incomplete with no half-measured cell', async () => {
  const root = mkdtempSync(join(tmpdir(), 'cb-run-interrupt-test-'))
  const exitCodes: Array<number | string | null | undefined> = []
  const realExit = process.exit
  process.exit = ((code?: number | string | null) => {
    exitCodes.push(code)
  }) as typeof process.exit
  try {
    let signalled = false
    const run = runBenchmark(
      {
        engine: 'fake',
        hostEntry: 'harness/launchers/testdata/fake-host.ts',
        replicas: 2,
        clientsPerSite: 1,
        durationMs: 5000,
        warmupMs: 200,
        storage: 'memory',
        resultsRoot: root,
      },
      {
        progress: (line) => {
          if (!signalled && /: 1 s, \d+ commands/.test(line)) {
            signalled = true
            process.kill(process.pid, 'SIGINT')
          }
        },
      },
    )
    await assert.rejects(run, /interrupted/)
    assert.ok(signalled)
    // the handler's exit comes after its bounded stop of the replicas
    for (let i = 0; i < 100 && exitCodes.length === 0; i++) await new Promise((r) => setTimeout(r, 50))
    assert.deepEqual(exitCodes, [130])
    const [runId] = readdirSync(root)
    const summary = JSON.parse(readFileSync(join(root, runId!, 'summary.json'), 'utf8')) as RunSummary
    assert.equal(summary.status, 'incomplete')
    assert.deepEqual(summary.cells, [])
    assert.deepEqual(tracked(), { pids: [], dirs: [] })
  } finally {
    process.exit = realExit
    rmSync(root, { recursive: true, force: true })
  }
})
