import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { k6ExportScript } from '../harness/k6-export.ts'
import { RunOptionError, type RunOptionsInput } from '../harness/run.ts'

interface Sent {
  readonly method: 'GET' | 'PUT'
  readonly url: string
  readonly body: string | null
  readonly headers: Record<string, string>
  readonly tags: Record<string, string>
}

interface Script {
  readonly options: { scenarios: Record<string, Record<string, unknown>> }
  setup(): { runId: string }
  command(data: { runId: string }): void
}

/**
 * Loads a generated script as k6 would, without k6: the three k6 imports become stubs (http records
 * each request and answers with `status`), exports become plain bindings; one instance per VU, as k6
 * gives every VU its own runtime.
 */
function loadScript(
  source: string,
  env: Record<string, string>,
  vu: number,
  sent: Sent[],
  status: (n: number) => number = () => 200,
): Script {
  const body = source
    .replace("import http from 'k6/http'", 'const http = __k6.http')
    .replace("import { check, sleep } from 'k6'", 'const { check, sleep } = __k6.k6')
    .replace("import { Counter, Trend } from 'k6/metrics'", 'const { Counter, Trend } = __k6.metrics')
    .replaceAll('export const ', 'const ')
    .replaceAll('export function ', 'function ')
  assert.doesNotMatch(body, /^\s*(import|export)\s/m, 'every import and export was replaced')
  const answer = (
    method: Sent['method'],
    url: string,
    b: string | null,
    params: Omit<Sent, 'method' | 'url' | 'body'>,
  ) => {
    sent.push({ method, url, body: b, headers: params.headers, tags: params.tags })
    return { status: status(sent.length) }
  }
  const Metric = class {
    add(): void {}
  }
  const k6 = {
    http: {
      get: (url: string, params: Omit<Sent, 'method' | 'url' | 'body'>) => answer('GET', url, null, params),
      put: (url: string, b: string, params: Omit<Sent, 'method' | 'url' | 'body'>) =>
        answer('PUT', url, b, params),
    },
    k6: { check: () => true, sleep: () => {} },
    metrics: { Counter: Metric, Trend: Metric },
  }
  return new Function('__k6', '__ENV', '__VU', `${body}\nreturn { options, setup, command }`)(
    k6,
    env,
    vu,
  ) as Script
}

const URLS = 'http://127.0.0.1:7001,http://127.0.0.2:7002,http://127.0.0.3:7003'
const base: RunOptionsInput = { engine: 'multipaxos', replicas: 3, clientsPerSite: 4, durationMs: 20_000 }

/** every VU of every site runs `iterations` commands; the requests they sent, per VU */
function runAll(source: string, iterations: number): Sent[][] {
  const probe = loadScript(source, { REPLICA_URLS: URLS }, 0, [])
  const data = probe.setup()
  const perVu: Sent[][] = []
  let vu = 0
  for (const scenario of Object.values(probe.options.scenarios)) {
    const env = { REPLICA_URLS: URLS, ...(scenario.env as Record<string, string>) }
    for (let i = 0; i < (scenario.vus as number); i++) {
      vu++
      const sent: Sent[] = []
      const script = loadScript(source, env, vu, sent)
      for (let n = 0; n < iterations; n++) script.command(data)
      perVu.push(sent)
    }
  }
  return perVu
}

test('k6 export: node parses the script as an ES module (node --check), without running it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'k6-export-'))
  try {
    const file = join(dir, 'script.mjs')
    writeFileSync(file, k6ExportScript(base))
    const checked = spawnSync(process.execPath, ['--check', file], { encoding: 'utf8' })
    assert.equal(checked.status, 0, checked.stderr)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('k6 export, closed loop: a constant-vus scenario per site with the clients per site, the run duration', () => {
  const script = loadScript(k6ExportScript(base), { REPLICA_URLS: URLS }, 1, [])
  const scenarios = Object.entries(script.options.scenarios)
  assert.deepEqual(
    scenarios.map(([name]) => name),
    ['site_r0', 'site_r1', 'site_r2'],
  )
  for (const [i, [, s]] of scenarios.entries()) {
    assert.equal(s.executor, 'constant-vus')
    assert.equal(s.vus, 4)
    assert.equal(s.duration, '20s')
    assert.equal(s.exec, 'command')
    assert.deepEqual(s.env, { SITE_INDEX: String(i) })
  }
  const counted = loadScript(k6ExportScript({ ...base, ops: 50 }), { REPLICA_URLS: URLS }, 1, [])
  assert.equal(counted.options.scenarios.site_r0!.executor, 'per-vu-iterations')
  assert.equal(counted.options.scenarios.site_r0!.iterations, 50)
})

test('k6 export, conflict 0: unique ids per request, every key private to its client, sent to the own site first', () => {
  const perVu = runAll(k6ExportScript({ ...base, conflict: 0, readRatio: 0.3 }), 200)
  assert.equal(perVu.length, 12, 'VUs = clients per site x sites')
  const ids = new Set<string>()
  let gets = 0
  for (const sent of perVu) {
    const client = sent[0]!.headers['x-client-id']!
    assert.ok(!ids.has(client), `client ${client} is one VU's`)
    ids.add(client)
    assert.deepEqual(
      sent.map((s) => s.headers['x-seq']),
      sent.map((_, i) => String(i + 1)),
      'seq 1, 2, 3, ... per client',
    )
    const site = sent[0]!.tags.site!
    const own = URLS.split(',')[Number(site.slice(1))]!
    for (const s of sent) {
      assert.equal(s.headers['x-client-id'], client)
      const key = decodeURIComponent(s.url.split('/kv/')[1]!)
      assert.ok(key.startsWith(`${client}-k`), `${key} is private to ${client}`)
      assert.ok(s.url.startsWith(own), 'the own replica first')
      if (s.method === 'GET') gets++
      else assert.equal(s.body, `${client}:${s.headers['x-seq']}`)
    }
  }
  const readRatio = gets / (perVu.length * 200)
  assert.ok(readRatio > 0.25 && readRatio < 0.35, `read ratio ${readRatio}`)
})

test('k6 export, conflict 1: every command targets the shared pool; value size pads puts', () => {
  const perVu = runAll(
    k6ExportScript({ ...base, conflict: 1, sharedKeys: 2, readRatio: 0, valueSizeBytes: 64 }),
    50,
  )
  const keys = new Set(perVu.flat().map((s) => s.url.split('/kv/')[1]))
  assert.deepEqual([...keys].sort(), ['shared-0', 'shared-1'])
  for (const s of perVu.flat()) assert.equal(s.body!.length, 64)
})

test('k6 export: a failed attempt is retried with the same id at the next replica in ring order', () => {
  const sent: Sent[] = []
  const source = k6ExportScript(base)
  const script = loadScript(source, { REPLICA_URLS: URLS, SITE_INDEX: '2' }, 7, sent, (n) =>
    n === 1 ? 0 : 200,
  )
  script.command({ runId: 'x' })
  assert.equal(sent.length, 2)
  assert.deepEqual(sent[0]!.headers, sent[1]!.headers)
  assert.ok(sent[0]!.url.startsWith('http://127.0.0.3:7003/'))
  assert.ok(sent[1]!.url.startsWith('http://127.0.0.1:7001/'))
  assert.throws(() => loadScript(source, {}, 1, []), /REPLICA_URLS/)
})

test('k6 export, open loop: constant-arrival-rate per site with the rate split over the sites', () => {
  const script = loadScript(
    k6ExportScript({
      engine: 'multipaxos',
      replicas: 3,
      rateOpsPerSec: 600,
      arrival: 'constant',
      maxOutstanding: 100,
    }),
    { REPLICA_URLS: URLS },
    1,
    [],
  )
  for (const s of Object.values(script.options.scenarios)) {
    assert.equal(s.executor, 'constant-arrival-rate')
    assert.equal(s.rate, 200)
    assert.equal(s.timeUnit, '1s')
    assert.equal(s.maxVUs, 100)
  }
  const odd = k6ExportScript({ engine: 'multipaxos', replicas: 3, rateOpsPerSec: 500 })
  assert.match(odd, /no Poisson executor/)
  const oddScenario = loadScript(odd, { REPLICA_URLS: URLS }, 1, []).options.scenarios.site_r0!
  assert.deepEqual([oddScenario.rate, oddScenario.timeUnit], [166667, '1000s'])
})

test('k6 export, zipf: the lowest ranks are drawn most; a table too large for every VU is refused', () => {
  const perVu = runAll(k6ExportScript({ ...base, keyDistribution: 'zipf', keys: 100, zipfTheta: 1.2 }), 100)
  const counts = new Map<string, number>()
  for (const s of perVu.flat()) {
    const key = s.url.split('/kv/')[1]!
    counts.set(key, (counts.get(key) ?? 0) + 1)
  }
  const top = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]![0]
  assert.equal(top, 'key-0')
  assert.ok([...counts.keys()].every((k) => /^key-\d+$/.test(k)))
  assert.throws(
    () => k6ExportScript({ ...base, keyDistribution: 'zipf', keys: 2_000_000 }),
    (err: unknown) => err instanceof RunOptionError && err.field === 'keys',
  )
})
