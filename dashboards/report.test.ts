import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { claimsHtml } from './html.ts'
import { assetSource, buildReport, rebuildReport, reportAfterRun } from './report.ts'
import { writeFixtureRun } from './testdata/fixture.ts'

const root = mkdtempSync(join(tmpdir(), 'dash-report-'))
after(() => rmSync(root, { recursive: true, force: true }))

const CLAIMS = [
  {
    claim: 'Multi-Paxos commits in 1 RTT at the leader',
    verdict: 'supported',
    why: 'CA p50 86 ms, bound 85 ms',
  },
  { claim: 'EPaxos is best on WANs with rare conflicts', verdict: 'inconclusive', ci: [0.9, 1.1] },
]

/** Every src= and href= of the page: what a browser would load or follow from it. */
const urlsOf = (html: string) => [...html.matchAll(/\b(?:src|href)="([^"]*)"/g)].map((m) => m[1]!)

describe('buildReport', () => {
  test('writes report.html with local bundles, every chart as SVG, PNG and Vega-Lite, and the claims', async () => {
    const dir = writeFixtureRun(root, { claims: CLAIMS })
    const result = await buildReport(dir)
    assert.equal(result.file, join(dir, 'report.html'))
    assert.ok(result.charts.every((c) => c.rendered))
    const html = readFileSync(result.file, 'utf8')
    // offline: nothing the page loads or links leaves the run directory
    for (const url of urlsOf(html)) assert.doesNotMatch(url, /^(https?:)?\/\//, url)
    assert.ok(urlsOf(html).includes('report-assets/vega.min.js'))
    assert.ok(urlsOf(html).includes('report-assets/vega-lite.min.js'))
    for (const f of ['vega.min.js', 'vega-lite.min.js'] as const) {
      const copied = join(dir, 'report-assets', f)
      assert.equal(statSync(copied).size, statSync(assetSource(f)).size, f)
    }
    for (const c of result.charts) {
      for (const ext of ['svg', 'png', 'vl.json'])
        assert.ok(existsSync(join(dir, 'charts', `${c.name}.${ext}`)))
      assert.match(html, new RegExp(`data-chart="${c.name}" data-state="pending"`))
    }
    // the header's facts and the claims table
    assert.match(html, /multipaxos, epaxos/)
    assert.match(html, /epaxos-3/)
    assert.match(html, /Fixture CPU × 2/)
    assert.match(html, /1 of 6 links OFF TARGET \(worst EU → CA \+6\.00 ms\)/)
    assert.match(html, /6 linearizable/)
    assert.match(html, /<td>supported<\/td>/)
    assert.match(html, /<td>\[0\.9,1\.1\]<\/td>/)
    // no reference rows in this run: no section, no kind or source column
    assert.doesNotMatch(html, /id="references"|<th>kind<\/th>|class="reference"/)
    // the specs are embedded so the page needs no fetch; '<' is escaped inside the script
    const specs = /<script type="application\/json" id="chart-specs">([^<]*)<\/script>/.exec(html)
    assert.ok(specs)
    assert.equal(Object.keys(JSON.parse(specs[1]!)).length, result.charts.length)
  })

  test('a rebuild of a minimal run removes charts that no longer have data and says why', async () => {
    const dir = writeFixtureRun(join(root, 'rebuild'), { runId: 'r' })
    await buildReport(dir)
    assert.ok(existsSync(join(dir, 'charts', 'calibration.svg')))
    writeFixtureRun(join(root, 'rebuild'), { runId: 'r', minimal: true })
    const result = await buildReport(dir)
    assert.ok(!existsSync(join(dir, 'charts', 'calibration.svg')))
    const html = readFileSync(result.file, 'utf8')
    assert.match(html, /data-chart="calibration" data-state="no-data"/)
    assert.match(html, /no data: no calibration in env\.json \(shaper: none/)
    assert.match(html, /No claims verdict in this run/)
    assert.match(html, /calibration<\/th><td>none \(no shaping\)/)
  })

  test('reference rows: their own section with their source, and marked in the cells table', async () => {
    const dir = writeFixtureRun(join(root, 'refs'), {
      engines: ['raft'],
      conflicts: [0],
      references: 'summary',
    })
    const html = readFileSync((await buildReport(dir)).file, 'utf8')
    // the header keeps them apart from the engines
    assert.match(html, /<th>engines<\/th><td>raft<\/td>/)
    assert.match(
      html,
      /<th>references<\/th><td>etcd \(external systems run beside the engines; not judged by the claims\)/,
    )
    // the rows as the CLI prints them, plus cells and source
    const section = /<section id="references">([\s\S]*?)<\/section>/.exec(html)?.[1] ?? ''
    assert.match(section, /Not our engines/)
    assert.match(
      section,
      /<th>p50\/expected<\/th><th>vs model: ops\/s ratio<\/th><th>p99 ratio<\/th><th>cells<\/th><th>source<\/th>/,
    )
    assert.match(
      section,
      /<tr class="reference"><td>etcd \(reference\)<\/td><td>epaxos-3<\/td><td>0<\/td>.*<td>1\/1<\/td><td>[\d.]+<\/td><td>[\d.]+ \(\/raft\)<\/td>.*<td>etcd-epaxos-3-c0-rep1<\/td><td>external system run beside the engines/,
    )
    // the claims come before the references, the references before the cells (as the CLI prints them)
    assert.ok(html.indexOf('id="claims"') < html.indexOf('id="references"'))
    assert.ok(html.indexOf('id="references"') < html.indexOf('id="cells"'))
    // the cells table: a kind and a source column; the reference cell's row is marked
    assert.match(html, /<th>cell<\/th><th>kind<\/th><th>engine<\/th>/)
    assert.match(html, /<tr><td>raft-epaxos-3-c0-rep1<\/td><td>engine<\/td><td>raft<\/td>/)
    assert.match(
      html,
      /<tr class="reference"><td>etcd-epaxos-3-c0-rep1<\/td><td>reference<\/td><td>etcd \(reference\)<\/td>.*<td>external system run beside the engines \(harness\/external\/\), held to raft&#39;s expected latency<\/td><\/tr>/,
    )
  })

  test('two variants of one engine: named apart in the header and the cells table', async () => {
    const dir = writeFixtureRun(join(root, 'variants'), {
      engines: ['multipaxos', { engine: 'multipaxos', variant: 'multipaxos-batching' }],
      conflicts: [0],
    })
    const html = readFileSync((await buildReport(dir)).file, 'utf8')
    assert.match(html, /<th>engines<\/th><td>multipaxos, multipaxos-batching<\/td>/)
    assert.match(html, /<tr><td>multipaxos-epaxos-3-c0-rep1<\/td><td>multipaxos<\/td>/)
    assert.match(html, /<tr><td>multipaxos-batching-epaxos-3-c0-rep1<\/td><td>multipaxos-batching<\/td>/)
    // the embedded specs carry the two series
    const specs = /<script type="application\/json" id="chart-specs">([^<]*)<\/script>/.exec(html)?.[1] ?? ''
    assert.match(specs, /"series":"multipaxos-batching"/)
    assert.match(specs, /"series":"multipaxos"/)
  })

  test('a reference row of a write-only workload shows its get median as missing, never 0', async () => {
    const dir = writeFixtureRun(join(root, 'refs-writes'), {
      engines: ['raft'],
      conflicts: [0],
      references: 'summary',
      readRatio: 0,
    })
    const html = readFileSync((await buildReport(dir)).file, 'utf8')
    const row = /<tr class="reference"><td>etcd \(reference\)<\/td>(.*?)<\/tr>/.exec(html)?.[1] ?? ''
    // columns: topology, conflict, ops/s, p50, p50 get/put, ...
    const getPut = [...row.matchAll(/<td>([^<]*)<\/td>/g)].map((m) => m[1])[4]
    assert.match(getPut ?? '', /^—\/\d+(\.\d+)?$/)
  })

  test('claimsHtml renders any shape and escapes it', () => {
    assert.match(claimsHtml({ claims: [{ verdict: '<b>' }] }), /<td>&lt;b&gt;<\/td>/)
    assert.match(claimsHtml({ paxos2Rtt: 'supported' }), /<td>paxos2Rtt<\/td><td>supported<\/td>/)
    assert.match(claimsHtml('text'), /<pre>/)
  })
})

describe('reportAfterRun', () => {
  test('a report failure is recorded in summary.json and the results stay; a rebuild clears it', async () => {
    const dir = writeFixtureRun(join(root, 'fail'))
    const summaryBefore = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as Record<
      string,
      unknown
    >
    // report-assets as a file: copying the bundles into it must fail
    writeFileSync(join(dir, 'report-assets'), 'not a directory')
    const lines: string[] = []
    const summary = await reportAfterRun(dir, summaryBefore, (l) => lines.push(l))
    assert.match(String(summary.reportError), /report-assets/)
    const onDisk = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as Record<string, unknown>
    assert.equal(onDisk.reportError, summary.reportError)
    assert.deepEqual({ ...onDisk, reportError: undefined }, { ...summaryBefore, reportError: undefined })
    assert.ok(lines.some((l) => l.includes('report failed') && l.includes(`consensus-bench report ${dir}`)))
    assert.ok(readdirSync(join(dir, 'cells')).length > 0)

    rmSync(join(dir, 'report-assets'))
    await rebuildReport(dir)
    const fixed = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as Record<string, unknown>
    assert.equal('reportError' in fixed, false)
    assert.deepEqual(fixed, summaryBefore)
  })
})

describe('consensus-bench report', () => {
  const cli = (args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', 'harness/cli.ts', 'report', ...args], {
      cwd: join(import.meta.dirname, '..'),
      encoding: 'utf8',
    })

  test('rebuilds a run and prints the path of report.html', () => {
    const dir = writeFixtureRun(join(root, 'cli'), { minimal: true })
    const r = cli([dir])
    assert.equal(r.status, 0, r.stderr)
    assert.equal(r.stdout.trim(), join(dir, 'report.html'))
    assert.match(r.stderr, /node-cost: no data/)
  })

  test('a rebuild of an interrupted run shows the reference rows, computed from its cells', () => {
    const dir = writeFixtureRun(join(root, 'cli-refs'), {
      engines: ['raft'],
      conflicts: [0],
      references: 'cells',
    })
    const r = cli([dir])
    assert.equal(r.status, 0, r.stderr)
    const html = readFileSync(join(dir, 'report.html'), 'utf8')
    assert.match(html, /<th>status<\/th><td>incomplete<\/td>/)
    assert.match(
      html,
      /<tr class="reference"><td>etcd \(reference\)<\/td>.*\(row computed at report time from the cells\)<\/td>/,
    )
    assert.match(html, /summary\.json has no <code>references<\/code> \(the run did not finish\)/)
  })

  test('a directory that is not a run exits 2 naming summary.json and the fix', () => {
    const r = cli([root])
    assert.equal(r.status, 2)
    assert.match(r.stderr, new RegExp(`${join(root, 'summary.json')}: missing`))
    assert.match(r.stderr, /fix: give a results directory/)
  })
})
