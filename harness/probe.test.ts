import assert from 'node:assert/strict'
import { test } from 'node:test'
import { probeOptionsFromFlags } from './commands/probe.ts'
import { CliError, EXIT } from './exit-codes.ts'
import { tracked } from './launchers/cleanup.ts'
import { PROBE_KEYS, probeRequestOptions, resolveProbeOptions, runProbe } from './probe.ts'
import { RunOptionError } from './run.ts'

test('probe requests: one client id, a fresh x-seq and a cycling key per request', () => {
  const options = resolveProbeOptions({ engine: 'multipaxos', valueBytes: 8 })
  const request = probeRequestOptions(options, 'http://127.0.0.1:1').requests![0]!
  const setup = request.setupRequest as (req: object, ctx: object) => Record<string, unknown>
  const built = Array.from({ length: PROBE_KEYS + 2 }, () => setup({ method: 'PUT', headers: {} }, {}))
  const headers = built.map((r) => r.headers as Record<string, string>)
  assert.equal(new Set(headers.map((h) => h['x-client-id'])).size, 1)
  assert.deepEqual(
    headers.slice(0, 3).map((h) => h['x-seq']),
    ['1', '2', '3'],
  )
  assert.equal(new Set(headers.map((h) => h['x-seq'])).size, built.length, 'every request is a new command')
  assert.equal(built[0]!.path, '/kv/probe-1')
  assert.equal(built[PROBE_KEYS]!.path, built[0]!.path, 'keys cycle through the pool')
  assert.equal(built[0]!.body, 'xxxxxxxx')
  assert.equal(built[0]!.method, 'PUT')
})

test('probe options: an unknown target or engine is an error naming the option; bad flags exit 2', () => {
  assert.throws(
    () => resolveProbeOptions({ engine: 'multipaxos', replicas: 3, target: 'r3' }),
    (err: unknown) => err instanceof RunOptionError && err.field === 'target' && /r0\.\.r2/.test(err.fix),
  )
  assert.throws(
    () => resolveProbeOptions({ engine: 'nope' }),
    (err: unknown) => err instanceof RunOptionError && err.field === 'engine',
  )
  assert.throws(
    () => resolveProbeOptions({ engine: 'multipaxos', engineConfig: { batchin: true } }),
    (err: unknown) => err instanceof RunOptionError && err.field.startsWith('engineConfig'),
  )
  const flags = {
    engine: 'multipaxos',
    replicas: '3',
    duration: '5s',
    connections: '16',
    pipelining: '1',
    target: 'leader',
    storage: 'file',
  }
  assert.deepEqual(probeOptionsFromFlags(flags).durationMs, 5000)
  for (const bad of [{ duration: 'soon' }, { connections: 'many' }, { storage: 'tape' }]) {
    assert.throws(
      () => probeOptionsFromFlags({ ...flags, ...bad }),
      (err: unknown) => err instanceof CliError && err.exitCode === EXIT.invalidInput,
    )
  }
})

test('probe: a real 3-replica cluster answers, and nothing is left running afterwards', async () => {
  const lines: string[] = []
  const result = await runProbe(
    { engine: 'multipaxos', replicas: 3, durationMs: 1500, connections: 4, storage: 'memory' },
    (line) => lines.push(line),
  )
  assert.ok(result.requestsOk > 10, `${result.requestsOk} ok`)
  assert.equal(result.errors.non2xx, 0, JSON.stringify(result.errors.byStatus))
  assert.equal(result.errors.connection, 0)
  assert.equal(result.target, result.leader, 'the default target is the leader')
  assert.ok(result.requestsPerSec > 0)
  const l = result.latencyMs
  assert.ok(l.p50 <= l.p99 && l.p99 <= l.max, JSON.stringify(l))
  assert.deepEqual(tracked(), { pids: [], dirs: [] }, 'the cluster was stopped')
  assert.ok(lines.some((line) => line.includes('4 connections')))
})
