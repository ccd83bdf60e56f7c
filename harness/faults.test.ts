import assert from 'node:assert/strict'
import { hrtime } from 'node:process'
import { test } from 'node:test'
import type { RunClock } from '../workloads/clock.ts'
import { throughputTimeline } from '../workloads/measure.ts'
import { runFaultSchedule, sleepUntil, withFaultEvents } from './faults.ts'
import type { Cluster, ReplicaHandle } from './launchers/types.ts'

/**
 * A run clock that runs at `rate` of the timers' time: at 0.9 every timer fires early as this clock reads
 * it, as a real timer may by up to a millisecond (Node counts timers in whole milliseconds).
 */
function slowClock(rate: number): RunClock {
  const zero = hrtime.bigint()
  return {
    nowUs: () => Math.floor((Number(hrtime.bigint() - zero) / 1000) * rate),
    zeroEpochMs: Date.now(),
    zeroNs: zero.toString(),
  }
}

/** Replicas that answer /health with no leader and take SIGSTOP/SIGCONT: enough for `pause` faults. */
function fakeCluster(ids: readonly string[]): Cluster {
  const replicas = ids.map(
    (id): ReplicaHandle => ({
      id,
      peerAddress: '',
      clientAddress: '',
      clientUrl: '',
      pid: () => null,
      running: () => true,
      kill: async () => {},
      restart: async () => {},
      health: async () => null,
      metrics: async () => null,
    }),
  )
  return {
    launcher: 'local',
    engine: 'fake',
    replicas,
    exits: [],
    replica: (id) => replicas.find((r) => r.id === id)!,
    stop: async () => {},
  }
}

test('faults: a fault due at N ms after the load start is injected at N ms or later, never before', async () => {
  const clock = slowClock(0.9)
  const loadStartUs = clock.nowUs()
  const dues = [30, 70]
  const schedule = runFaultSchedule(
    dues.map((atMs, i) => ({ kind: 'pause', atMs, replica: `r${i}`, forMs: 5 })),
    fakeCluster(['r0', 'r1']),
    clock,
    loadStartUs,
  )
  const records = await schedule.done
  assert.deepEqual(
    records.map((r) => [r.kind, r.error]),
    [
      ['pause', undefined],
      ['pause', undefined],
    ],
  )
  records.forEach((r, i) => {
    const afterMs = (r.atUs - loadStartUs) / 1000
    assert.ok(afterMs >= dues[i]!, `due at ${dues[i]} ms, injected at ${afterMs} ms`)
    // late only by the scheduler's jitter (a generous bound: the machine is shared)
    assert.ok(afterMs < dues[i]! * 4, `due at ${dues[i]} ms, injected at ${afterMs} ms`)
    assert.equal(r.events[0]!.atUs, r.atUs)
  })
})

test("faults: a fault due at a whole second lands on that second's timeline row, not the one before", async () => {
  const clock = slowClock(0.9)
  // the load began 960 ms ago on the run clock: a fault at 1000 ms is due in 40 ms
  const loadStartUs = clock.nowUs() - 960_000
  const schedule = runFaultSchedule(
    [{ kind: 'pause', atMs: 1000, replica: 'r0', forMs: 5 }],
    fakeCluster(['r0']),
    clock,
    loadStartUs,
  )
  const faults = await schedule.done
  const rows = withFaultEvents(
    throughputTimeline([], loadStartUs, loadStartUs + 3_000_000),
    faults,
    loadStartUs,
  )
  assert.deepEqual(
    rows.map((r) => (r.events ?? []).map((e) => e.replace(/^[\d.]+ s: /, ''))),
    [[], ['pause r0 (SIGSTOP)', 'resume r0 (SIGCONT)'], []],
  )
})

test('faults: sleepUntil returns once the run clock has reached the time, or at once when aborted', async () => {
  const clock = slowClock(0.5)
  const dueUs = clock.nowUs() + 20_000
  await sleepUntil(dueUs, clock)
  assert.ok(clock.nowUs() >= dueUs)
  const stop = new AbortController()
  stop.abort()
  const before = clock.nowUs()
  await sleepUntil(before + 60_000_000, clock, stop.signal)
  assert.ok(clock.nowUs() - before < 1_000_000)
})
