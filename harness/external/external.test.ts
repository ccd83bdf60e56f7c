/**
 * External engines: the definition's validation, etcd's member ids, the matrix's handling of a system
 * that is not installed, and the worked example (experiments/examples/tiny-kv.yaml, a standalone Node
 * KV) run end to end over the epaxos-3 topology, shaped, checked and held to Raft's expectation. The
 * etcd run is skipped where etcd is not installed.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { loadExperiment, parseExperiment } from '../../experiments/schema.ts'
import { waitForAgreedLeader } from '../faults.ts'
import { tracked } from '../launchers/cleanup.ts'
import { REPO_ROOT } from '../launchers/local.ts'
import { expandExperiment } from '../matrix.ts'
import { runBenchmark, runMatrix } from '../run.ts'
import { etcd } from './etcd.ts'
import { etcdMemberId, missingProgram, startExternalCluster } from './launcher.ts'
import { ExternalEngineError, externalConfig, externalDataDir, parseExternalEngine } from './schema.ts'

const root = mkdtempSync(join(tmpdir(), 'cb-external-test-'))
after(() => {
  rmSync(root, { recursive: true, force: true })
  assert.deepEqual(tracked().pids, [], 'a member or relay PID is still tracked')
  assert.deepEqual(tracked().dirs, [], 'a temp dir is still tracked')
})

const etcdMissing = missingProgram('etcd', etcd)

const minimal = {
  kind: 'external',
  command: ['node', 'x.mjs', '--listen', '{clientListen}'],
  health: { path: '/health' },
  api: {
    put: { method: 'PUT', path: '/kv/{keyUrl}', body: '{value}' },
    get: { method: 'GET', path: '/kv/{keyUrl}', value: { json: 'value' } },
  },
}

describe('external engine definitions', () => {
  test('a minimal definition validates, with its defaults', () => {
    const d = parseExternalEngine(minimal)
    assert.equal(d.peers.mode, 'per-member')
    assert.equal(d.dataDir, 'disk')
    assert.deepEqual(d.api.put.ok, [200])
  })

  test('an unknown template name, an unknown field and a shared mode without header are refused by name', () => {
    assert.throws(
      () => parseExternalEngine({ ...minimal, command: ['x', '{peerAddress}'] }),
      (err: unknown) =>
        err instanceof ExternalEngineError && /unknown template \{peerAddress\}/.test(err.message),
    )
    assert.throws(
      () =>
        parseExternalEngine({
          ...minimal,
          api: { ...minimal.api, put: { ...minimal.api.put, path: '/kv/{keyHex}' } },
        }),
      /api.put: unknown template \{keyHex\}/,
    )
    assert.throws(() => parseExternalEngine({ ...minimal, helth: {} }), /unrecognized|Unrecognized/)
    assert.throws(() => parseExternalEngine({ ...minimal, peers: { mode: 'shared' } }), /peers.header/)
  })

  test('config: defaults overridden by engineConfig; an unknown field is an error; dataDir from config or storage', () => {
    assert.deepEqual(externalConfig(etcd, { electionTimeoutMs: 2500 }), {
      heartbeatIntervalMs: 100,
      electionTimeoutMs: 2500,
      snapshotCount: 100_000,
    })
    assert.throws(
      () => externalConfig(etcd, { electionTimeout: 1 }),
      /config.electionTimeout: not a config field/,
    )
    assert.equal(externalDataDir(etcd, {}, 'file'), 'disk')
    assert.equal(externalDataDir(etcd, {}, 'memory'), 'tmpfs')
    assert.equal(externalDataDir(etcd, { dataDir: 'disk' }, 'memory'), 'disk')
  })

  test("etcd's member id: sha1 of the peer URL and the cluster token, as etcd 3.4 computed it", () => {
    // read from a real 3-member etcd 3.4.23 cluster's member list (token tok1): 7101852577860610209
    assert.equal(etcdMemberId('http://127.0.0.1:23800', 'tok1'), 7101852577860610209n.toString(16))
    assert.equal(etcdMemberId('http://127.0.0.2:23800', 'tok1'), 3031523521858161020n.toString(16))
  })

  test('the matrix skips a system that is not installed, with a note that says how to install it', () => {
    const e = parseExperiment(
      {
        name: 'x',
        engines: ['raft'],
        references: ['gone', 'etcd'],
        externalEngines: {
          gone: { ...minimal, command: ['/nonexistent/gone-db'], install: 'apt-get install gone' },
        },
      },
      'x.yaml',
    )
    const plan = expandExperiment(e)
    assert.ok(
      plan.notes.some((n) =>
        /skipped: gone: '\/nonexistent\/gone-db' is not installed.*apt-get install gone/.test(n),
      ),
    )
    assert.equal(
      plan.cells.some((c) => c.label === 'gone'),
      false,
    )
    assert.equal(
      plan.cells.some((c) => c.label === 'etcd'),
      etcdMissing === null,
    )
    if (etcdMissing !== null)
      assert.ok(plan.notes.some((n) => /skipped: etcd: .*apt-get install etcd-server/.test(n)))
  })

  test('an experiment refuses an unknown reference and a declared name that shadows an engine', () => {
    assert.throws(
      () => parseExperiment({ name: 'x', engines: ['raft'], references: ['nope'] }, 'x.yaml'),
      /references.0/,
    )
    assert.throws(
      () => parseExperiment({ name: 'x', engines: ['raft'], externalEngines: { raft: minimal } }, 'x.yaml'),
      /externalEngines.raft: 'raft' is already an engine/,
    )
  })
})

test("the worked example: a user-declared KV on epaxos-3, shaped per link, linearizable, at Raft's expectation", async () => {
  const e = loadExperiment(join(REPO_ROOT, 'experiments/examples/tiny-kv.yaml'))
  const plan = expandExperiment(e, root)
  assert.equal(plan.cells.length, 1)
  const cell = plan.cells[0]!
  const { summary } = await runMatrix({
    ...plan,
    cells: [{ ...cell, options: { ...cell.options, durationMs: 4000, report: false, calibrationProbes: 5 } }],
  })
  const c = summary.cells[0]!
  assert.equal(c.check.verdict, 'linearizable', JSON.stringify(c.check))
  assert.equal(c.network?.leader?.agreed, 'r0', 'the leader probe names the primary')
  assert.deepEqual(c.external, { model: 'raft' })
  // CA holds the primary: a majority round to VA (85 ms); VA and EU forward to CA first (170, 241 ms).
  // Unshaped links would give ~0 ms, a member dialling its peers directly CA ~0 ms: never below the
  // physics. Above it, a loaded machine (tests run side by side) adds its own waits: a loose bound.
  for (const [site, s] of Object.entries(c.sites)) {
    const ratio = s.latencyUs.p50 / 1000 / s.expectedLatencyMs!
    assert.ok(s.ops > 0, `${site}: no commands`)
    assert.ok(
      ratio > 0.9 && ratio < 1.6,
      `${site}: p50 ${s.latencyUs.p50 / 1000} ms, expected ${s.expectedLatencyMs} ms`,
    )
  }
  assert.deepEqual(
    summary.references?.map((r) => r.engine),
    ['tiny-kv'],
  )
  assert.deepEqual(
    readdirSync(tmpdir()).filter((d) => d.startsWith('consensus-bench-ext-')),
    [],
  )
})

test('etcd: three members on loopback, driven over the v3 gateway, linearizable', {
  skip: etcdMissing ?? false,
}, async () => {
  const { summary } = await runBenchmark({
    engine: 'etcd',
    clientsPerSite: 2,
    conflict: 0.5,
    durationMs: 2500,
    warmupMs: 500,
    storage: 'memory',
    report: false,
    resultsRoot: root,
  })
  const c = summary.cells[0]!
  assert.equal(c.check.verdict, 'linearizable')
  assert.ok(c.opsCompleted > 20, `only ${c.opsCompleted} commands`)
  assert.equal(c.errors.unknownOutcome, 0)
  assert.ok(c.readBack.ok > 0 && c.readBack.ok === c.readBack.keys)
})

test('etcd: moveLeader hands leadership to the member asked for', {
  skip: etcdMissing ?? false,
}, async () => {
  const cluster = await startExternalCluster({
    engine: 'etcd',
    definition: etcd,
    config: etcd.config,
    replicas: 3,
  })
  try {
    const first = await waitForAgreedLeader(cluster, 10_000)
    assert.notEqual(first, null)
    const target = cluster.replicas.find((r) => r.id !== first)!.id
    assert.equal(await cluster.moveLeader(target, 10_000), target)
    assert.equal((await cluster.replica(first!).health())?.leader, target)
  } finally {
    await cluster.stop()
  }
})
