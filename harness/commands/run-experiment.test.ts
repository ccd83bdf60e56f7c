import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { CliError, EXIT } from '../exit-codes.ts'
import { matrixPlanOf } from './run-experiment.ts'

function exitError(fn: () => unknown): CliError {
  try {
    fn()
  } catch (err: unknown) {
    assert.ok(err instanceof CliError, String(err))
    assert.equal(err.exitCode, EXIT.invalidInput)
    return err
  }
  assert.fail('expected a CliError')
}

test('run-experiment: --resume of a directory that is not a run, or has no plan, exits 2 naming the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cb-run-experiment-test-'))
  try {
    assert.match(exitError(() => matrixPlanOf({ resume: dir })).message, /run\.json: --resume: missing/)
    const old = join(dir, 'old')
    mkdirSync(old)
    writeFileSync(join(old, 'run.json'), JSON.stringify({ runId: 'old', options: {} }))
    assert.match(exitError(() => matrixPlanOf({ resume: old })).message, /records no matrix plan/)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('run-experiment: a file problem exits 2 as <file>: <field>: <problem> with the fix', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cb-run-experiment-test-'))
  try {
    const file = join(dir, 'x.yaml')
    writeFileSync(file, 'name: x\nengines: [multipaxos]\ntopology: epaxos-3\nworkload: {clients: 2}\n')
    const err = exitError(() => matrixPlanOf({ file }))
    assert.match(
      err.message,
      new RegExp(`^${file}: workload.clients: unknown key clients\\n  fix: .*clientsPerSite`),
    )
    writeFileSync(file, 'name: x\nengines: [multipaxos]\n  topology: [\n')
    assert.match(exitError(() => matrixPlanOf({ file })).message, /not valid YAML/)
    assert.match(
      exitError(() => matrixPlanOf({ file: join(dir, 'none.yaml') })).message,
      /cannot read the file/,
    )
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('run-experiment: the plan carries --results into every cell', () => {
  const plan = matrixPlanOf({ file: 'experiments/quickstart.yaml', resultsRoot: '/tmp/elsewhere' })
  assert.ok(plan.cells.every((c) => c.options.resultsRoot === '/tmp/elsewhere'))
  assert.equal(plan.name, 'quickstart')
})
