/**
 * A matrix run interrupted by SIGINT keeps its finished cells and says 'incomplete'; resuming it runs only
 * the cells it lacks and marks it complete. In process (the signal handler's process.exit is recorded, as
 * in run-interrupt.test.ts), over the fake replica host so each cell takes a second or two.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { tracked } from './launchers/cleanup.ts'
import { cellId, type MatrixPlan } from './matrix.ts'
import { readPlan } from './matrix-run.ts'
import type { RunSummary } from './results/summary.ts'
import { runMatrix } from './run.ts'

test('matrix: SIGINT keeps the finished cells (incomplete); --resume runs only the rest', async () => {
  const root = mkdtempSync(join(tmpdir(), 'cb-matrix-resume-test-'))
  const exitCodes: Array<number | string | null | undefined> = []
  const realExit = process.exit
  process.exit = ((code?: number | string | null) => {
    exitCodes.push(code)
  }) as typeof process.exit
  const plan: MatrixPlan = {
    name: 'resume-test',
    claims: true,
    notes: [],
    cells: [0, 0.5, 1].map((conflict) => ({
      id: cellId('fake', 'none', conflict, 1),
      label: 'fake',
      options: {
        engine: 'fake',
        hostEntry: 'harness/launchers/testdata/fake-host.ts',
        replicas: 2,
        clientsPerSite: 1,
        conflict,
        durationMs: 1500,
        warmupMs: 200,
        storage: 'memory',
        report: false,
        resultsRoot: root,
      },
    })),
  }
  try {
    let secondCell = false
    let signalled = false
    const lines: string[] = []
    const run = runMatrix(plan, {
      progress: (line) => {
        lines.push(line)
        if (line.startsWith('cell 2/3')) secondCell = true
        if (secondCell && !signalled && /: 1 s, \d+ commands/.test(line)) {
          signalled = true
          process.kill(process.pid, 'SIGINT')
        }
      },
    })
    await assert.rejects(run, /interrupted/)
    assert.ok(signalled, lines.join('\n'))
    for (let i = 0; i < 100 && exitCodes.length === 0; i++) await new Promise((r) => setTimeout(r, 50))
    assert.deepEqual(exitCodes, [130])
    const [runId] = readdirSync(root)
    const dir = join(root, runId!)
    const interrupted = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as RunSummary
    assert.equal(interrupted.status, 'incomplete')
    assert.deepEqual(
      interrupted.cells.map((c) => c.id),
      [plan.cells[0]!.id],
    )
    assert.deepEqual(tracked(), { pids: [], dirs: [] })

    // resume: the plan comes back from run.json; the first cell is kept as it was, not run again
    assert.deepEqual(readPlan(dir).cells, plan.cells)
    const progress: string[] = []
    const resumed = await runMatrix(readPlan(dir), { progress: (l) => progress.push(l) }, dir)
    assert.equal(resumed.dir, dir)
    assert.equal(resumed.summary.status, 'complete')
    assert.deepEqual(
      resumed.summary.cells.map((c) => c.id),
      plan.cells.map((c) => c.id),
    )
    assert.deepEqual(resumed.summary.cells[0], interrupted.cells[0])
    assert.ok(progress.includes('resume: 1 cells done, 2 to run'), progress.join('\n'))
    assert.ok(!progress.some((l) => l.startsWith(`${plan.cells[0]!.id}: starting`)))
    const onDisk = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as RunSummary
    assert.equal(onDisk.status, 'complete')
    assert.equal(onDisk.claims?.length, 9)
  } finally {
    process.exit = realExit
    rmSync(root, { recursive: true, force: true })
  }
})
