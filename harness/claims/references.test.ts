/** Reference rows in the terminal: a figure the workload could not give is '-', never 0 ms; variants apart. */
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { writeFixtureRun } from '../../dashboards/testdata/fixture.ts'
import type { CellSummary } from '../results/summary.ts'
import { referenceRows, referencesTable } from './references.ts'

const root = mkdtempSync(join(tmpdir(), 'references-'))
after(() => rmSync(root, { recursive: true, force: true }))

const cellsOf = (dir: string) =>
  (JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as { cells: CellSummary[] }).cells

/** The table's data rows, split into trimmed columns. */
const rowsOf = (table: string) =>
  table
    .split('\n')
    .filter((l) => l.startsWith('│'))
    .slice(1)
    .map((l) =>
      l
        .split('│')
        .slice(1, -1)
        .map((c) => c.trim()),
    )

describe('reference rows', () => {
  test('a write-only workload has no get median: null in the row, - in the table', () => {
    const cells = cellsOf(
      writeFixtureRun(root, { engines: ['raft'], conflicts: [0], references: 'summary', readRatio: 0 }),
    )
    const [row] = referenceRows(cells)
    assert.ok(row)
    assert.equal(row.p50MsByOp.get, null)
    assert.ok(row.p50MsByOp.put !== null && row.p50MsByOp.put > 0)
    const [printed] = rowsOf(referencesTable([row]))
    assert.equal(printed?.[0], 'etcd')
    assert.equal(printed?.[5], `-/${row.p50MsByOp.put}`)
  })

  test('a workload of gets and puts has both medians, each the mean over the cells that issued it', () => {
    const cells = cellsOf(
      writeFixtureRun(join(root, 'mixed'), { engines: ['raft'], conflicts: [0], references: 'summary' }),
    )
    const etcd = cells.find((c) => c.engine === 'etcd')!
    const [row] = referenceRows(cells)
    assert.equal(row?.p50MsByOp.get, etcd.latencyUsByOp.get.p50 / 1000)
    assert.equal(row?.p50MsByOp.put, etcd.latencyUsByOp.put.p50 / 1000)
  })

  test('a variant of an external system is its own row, under its label', () => {
    const cells = cellsOf(
      writeFixtureRun(join(root, 'variant'), { engines: ['raft'], conflicts: [0], references: 'summary' }),
    )
    const etcd = cells.find((c) => c.engine === 'etcd')!
    const rows = referenceRows([...cells, { ...etcd, id: 'etcd-fsync-x', variant: 'fsync' }])
    assert.deepEqual(
      rows.map((r) => [r.engine, r.cells]),
      [
        ['etcd', [etcd.id]],
        ['etcd/fsync', ['etcd-fsync-x']],
      ],
    )
  })
})
