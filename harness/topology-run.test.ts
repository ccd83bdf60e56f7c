/**
 * `run --topology` end to end on a small synthetic topology (a few ms of RTT, so it stays fast): real
 * multipaxos replicas, the real relay, calibration first. Every relay process the run started (the
 * calibration's and the cell's) must be gone afterwards, on a normal end and on SIGINT.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { calibrateNetwork } from '../netem/calibrate.ts'
import { type RelayNetwork, relayShaper } from '../netem/relay/index.ts'
import type { Shaper } from '../netem/shaper.ts'
import type { ScheduledFaultRecord } from './faults.ts'
import { isProcessAlive, tracked } from './launchers/cleanup.ts'
import type { RunSummary } from './results/summary.ts'
import { RunOptionError, resolveRunOptions, runBenchmark } from './run.ts'
import type { TopologyRunDeps } from './topology-run.ts'

const root = mkdtempSync(join(tmpdir(), 'cb-topology-run-test-'))
after(() => rmSync(root, { recursive: true, force: true }))

const topologyFile = join(root, 'tiny.yaml')
writeFileSync(
  topologyFile,
  `name: tiny
description: three sites a few ms apart
source: made up for a test
sites: [{ name: A }, { name: B }, { name: C }]
links:
  - { between: [A, B], rttMs: 4 }
  - { between: [B, C], rttMs: 6 }
  - { between: [A, C], rttMs: 8 }
`,
)

/** The relay, with every process it starts recorded so the test can check they are gone. */
function recordingRelay(pids: number[]): TopologyRunDeps {
  const shaper: Shaper = {
    kind: 'relay',
    apply: async (spec) => {
      const network = (await relayShaper.apply(spec)) as RelayNetwork
      pids.push(network.pid)
      return network
    },
  }
  return {
    chooseShaper: async () => ({ shaper, kind: 'relay', reason: 'test', priority: () => null }),
    calibrate: calibrateNetwork,
  }
}

async function assertGone(pids: readonly number[]): Promise<void> {
  for (let i = 0; i < 40 && pids.some(isProcessAlive); i++) await new Promise((r) => setTimeout(r, 50))
  assert.deepEqual(pids.filter(isProcessAlive), [], 'no relay process left')
}

describe('run --topology', () => {
  it('validates topology, leader site and replicas before anything starts', () => {
    const base = { engine: 'multipaxos', resultsRoot: root }
    const optionError = (field: string, fix: RegExp) => (e: unknown) =>
      e instanceof RunOptionError && e.field === field && fix.test(e.fix)
    assert.throws(
      () => resolveRunOptions({ ...base, leaderSite: 'CA' }),
      optionError('leaderSite', /--topology/),
    )
    assert.throws(
      () => resolveRunOptions({ ...base, topology: 'nowhere-9' }),
      optionError('topology', /epaxos-3/),
    )
    assert.throws(
      () => resolveRunOptions({ ...base, topology: 'epaxos-3', leaderSite: 'JP' }),
      optionError('leaderSite', /CA, VA, EU/),
    )
    assert.throws(
      () =>
        resolveRunOptions({
          ...base,
          topology: 'epaxos-3',
          leaderSite: 'CA',
          engineConfig: { initialLeader: 2 },
        }),
      optionError('leaderSite', /not both/),
    )
    const o = resolveRunOptions({ ...base, topology: 'epaxos-5', leaderSite: 'EU' })
    assert.equal(o.replicas, 5, 'one replica per site by default')
    assert.equal(o.engineConfig.initialLeader, 'r2', "the leader site's replica")
    assert.equal(resolveRunOptions({ ...base, topology: 'epaxos-3', replicas: 4 }).replicas, 4)
    assert.equal(resolveRunOptions(base).replicas, 3)
  })

  it('runs multipaxos on a 3-site topology: calibration in env.json, expectedLatencyMs per site, no relay left', async () => {
    const pids: number[] = []
    const { dir, summary } = await runBenchmark(
      {
        engine: 'multipaxos',
        topology: topologyFile,
        leaderSite: 'A',
        clientsPerSite: 2,
        durationMs: 3000,
        warmupMs: 1000,
        calibrationProbes: 20,
        resultsRoot: root,
      },
      { network: recordingRelay(pids) },
    )
    assert.equal(summary.status, 'complete')
    const cell = summary.cells[0]!
    assert.equal(cell.topology, 'tiny')
    assert.equal(cell.replicas, 3)
    assert.equal(cell.check.verdict, 'linearizable')
    // A-B 4, B-C 6, A-C 8. The placed leader r0 (A) usually wins the first election, but on a loaded
    // host a replica that booted first may take over: expectations follow the agreed leader.
    const expectedByLeader: Record<string, Record<string, number>> = {
      r0: { A: 4, B: 8, C: 12 }, // A waits for B (4); B forwards to A (4) + 4; C forwards (8) + 4
      r1: { A: 8, B: 4, C: 10 },
      r2: { A: 14, B: 12, C: 6 },
    }
    const agreed = cell.network?.leader?.agreed
    assert.ok(agreed !== undefined && agreed !== null, 'the replicas agreed on a leader')
    assert.deepEqual(
      Object.fromEntries(Object.entries(cell.sites).map(([name, s]) => [name, s.expectedLatencyMs])),
      expectedByLeader[agreed],
    )
    for (const [name, s] of Object.entries(cell.sites)) {
      assert.ok(s.ops > 0, `site ${name} completed commands`)
      // shaped for real: a site's median is at least most of its expected latency
      assert.ok(s.latencyUs.p50 >= 0.8 * s.expectedLatencyMs! * 1000, `${name}: p50 ${s.latencyUs.p50} us`)
    }
    // 3 replica pairs and 3 groups x 2 other-site APIs, both directions
    assert.equal(cell.network?.linksCalibrated, 18)
    assert.equal(cell.network?.shaper, 'relay')
    assert.equal(cell.network?.leader?.placed, 'r0')
    const env = JSON.parse(readFileSync(join(dir, 'env.json'), 'utf8'))
    assert.equal(env.shaper, 'relay')
    assert.equal(env.shaperReason, 'test')
    assert.equal(env.calibration.links.length, 18)
    assert.deepEqual(Object.keys(env.calibration.links[0]).sort(), [
      'errorMs',
      'from',
      'measuredRttMsP50',
      'measuredRttMsP99',
      'targetRttMs',
      'to',
    ])
    const r1 = JSON.parse(readFileSync(join(dir, 'cells', cell.id, 'replicas', 'r1.config.json'), 'utf8'))
    const peers = r1.nodes.filter((n: { id: string }) => n.id !== 'r1')
    assert.ok(
      peers.every((n: { peerAddress: string }) => n.peerAddress.startsWith('127.0.0.250:')),
      `r1 dials its peers through the relay: ${JSON.stringify(peers)}`,
    )
    assert.equal(pids.length, 2, 'one relay for the calibration, one for the cell')
    await assertGone(pids)
    assert.deepEqual(tracked(), { pids: [], dirs: [] })
  })

  it('closes the relay when the replicas cannot start', async () => {
    const pids: number[] = []
    await assert.rejects(
      runBenchmark(
        {
          engine: 'fake',
          hostEntry: 'harness/launchers/testdata/no-such-host.ts',
          topology: topologyFile,
          durationMs: 1000,
          warmupMs: 0,
          calibrationProbes: 5,
          resultsRoot: join(root, 'failed'),
        },
        { network: recordingRelay(pids) },
      ),
      /exited before listening/,
    )
    assert.equal(pids.length, 2, "the calibration's relay and the cell's, started before the replicas")
    await assertGone(pids)
    assert.deepEqual(tracked(), { pids: [], dirs: [] })
  })

  it('closes the relay on SIGINT', async () => {
    const pids: number[] = []
    const exitCodes: Array<number | string | null | undefined> = []
    const realExit = process.exit
    process.exit = ((code?: number | string | null) => {
      exitCodes.push(code)
    }) as typeof process.exit
    const resultsRoot = join(root, 'interrupted')
    try {
      let signalled = false
      const run = runBenchmark(
        {
          engine: 'multipaxos',
          topology: topologyFile,
          clientsPerSite: 1,
          durationMs: 5000,
          warmupMs: 200,
          calibrationProbes: 10,
          storage: 'memory',
          resultsRoot,
        },
        {
          network: recordingRelay(pids),
          progress: (line) => {
            if (!signalled && /: 1 s, \d+ commands/.test(line)) {
              signalled = true
              process.kill(process.pid, 'SIGINT')
            }
          },
        },
      )
      await assert.rejects(run, /interrupted/)
      for (let i = 0; i < 100 && exitCodes.length === 0; i++) await new Promise((r) => setTimeout(r, 50))
      assert.deepEqual(exitCodes, [130])
      const [runId] = readdirSync(resultsRoot)
      const summary = JSON.parse(
        readFileSync(join(resultsRoot, runId!, 'summary.json'), 'utf8'),
      ) as RunSummary
      assert.equal(summary.status, 'incomplete')
      assert.equal(pids.length, 2)
      await assertGone(pids)
      assert.deepEqual(tracked(), { pids: [], dirs: [] })
    } finally {
      process.exit = realExit
    }
  })

  it('faults through the relay: a partition of the leader, healed; a kill with restart; a slow replica; each an event, per-site recovery, nothing lost', async () => {
    const pids: number[] = []
    const { dir, summary } = await runBenchmark(
      {
        engine: 'raft',
        engineConfig: { electionTimeoutMsMin: 300, electionTimeoutMsMax: 600 },
        topology: topologyFile,
        clientsPerSite: 2,
        durationMs: 6000,
        warmupMs: 500,
        calibrationProbes: 5,
        storage: 'memory',
        resultsRoot: root,
        report: false,
        // on whole seconds: a fault is never injected before its time on the timeline's clock (an event
        // due at exactly 3000 ms once fell in second 2, a timer firing a fraction of a ms early)
        faults: [
          { kind: 'partition', atMs: 1000, sides: [['leader']], healAfterMs: 1200 },
          { kind: 'kill', atMs: 3000, replica: 'r1', restartAfterMs: 800 },
          { kind: 'slow', atMs: 4500, replica: 'r2', delayMs: 30, forMs: 600 },
        ],
      },
      { network: recordingRelay(pids) },
    )
    const cell = summary.cells[0]!
    const faults = cell.faults.filter((f): f is ScheduledFaultRecord => f.kind !== 'replica-exit')
    assert.deepEqual(
      faults.map((f) => [f.kind, f.error, f.events.length]),
      [
        ['partition', undefined, 2],
        ['kill', undefined, 2],
        ['slow', undefined, 2],
      ],
    )
    for (const [i, f] of faults.entries()) {
      // summary.json: the fault's time counts from loadStartUs, the timeline's second 0, and is never early
      const dueMs = [1000, 3000, 4500][i]!
      assert.ok(
        f.atUs - cell.loadStartUs >= dueMs * 1000,
        `${f.description}: at ${f.atUs - cell.loadStartUs} us`,
      )
      assert.ok(f.endUs !== null && f.endUs > f.atUs, `${f.description} ended`)
      assert.deepEqual(Object.keys(f.recoveryMsBySite ?? {}).sort(), ['A', 'B', 'C'])
      // every site committed again after every fault, within a few election timeouts
      for (const [site, ms] of Object.entries(f.recoveryMsBySite ?? {}))
        assert.ok(ms !== null && ms < 4000, `${f.description}: ${site} recovered after ${ms} ms`)
    }
    const partition = faults[0]!
    assert.ok(partition.kind === 'partition')
    assert.match(partition.events[0]!.what, /^partition \{r\d\} <-> \{r\d,r\d\} \(hold\)$/)
    assert.equal(partition.events[1]!.what, 'heal')
    // the history says: linearizable, and every key read back shows its last acknowledged write
    assert.equal(cell.check.verdict, 'linearizable')
    assert.ok(cell.lostWrites.keysChecked > 5, `${cell.lostWrites.keysChecked} keys checked`)
    assert.equal(cell.lostWrites.lost, 0)
    // the timeline carries the events on the rows of their seconds
    const rows = readFileSync(join(dir, cell.files.timeline), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { second: number; events?: string[] })
    const events = rows.flatMap((r) => (r.events ?? []).map((e) => [r.second, e.replace(/^[\d.]+ s: /, '')]))
    assert.deepEqual(
      events.map(([, e]) => String(e).split(' ')[0]),
      ['partition', 'heal', 'kill', 'restart', 'slow', 'r2:'],
    )
    // fault times count from the load's start, as the timeline's seconds do
    assert.deepEqual(
      events.slice(0, 3).map(([sec]) => sec),
      [1, 2, 3],
    )
    await assertGone(pids)
  })
})
