/**
 * The compose launcher end to end, against a real dockerd (skipped, with the reason, without one):
 * lifecycle (health, metrics, kill + restart of one replica's container), a 20 s multipaxos run through
 * `runBenchmark({launcher: 'compose'})`, the Dockerfile image, and SIGINT of the CLI mid-run. After each: no container or
 * network of ours is left, and no image was added.
 */
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { request as httpRequest } from 'undici'
import { waitForAgreedLeader } from '../faults.ts'
import type { RunSummary } from '../results/summary.ts'
import { runBenchmark } from '../run.ts'
import { probeDocker } from './compose/docker.ts'
import { startComposeCluster } from './compose.ts'
import { REPO_ROOT } from './local.ts'

const probe = await probeDocker()
const skip = !probe.ok
  ? `docker is unavailable: ${probe.reason} (fix: ${probe.fix})`
  : probe.compose === null
    ? 'neither docker compose nor docker-compose is installed (fix: apt-get install -y docker-compose)'
    : false

function lines(argv: string[]): string[] {
  return execFileSync('docker', argv, { encoding: 'utf8' }).split('\n').filter(Boolean).sort()
}
/** every container and network the launcher makes carries these labels */
const ours = () => ({
  containers: lines(['ps', '-aq', '--filter', 'label=consensus-bench.role']),
  networks: lines(['network', 'ls', '-q', '--filter', 'label=com.docker.compose.network=bench']),
  // relay mode's shared volumes, <project>_r<i>-shaper
  volumes: lines(['volume', 'ls', '-q', '--filter', 'label=com.docker.compose.project']).filter((v) =>
    /^cb-.*_r\d+-shaper$/.test(v),
  ),
})
const images = () => lines(['images', '-aq', '--no-trunc'])

describe('compose launcher (docker)', { skip }, () => {
  let imagesBefore: string[] = []
  before(async () => {
    // the base image is built (once) by the first start; count images after it exists
    const { buildBaseImage } = await import('./compose/base-image.ts')
    await buildBaseImage()
    assert.deepEqual(
      ours(),
      { containers: [], networks: [], volumes: [] },
      'containers or networks of ours from before',
    )
    imagesBefore = images()
  })
  after(() => {
    assert.deepEqual(ours(), { containers: [], networks: [], volumes: [] })
    assert.deepEqual(images(), imagesBefore, 'the tests added or removed images')
  })

  test('lifecycle: healthy replicas, an agreed leader, metrics, kill and restart of a container', async () => {
    const exits: string[] = []
    const cluster = await startComposeCluster({
      engine: 'multipaxos',
      engineConfig: {},
      replicas: 3,
      seed: 1,
      storage: 'file',
      onExit: (e) => exits.push(`${e.replica}:${e.exitCode}:${e.signal}:${e.expected}`),
    })
    try {
      assert.equal(cluster.launcher, 'compose')
      assert.deepEqual(
        cluster.replicas.map((r) => r.id),
        ['r0', 'r1', 'r2'],
      )
      assert.equal(new Set(cluster.replicas.map((r) => r.clientAddress)).size, 3)
      const leader = await waitForAgreedLeader(cluster, 30_000)
      assert.ok(leader !== null, 'no agreed leader')
      const metrics = (await cluster.replica('r0').metrics(5000)) as Record<string, unknown> | null
      assert.ok(metrics !== null && typeof metrics === 'object')
      const victim = cluster.replica('r2')
      const pidBefore = victim.pid()
      assert.ok(pidBefore !== null && pidBefore > 0)
      await victim.kill('SIGKILL')
      assert.equal(victim.running(), false)
      assert.equal(await victim.health(500), null)
      assert.deepEqual(exits, ['r2:137:SIGKILL:true'])
      await victim.restart()
      assert.equal(victim.running(), true)
      const health = await victim.health(5000)
      assert.equal(health?.id, 'r2')
      assert.notEqual(victim.pid(), pidBefore)
    } finally {
      await cluster.stop()
      await cluster.stop() // twice is safe
    }
    assert.deepEqual(ours(), { containers: [], networks: [], volumes: [] })
  })

  test('run --launcher compose: 3 multipaxos replicas for 20 s, linearizable, every site served', async () => {
    const root = mkdtempSync(join(tmpdir(), 'cb-compose-run-'))
    try {
      const { summary } = await runBenchmark({
        engine: 'multipaxos',
        launcher: 'compose',
        replicas: 3,
        clientsPerSite: 4,
        durationMs: 20_000,
        warmupMs: 1000,
        resultsRoot: root,
      })
      const cell = summary.cells[0]!
      assert.equal(summary.status, 'complete')
      assert.equal(cell.check.verdict, 'linearizable')
      for (const site of ['r0', 'r1', 'r2'])
        assert.ok((cell.sites[site]?.ops ?? 0) > 0, `site ${site} served nothing`)
    } finally {
      rmSync(root, { recursive: true, force: true })
    }
  })

  test('relay mode: the sidecar relays the links the replica dials; a commit at the leader takes >= 1 shaped RTT', async () => {
    const shape = {
      delayMs: 25,
      jitterMs: 0,
      jitterDistribution: 'normal',
      lossRate: 0,
      bandwidthBytesPerSec: null,
    } as const
    const ids = ['r0', 'r1', 'r2']
    const links = ids.flatMap((from) => ids.filter((to) => to !== from).map((to) => ({ from, to, shape })))
    const cluster = await startComposeCluster({
      engine: 'multipaxos',
      engineConfig: {},
      replicas: 3,
      seed: 1,
      storage: 'memory',
      shaper: 'relay',
      links,
    })
    try {
      const leader = await waitForAgreedLeader(cluster, 30_000)
      assert.ok(leader !== null)
      const url = `${cluster.replica(leader).clientUrl}/kv/probe`
      const latenciesMs: number[] = []
      for (let seq = 1; seq <= 9; seq++) {
        const t0 = performance.now()
        const response: Awaited<ReturnType<typeof httpRequest>> = await httpRequest(url, {
          method: 'PUT',
          body: `v${seq}`,
          headers: { 'x-client-id': 'compose-test', 'x-seq': String(seq) },
        })
        await response.body.text()
        assert.equal(response.statusCode, 200)
        latenciesMs.push(performance.now() - t0)
      }
      const median = [...latenciesMs].sort((a, b) => a - b)[4]!
      // physics: the leader needs a quorum's reply, one 50 ms RTT away; unshaped this is a few ms
      assert.ok(median >= 50, `median ${median.toFixed(1)} ms < 50 ms: the links are not shaped`)
      assert.ok(median < 2000, `median ${median.toFixed(1)} ms`)
    } finally {
      await cluster.stop()
    }
  })

  test('docker/Dockerfile builds FROM the base image and runs the CLI; the image is removed after', async () => {
    const { buildAppImage } = await import('./compose/app-image.ts')
    const tag = `consensus-bench/app:test-${process.pid}`
    try {
      assert.deepEqual(await buildAppImage({ tag }), { tag, built: true })
      const out = execFileSync(
        'docker',
        [
          'run',
          '--rm',
          '--network',
          'none',
          tag,
          'node',
          '--import',
          'tsx',
          'harness/cli.ts',
          'engines',
          '--json',
        ],
        { encoding: 'utf8' },
      )
      const engines = JSON.parse(out) as { name: string }[]
      assert.ok(engines.some((e) => e.name === 'multipaxos'))
      // the sidecar's tools are in the image: tc and iptables answer
      execFileSync('docker', ['run', '--rm', '--network', 'none', tag, 'tc', '-V'])
      execFileSync('docker', ['run', '--rm', '--network', 'none', tag, 'iptables', '--version'])
    } finally {
      execFileSync('docker', ['rmi', '-f', tag], { stdio: 'ignore' })
    }
  })

  test('SIGINT of `consensus-bench run --launcher compose` removes its containers and network', async () => {
    const root = mkdtempSync(join(tmpdir(), 'cb-compose-sigint-'))
    try {
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          'harness/cli.ts',
          'run',
          '--launcher',
          'compose',
          '--engine',
          'multipaxos',
          '--duration',
          '60s',
          '--results',
          root,
        ],
        { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'] },
      )
      let stderr = ''
      const loadRunning = new Promise<void>((resolve) => {
        child.stderr.setEncoding('utf8').on('data', (d: string) => {
          stderr += d
          if (/: 2 s, \d+ commands/.test(stderr)) resolve()
        })
      })
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
      await Promise.race([loadRunning, exited])
      assert.ok(ours().containers.length >= 6, `containers should be running; stderr:\n${stderr}`)
      child.kill('SIGINT')
      assert.equal(await exited, 130, stderr)
      assert.deepEqual(ours(), { containers: [], networks: [], volumes: [] })
      const summary = JSON.parse(
        execFileSync('sh', ['-c', `cat ${root}/*/summary.json`], { encoding: 'utf8' }),
      ) as RunSummary
      assert.equal(summary.status, 'incomplete')
    } finally {
      rmSync(root, { recursive: true, force: true })
    }
  })
})
