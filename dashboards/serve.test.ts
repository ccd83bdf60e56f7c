import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { buildReport } from './report.ts'
import { listRuns, type RunningServer, startServer } from './serve.ts'
import { writeFixtureRun } from './testdata/fixture.ts'

const root = mkdtempSync(join(tmpdir(), 'dash-serve-'))
after(() => rmSync(root, { recursive: true, force: true }))

const OLD = '20261126T100000Z-multipaxos-aaaaaa'
const NEW = '20261126T120000Z-epaxos-bbbbbb'

/** GET with the path sent as is (fetch would normalise '..' away). */
function get(url: string, path: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((ok, fail) => {
    const u = new URL(url)
    const req = request({ host: u.hostname, port: u.port, path, method: 'GET' }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => {
        body += c
      })
      res.on('end', () =>
        ok({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }),
      )
    })
    req.on('error', fail)
    req.end()
  })
}

function patchSummary(dir: string, patch: Record<string, unknown>): void {
  const file = join(dir, 'summary.json')
  writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), ...patch }))
}

describe('serve', () => {
  let server: RunningServer
  before(async () => {
    const stale = writeFixtureRun(root, {
      runId: OLD,
      engines: ['multipaxos'],
      conflicts: [0.1],
      minimal: true,
    })
    const fresh = writeFixtureRun(root, { runId: NEW, engines: ['epaxos'], conflicts: [0, 1] })
    // the index sorts by startedAt (the fixture's is fixed)
    patchSummary(stale, { startedAt: '2026-11-26T10:00:00.000Z' })
    patchSummary(fresh, { startedAt: '2026-11-26T12:00:00.000Z', reportError: 'boom' })
    await buildReport(fresh)
    server = await startServer({ resultsRoot: root, port: 0 })
  })
  after(() => server.close())

  test('listens on 127.0.0.1 only', () => {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/$/)
  })

  test('the index lists every run newest first with engine, status, verdicts and report state', async () => {
    const r = await get(server.url, '/')
    assert.equal(r.status, 200)
    const ids = [...r.body.matchAll(/<tr data-run="([^"]+)"/g)].map((m) => m[1])
    assert.deepEqual(ids, [NEW, OLD])
    assert.match(
      r.body,
      /<td>epaxos<\/td><td>epaxos-3<\/td><td>complete<\/td>\s*<td>2<\/td><td>2 linearizable<\/td>/,
    )
    assert.match(r.body, /report\.html<\/a> \(failed: boom\)/)
    assert.match(r.body, /not built/)
    assert.deepEqual(
      listRuns(root).map((l) => [l.runId, l.hasReport]),
      [
        [NEW, true],
        [OLD, false],
      ],
    )
  })

  test('the index names two variants of one engine apart', () => {
    const variants = join(root, 'variants')
    writeFixtureRun(variants, {
      engines: ['multipaxos', { engine: 'multipaxos', variant: 'multipaxos-batching' }],
      conflicts: [0],
    })
    assert.deepEqual(
      listRuns(variants).map((l) => l.engines),
      [['multipaxos', 'multipaxos-batching']],
    )
  })

  test('a run page is its report rendered fresh, loading the bundles from the server', async () => {
    const r = await get(server.url, `/runs/${OLD}/`)
    assert.equal(r.status, 200)
    assert.match(r.body, /<script src="\/assets\/vega\.min\.js">/)
    assert.match(r.body, /data-chart="latency-distribution" data-state="pending"/)
    assert.match(r.body, /data-chart="node-cost" data-state="no-data"/)
    assert.match(r.body, /href="\/"/)
    assert.equal((await get(server.url, `/runs/${OLD}`)).status, 301)
    const asset = await get(server.url, '/assets/vega-lite.min.js')
    assert.equal(asset.status, 200)
    assert.match(asset.type, /javascript/)
  })

  test('a run’s files are served, nothing outside it', async () => {
    const svg = await get(server.url, `/runs/${NEW}/files/charts/calibration.svg`)
    assert.equal(svg.status, 200)
    assert.equal(svg.type, 'image/svg+xml')
    assert.match(svg.body, /^<svg/)
    assert.equal((await get(server.url, `/runs/${NEW}/files/summary.json`)).status, 200)
    for (const path of [
      `/runs/${NEW}/files/../../../../etc/passwd`,
      `/runs/${NEW}/files/..%2F..%2F..%2F..%2Fetc%2Fpasswd`,
      `/runs/${NEW}/files/..%2F${OLD}%2Fsummary.json`,
      '/runs/..%2F..%2Fetc/files/passwd',
      '/runs/nope/',
      '/assets/../package.json',
    ]) {
      const r = await get(server.url, path)
      assert.equal(r.status, 404, path)
    }
  })

  test('compare renders several runs in one report', async () => {
    const r = await get(server.url, `/compare?run=${OLD}&run=${NEW}`)
    assert.equal(r.status, 200)
    assert.match(r.body, /consensus-bench: 2 runs/)
    assert.match(r.body, /<th>run<\/th>/)
    assert.equal((await get(server.url, '/compare?run=nope')).status, 404)
  })

  test('a port in use is refused with EADDRINUSE', async () => {
    await assert.rejects(startServer({ resultsRoot: root, port: server.port }), { code: 'EADDRINUSE' })
  })
})

describe('consensus-bench serve', () => {
  test('prints its URL, serves, and stops cleanly on SIGINT', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'harness/cli.ts', 'serve', '--results', root], {
      cwd: join(import.meta.dirname, '..'),
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    try {
      let out = ''
      let err = ''
      child.stderr.on('data', (c: Buffer) => {
        err += c.toString()
      })
      const url = await new Promise<string>((ok, fail) => {
        const timer = setTimeout(() => fail(new Error(`no URL within 30 s: ${out} ${err}`)), 30_000)
        child.stdout.on('data', (c: Buffer) => {
          out += c.toString()
          const m = /at (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out)
          if (m) {
            clearTimeout(timer)
            ok(m[1]!)
          }
        })
      })
      assert.equal((await get(url, '/')).status, 200)
      const exited = new Promise<number | null>((ok) => child.once('exit', (code) => ok(code)))
      child.kill('SIGINT')
      assert.equal(await exited, 0, err)
      assert.match(err, /SIGINT: stopping the server/)
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    }
  })

  test('a bad --port exits 2 naming the flag', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'harness/cli.ts', 'serve', '--port', 'x'], {
      cwd: join(import.meta.dirname, '..'),
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    let err = ''
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString()
    })
    const code = await new Promise<number | null>((ok) => child.once('exit', (c) => ok(c)))
    assert.equal(code, 2)
    assert.match(err, /--port: 'x' is not a port/)
  })
})
