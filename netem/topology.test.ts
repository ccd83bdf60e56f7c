import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { builtinTopologyNames, loadTopology, parseTopologyYaml, TopologyError } from './topology.ts'

const three = `
name: t3
description: test
source: test
sites: [{ name: A }, { name: B }, { name: C }]
links:
  - { between: [A, B], rttMs: 10, jitterMs: 1 }
  - { between: [B, C], rttMs: 20 }
  - { between: [C, A], rttMs: 30, jitterMs: 0.5 }
intraSiteRttMs: 0.5
`

function rejects(text: string, field: RegExp, fix: RegExp): void {
  assert.throws(
    () => parseTopologyYaml(text, 'x.yaml'),
    (err: unknown) =>
      err instanceof TopologyError && err.file === 'x.yaml' && field.test(err.field) && fix.test(err.fix),
  )
}

describe('topology files', () => {
  it('looks RTT and jitter up in either direction, intra-site inside a site', () => {
    const t = parseTopologyYaml(three, 'x.yaml')
    assert.equal(t.rttMs('A', 'B'), 10)
    assert.equal(t.rttMs('B', 'A'), 10)
    assert.equal(t.rttMs('A', 'C'), 30)
    assert.equal(t.jitterMs('C', 'A'), 0.5)
    assert.equal(t.jitterMs('B', 'C'), 0, 'jitterMs defaults to 0')
    assert.equal(t.rttMs('B', 'B'), 0.5)
    assert.equal(t.jitterMs('B', 'B'), 0)
    assert.throws(() => t.rttMs('A', 'Z'), /no site 'Z'/)
  })

  it('rejects unknown fields, unknown sites, self links, repeated and missing pairs', () => {
    rejects(three.replace('intraSiteRttMs', 'intraSiteRtt'), /^\(document\)$/, /remove it/)
    rejects(three.replace('rttMs: 20', 'rttMs: 20, rtt: 20'), /^links\.1/, /remove it/)
    rejects(three.replace('[B, C]', '[B, D]'), /^links\.1\.between$/, /A, B, C/)
    rejects(three.replace('[B, C]', '[B, B]'), /^links\.1\.between$/, /intraSiteRttMs/)
    rejects(three.replace('[C, A]', '[B, A]'), /^links\.2\.between$/, /one link per pair/)
    rejects(
      three.replace('  - { between: [C, A], rttMs: 30, jitterMs: 0.5 }\n', ''),
      /^links$/,
      /between: \[A, C\]/,
    )
    rejects(three.replace('rttMs: 10', 'rttMs: -1'), /^links\.0\.rttMs$/, /rttMs: 85/)
    rejects(three.replace('{ name: C }', '{ name: A }'), /^sites\.2\.name$/, /own name/)
    rejects(three.replace('{ name: C }', '{ name: "C@x" }'), /^sites\.2\.name$/, /name: CA/)
    rejects('name: [', /^\(document\)$/, /YAML/)
  })

  it('loads every built-in by name, and a file by path', () => {
    const names = builtinTopologyNames()
    for (const n of ['lan', 'epaxos-3', 'epaxos-5', 'tempo-5', 'gcp-5']) assert.ok(names.includes(n), n)
    for (const n of names) assert.equal(loadTopology(n).name, n)
    const e3 = loadTopology('epaxos-3')
    assert.deepEqual([e3.rttMs('CA', 'VA'), e3.rttMs('VA', 'EU'), e3.rttMs('CA', 'EU')], [85, 90, 156])
    assert.equal(loadTopology('lan').sites.length, 1)
    const dir = mkdtempSync(join(tmpdir(), 'topo-test-'))
    try {
      const file = join(dir, 'mine.yaml')
      writeFileSync(file, three)
      assert.equal(loadTopology(file).rttMs('A', 'B'), 10)
      assert.throws(
        () => loadTopology(join(dir, 'absent.yaml')),
        (e: unknown) => e instanceof TopologyError && e.field === '(file)',
      )
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
    assert.throws(
      () => loadTopology('epaxos-7'),
      (e: unknown) =>
        e instanceof TopologyError && /epaxos-3/.test(e.fix) && /no such built-in/.test(e.problem),
    )
  })
})
