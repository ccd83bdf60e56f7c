/**
 * The compose launcher end to end, against a real dockerd (skipped, with the reason, without one):
 * lifecycle (health, metrics, kill + restart of one replica's container), a 20 s multipaxos run on the
 * epaxos-3 topology through `runBenchmark({launcher: 'compose'})` (sidecars shaping and calibrating the
 * replica links, the host the client links), a sidecar that fails, the Dockerfile image, and SIGINT of
 * the CLI mid-run. After each: no container or
 * network of ours is left, and no image was added.
 */
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import type { CalibrationTable } from '../../netem/calibration.ts'
import { probeNetem } from '../../netem/kernel/index.ts'
import { historyFromJsonl } from '../check/history.ts'
import { waitForAgreedLeader } from '../faults.ts'
import type { RunSummary } from '../results/summary.ts'
import { runBenchmark } from '../run.ts'
import { probeDocker } from './compose/docker.ts'
import { startComposeCluster } from './compose.ts'
import { REPO_ROOT } from './local.ts'

const probe = await probeDocker()
const netemWorks = probe.ok && (await probeNetem()).works
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

  test('run --launcher compose --topology epaxos-3: 3 replicas for 20 s, calibrated in the containers, every site at its shaped latency; a partition and a slow link through the sidecars', async () => {
    const root = mkdtempSync(join(tmpdir(), 'cb-compose-run-'))
    try {
      const { dir, summary } = await runBenchmark({
        engine: 'multipaxos',
        launcher: 'compose',
        topology: 'epaxos-3',
        leaderSite: 'CA',
        clientsPerSite: 2,
        durationMs: 20_000,
        warmupMs: 2000,
        storage: 'memory',
        report: false,
        resultsRoot: root,
        // the replica links are shaped in the sidecars: these reach them through link-control.ts
        faults: [
          { kind: 'partition', atMs: 8500, sides: [['leader']], healAfterMs: 3000 },
          { kind: 'slow', atMs: 14_500, replica: 'r2', delayMs: 50, forMs: 2000 },
        ],
      })
      const cell = summary.cells[0]!
      assert.equal(summary.status, 'complete')
      assert.equal(cell.check.verdict, 'linearizable')
      assert.equal(cell.lostWrites.lost, 0)
      const [partition, slow] = cell.faults.filter((f) => f.kind !== 'replica-exit')
      assert.ok(partition?.kind === 'partition' && slow?.kind === 'slow', JSON.stringify(cell.faults))
      for (const f of [partition, slow]) {
        assert.equal(f.error, undefined, `${f.description}: ${f.error}`)
        assert.deepEqual(
          f.events.map((e) => e.what.split(' ')[0]),
          [f.kind, f.kind === 'slow' ? 'r2:' : 'heal'],
        )
      }
      // the partition took: no site committed again before the others' leader timeout (500 ms at the
      // least) had passed; were the sidecars' links untouched, every site would within about its p50
      for (const [site, ms] of Object.entries(partition.recoveryMsBySite ?? {}))
        assert.ok(
          ms !== null && ms >= 500 && ms < 8000,
          `${site} committed again ${ms} ms after the partition`,
        )
      // 6 replica links measured in the sidecars, 12 client links measured on the host
      assert.equal(cell.network?.linksCalibrated, 18)
      const table = JSON.parse(
        readFileSync(join(dir, 'cells', cell.id, 'calibration.json'), 'utf8'),
      ) as CalibrationTable
      assert.equal(table.links.filter((l) => l.from.startsWith('r') && l.to.startsWith('r')).length, 6)
      for (const l of table.links)
        assert.ok(l.measuredRttMsP50 >= l.targetRttMs - 1, `${l.from} -> ${l.to} faster than its shape`)
      assert.ok(cell.network?.shaperPriority !== undefined, "the sidecars' relay priority is reported")
      // before the first fault (the partition moves the leader, and with it every site's latency)
      const history = historyFromJsonl(readFileSync(join(dir, cell.files.history), 'utf8'))
      const beforeFaults = history.filter(
        (op) => op.outcome === 'ok' && op.completeUs !== null && op.completeUs < partition.atUs,
      )
      for (const site of ['CA', 'VA', 'EU']) {
        const ms = beforeFaults
          .filter((op) => op.client.startsWith(`${site}-`))
          .map((op) => (op.completeUs! - op.invokeUs) / 1000)
          .sort((a, b) => a - b)
        assert.ok(ms.length > 10, `site ${site} served ${ms.length} commands before the faults`)
        // physics: a client cannot beat its site's message pattern through shaped links (leader on CA:
        // CA 85, VA 170, EU 241 ms)
        const p50 = ms[Math.floor(ms.length / 2)]!
        const expected = cell.sites[site]!.expectedLatencyMs!
        assert.ok(
          p50 >= 0.97 * expected,
          `${site}: p50 ${p50} ms < expected ${expected} ms: its links are not shaped`,
        )
      }
    } finally {
      rmSync(root, { recursive: true, force: true })
    }
  })

  test('a sidecar that cannot shape fails the start with its log, and leaves nothing behind', {
    skip: netemWorks ? 'netem works on this kernel: the kernel shaper would succeed' : false,
  }, async () => {
    const shape = {
      delayMs: 5,
      jitterMs: 0,
      jitterDistribution: 'normal',
      lossRate: 0,
      bandwidthBytesPerSec: null,
    } as const
    await assert.rejects(
      startComposeCluster({
        engine: 'multipaxos',
        engineConfig: {},
        replicas: 2,
        seed: 1,
        storage: 'memory',
        shaper: 'kernel',
        links: [
          { from: 'r0', to: 'r1', shape },
          { from: 'r1', to: 'r0', shape },
        ],
        calibrationProbes: 5,
      }),
      /sidecar of r\d exited before its 'shaped' line[\s\S]*netem/,
    )
    assert.deepEqual(ours(), { containers: [], networks: [], volumes: [] })
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

  test('SIGINT of `consensus-bench run --launcher compose --topology` removes its containers, network and relays', async () => {
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
          '--topology',
          'epaxos-3',
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
          // any progress line from 2 s on: under load the 1 s ticker can skip a second
          if (/: ([2-9]|\d{2,}) s, \d+ commands/.test(stderr)) resolve()
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
