import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { isProcessAlive, tracked } from './cleanup.ts'
import { startLocalCluster } from './local.ts'

const hostEntry = 'harness/launchers/testdata/fake-host.ts'

test('local launcher: distinct loopback addresses, health, kill is recorded, restart, stop leaves nothing', async () => {
  const logDir = mkdtempSync(join(tmpdir(), 'cb-launcher-test-'))
  try {
    const cluster = await startLocalCluster({
      engine: 'fake',
      engineConfig: {},
      replicas: 3,
      seed: 1,
      storage: 'file',
      logDir,
      hostEntry,
    })
    const hosts = cluster.replicas.map((r) => r.clientAddress.split(':')[0])
    assert.deepEqual(hosts, ['127.0.0.1', '127.0.0.2', '127.0.0.3'])
    const pids = cluster.replicas.map((r) => r.pid()!)
    assert.equal(new Set(pids).size, 3)
    for (const pid of pids) assert.ok(isProcessAlive(pid))
    const health = await cluster.replica('r1').health()
    assert.equal(health?.id, 'r1')
    assert.equal(health?.leader, 'r0')

    await cluster.replica('r2').kill('SIGKILL')
    assert.equal(cluster.replica('r2').running(), false)
    assert.equal(isProcessAlive(pids[2]!), false)
    const exit = cluster.exits.at(-1)!
    assert.equal(exit.replica, 'r2')
    assert.equal(exit.signal, 'SIGKILL')
    assert.equal(exit.expected, true)
    assert.equal(await cluster.replica('r2').health(300), null)

    // a replica killed from outside the harness is an unexpected exit: recorded, the others keep serving
    const r1 = cluster.replica('r1').pid()!
    process.kill(r1, 'SIGKILL')
    while (cluster.replica('r1').running()) await new Promise((r) => setTimeout(r, 20))
    const unexpected = cluster.exits.at(-1)!
    assert.equal(unexpected.replica, 'r1')
    assert.equal(unexpected.expected, false)
    assert.equal(unexpected.signal, 'SIGKILL')
    assert.equal((await cluster.replica('r0').health())?.id, 'r0')
    await cluster.replica('r1').restart()

    await cluster.replica('r2').restart()
    assert.notEqual(cluster.replica('r2').pid(), pids[2])
    const r2Storage = JSON.parse(readFileSync(join(logDir, 'r2.config.json'), 'utf8')).storage.dir
    assert.equal(
      readFileSync(join(r2Storage, 'starts.log'), 'utf8').trim().split('\n').length,
      2,
      'restart keeps storage',
    )
    assert.equal((await cluster.replica('r2').health())?.id, 'r2')

    const config = JSON.parse(readFileSync(join(logDir, 'r0.config.json'), 'utf8'))
    assert.equal(config.storage.kind, 'file')
    const dataDir = join(config.storage.dir, '..')
    assert.ok(existsSync(dataDir))

    const all = cluster.replicas.map((r) => r.pid()!)
    await cluster.stop()
    for (const pid of all) assert.equal(isProcessAlive(pid), false, `pid ${pid} still alive`)
    assert.equal(existsSync(dataDir), false, 'temp dir removed')
    assert.deepEqual(tracked(), { pids: [], dirs: [] })
    assert.ok(existsSync(join(logDir, 'r0.stderr.log')))
  } finally {
    rmSync(logDir, { recursive: true, force: true })
  }
})

test('local launcher: a port taken at bind time is retried with fresh ports', async () => {
  const logDir = mkdtempSync(join(tmpdir(), 'cb-launcher-test-'))
  process.env.FAKE_HOST_PORT_TAKEN = 'r1'
  try {
    const cluster = await startLocalCluster({
      engine: 'fake',
      engineConfig: {},
      replicas: 2,
      seed: 1,
      storage: 'file',
      logDir,
      hostEntry,
    })
    assert.match(readFileSync(join(logDir, 'r1.stderr.log'), 'utf8'), /port taken/)
    // r0 started in the discarded attempt too: the new cluster must not inherit that attempt's state
    const r0Storage = JSON.parse(readFileSync(join(logDir, 'r0.config.json'), 'utf8')).storage.dir
    assert.deepEqual(readFileSync(join(r0Storage, 'starts.log'), 'utf8').trim().split('\n'), [
      String(cluster.replica('r0').pid()),
    ])
    assert.equal((await cluster.replica('r1').health())?.id, 'r1')
    // the discarded attempt's exits are not this cluster's: a run would report them as replica-exit faults
    assert.deepEqual(cluster.exits, [])
    await cluster.stop()
    assert.deepEqual(tracked(), { pids: [], dirs: [] })
  } finally {
    delete process.env.FAKE_HOST_PORT_TAKEN
    rmSync(logDir, { recursive: true, force: true })
  }
})

test('local launcher: a replica that cannot start fails the launch and leaves nothing behind', async () => {
  await assert.rejects(
    startLocalCluster({
      engine: 'fake',
      engineConfig: {},
      replicas: 2,
      seed: 1,
      storage: 'memory',
      hostEntry: 'harness/launchers/testdata/does-not-exist.ts',
      startTimeoutMs: 20_000,
    }),
    /exited before listening/,
  )
  assert.deepEqual(tracked(), { pids: [], dirs: [] })
})

test('local launcher: a replica that cannot even be spawned fails the launch cleanly (no uncaught error event)', async () => {
  const realExecPath = process.execPath
  process.execPath = '/nonexistent/consensus-bench-node'
  try {
    await assert.rejects(
      startLocalCluster({
        engine: 'fake',
        engineConfig: {},
        replicas: 2,
        seed: 1,
        storage: 'memory',
        hostEntry,
      }),
      /spawn failed.*ENOENT/,
    )
  } finally {
    process.execPath = realExecPath
  }
  // the child's 'error' event comes a tick later: give it the chance to be unhandled
  await new Promise((r) => setTimeout(r, 50))
  assert.deepEqual(tracked(), { pids: [], dirs: [] })
})
