import assert from 'node:assert/strict'
import { test } from 'node:test'
import { checkHistory } from '../harness/check/linearizability.ts'
import { startRunClock } from './clock.ts'
import type { LoadShape, LoadSpec } from './driver-spec.ts'
import { runLoad } from './load.ts'
import { fakeReplicas } from './testdata/fake-replicas.ts'

type Replicas = ReadonlyArray<{ id: string; clientUrl: string }>

function spec(replicas: Replicas, shape: LoadShape, over: Partial<LoadSpec> = {}): LoadSpec {
  return {
    sites: replicas.map((r) => ({ name: r.id, replica: r.id })),
    replicas,
    workload: {
      keys: { kind: 'conflict', conflict: 0.2, sharedKeys: 1, privateKeysPerClient: 4 },
      readRatio: 0.5,
      valueSizeBytes: 0,
    },
    shape,
    seed: 1,
    durationMs: 1500,
    warmupMs: 0,
    cooldownMs: 0,
    requestTimeoutMs: 1000,
    maxAttempts: 2,
    maxOps: 1_000_000,
    ...over,
  }
}

const open = (rateOpsPerSec: number, maxOutstanding = 1000): LoadShape => ({
  kind: 'open',
  rateOpsPerSec,
  arrival: 'constant',
  maxOutstanding,
})

test('open loop: the constant schedule is sent in full, to every site, and the history is linearizable', async () => {
  const fake = await fakeReplicas(2, () => false)
  try {
    const load = await runLoad(spec(fake.replicas, open(200)), { clock: startRunClock() })
    // 2 streams at 100/s for 1.5 s: 150 arrivals each
    assert.equal(load.arrivals?.intended, 300)
    assert.equal(load.arrivals?.sent, 300)
    assert.equal(load.arrivals?.sentLate, 0)
    assert.equal(load.errors.unsent, 0)
    assert.equal(load.history.length, 300)
    assert.ok(load.history.every((o) => o.outcome === 'ok'))
    assert.equal(load.latency.merged().totalCount, 300)
    for (const r of load.records) assert.ok(r.invokeUs >= r.intendedUs, 'never sent before its time')
    assert.ok(load.records.some((r) => r.site === 'r1') && load.records.some((r) => r.site === 'r0'))
    assert.equal(checkHistory(load.history).verdict, 'linearizable')
  } finally {
    await fake.close()
  }
})

test('open loop measures a stall from the intended start; a closed loop hides it', async () => {
  let clock = startRunClock()
  // the replicas hold every answer from 500 ms to 900 ms after the load starts
  const pausedFrom = { us: 0 }
  const fake = await fakeReplicas(
    2,
    () => false,
    () => {
      const t = clock.nowUs() - pausedFrom.us
      return t >= 500_000 && t < 900_000
    },
  )
  try {
    clock = startRunClock()
    pausedFrom.us = clock.nowUs()
    const openLoad = await runLoad(spec(fake.replicas, open(200), { durationMs: 2000 }), { clock })
    clock = startRunClock()
    pausedFrom.us = clock.nowUs()
    const closedLoad = await runLoad(
      spec(
        fake.replicas,
        { kind: 'closed', clientsPerSite: 1, thinkTimeMs: 0, opsPerClient: null },
        { durationMs: 2000 },
      ),
      { clock },
    )
    const openP99 = openLoad.latency.merged().getValueAtPercentile(99)
    const closedP99 = closedLoad.latency.merged().getValueAtPercentile(99)
    // the commands due early in the stall waited almost all of its 400 ms
    assert.ok(openP99 >= 300_000, `open loop p99 ${openP99} us`)
    assert.ok(closedP99 < openP99 / 4, `closed loop p99 ${closedP99} us vs open ${openP99} us`)
    // and the closed loop did see the stall, once per client: it is hidden, not absent
    const closed = closedLoad.latency.merged()
    assert.ok(closed.maxValue >= 300_000)
    assert.ok(closed.totalCount > 200, `closed loop ran ${closed.totalCount} commands`)
  } finally {
    await fake.close()
  }
})

test('open loop at its outstanding bound: arrivals wait (latency includes it), then the rest are counted unsent', async () => {
  // nothing ever answers: every command takes one 100 ms timeout, with 2 in flight at most
  const fake = await fakeReplicas(1, () => true)
  try {
    const load = await runLoad(
      spec(fake.replicas, open(200, 2), { durationMs: 500, requestTimeoutMs: 100, maxAttempts: 1 }),
      {
        clock: startRunClock(),
      },
    )
    const a = load.arrivals!
    assert.equal(a.intended, 100)
    assert.ok(a.sent >= 6 && a.sent <= 30, `sent ${a.sent}`)
    assert.ok(a.sentLate > 0)
    assert.equal(a.sent + load.errors.unsent, a.intended, 'every arrival is either sent or counted unsent')
    assert.equal(load.history.length, a.sent)
    assert.ok(load.history.every((o) => o.outcome === 'unknown' && o.completeUs === null))
    assert.equal(load.errors.unknownOutcome, a.sent)
  } finally {
    await fake.close()
  }
})

test('two driver processes: histories concatenated, HDR merged through the encoded form, CPU per driver', async () => {
  const fake = await fakeReplicas(2, () => false)
  try {
    const load = await runLoad(spec(fake.replicas, open(200)), { clock: startRunClock(), drivers: 2 })
    assert.equal(load.arrivals?.intended, 300)
    assert.equal(load.history.length, 300)
    const drivers = new Set(load.history.map((o) => o.client.replace(/^r\d-o(\d+)\..*$/, '$1')))
    assert.deepEqual([...drivers].sort(), ['0', '1'])
    assert.equal(load.latency.merged().totalCount, 300)
    assert.equal(load.drivers.length, 2)
    for (const d of load.drivers) {
      assert.ok(d.wallUs > 1_000_000 && d.userUs > 0, JSON.stringify(d))
      assert.equal(d.saturated, d.utilization >= 0.9)
    }
    assert.equal(checkHistory(load.history).verdict, 'linearizable')
  } finally {
    await fake.close()
  }
})
