import assert from 'node:assert/strict'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { test } from 'node:test'
import { checkHistory } from '../harness/check/linearizability.ts'
import { type RunClock, startRunClock } from './clock.ts'
import type { Site } from './executor.ts'
import { runLoad } from './load.ts'
import { fakeReplicas } from './testdata/fake-replicas.ts'

/** The flat options these tests were written with, mapped onto a one-driver closed-loop load. */
interface ClosedLoopOptions {
  sites: Site[]
  replicas: ReadonlyArray<{ id: string; clientUrl: string }>
  clientsPerSite: number
  conflict: number
  readRatio: number
  sharedKeys: number
  privateKeysPerClient: number
  seed: number
  durationMs: number
  warmupMs: number
  cooldownMs: number
  requestTimeoutMs: number
  maxAttempts: number
  maxOps: number
  clock: RunClock
}

function runClosedLoop(o: ClosedLoopOptions) {
  return runLoad(
    {
      sites: o.sites,
      replicas: o.replicas,
      workload: {
        keys: {
          kind: 'conflict',
          conflict: o.conflict,
          sharedKeys: o.sharedKeys,
          privateKeysPerClient: o.privateKeysPerClient,
        },
        readRatio: o.readRatio,
        valueSizeBytes: 0,
      },
      shape: { kind: 'closed', clientsPerSite: o.clientsPerSite, thinkTimeMs: 0, opsPerClient: null },
      seed: o.seed,
      durationMs: o.durationMs,
      warmupMs: o.warmupMs,
      cooldownMs: o.cooldownMs,
      requestTimeoutMs: o.requestTimeoutMs,
      maxAttempts: o.maxAttempts,
      maxOps: o.maxOps,
    },
    { clock: o.clock },
  )
}

function options(
  replicas: ReadonlyArray<{ id: string; clientUrl: string }>,
  over: Partial<ClosedLoopOptions> = {},
): ClosedLoopOptions {
  return {
    sites: replicas.map((r) => ({ name: r.id, replica: r.id })),
    replicas,
    clientsPerSite: 3,
    conflict: 0.2,
    readRatio: 0.5,
    sharedKeys: 1,
    privateKeysPerClient: 4,
    seed: 1,
    durationMs: 600,
    warmupMs: 100,
    cooldownMs: 0,
    requestTimeoutMs: 1000,
    maxAttempts: 3,
    maxOps: 1_000_000,
    clock: startRunClock(),
    ...over,
  }
}

test('closed loop: sequential sessions, unique put values, trimmed latency, linearizable history', async () => {
  const fake = await fakeReplicas(2, () => false)
  try {
    const result = await runClosedLoop(options(fake.replicas, { durationMs: 1500 }))
    // a few commands per client are enough for the checks below; a starved host manages only dozens
    assert.ok(result.history.length >= 12, `only ${result.history.length} ops`)
    const clients = new Set(result.history.map((op) => op.client))
    assert.deepEqual([...clients].sort(), ['r0-c0', 'r0-c1', 'r0-c2', 'r1-c0', 'r1-c1', 'r1-c2'])
    for (const client of clients) {
      const ops = result.history.filter((op) => op.client === client).sort((a, b) => a.seq - b.seq)
      for (const [i, op] of ops.entries()) assert.equal(op.seq, i + 1)
      for (let i = 1; i < ops.length; i++)
        assert.ok(ops[i]!.invokeUs >= ops[i - 1]!.completeUs!, 'one command at a time')
    }
    const puts = result.history.filter((op) => op.op === 'put')
    assert.equal(new Set(puts.map((op) => op.value)).size, puts.length)
    for (const op of puts) assert.equal(op.value, `${op.client}:${op.seq}`)
    // site r0's clients talk to r0 only when nothing fails
    for (const s of fake.seen) assert.equal(`r${s.replica}`, s.client.split('-')[0])
    const measured = [...result.measuredOpsBySite.values()].reduce((a, b) => a + b, 0)
    assert.equal(result.latency.merged().totalCount, measured)
    assert.ok(measured < result.history.length, 'warm-up ops are trimmed from latency')
    assert.equal(checkHistory(result.history).verdict, 'linearizable')
  } finally {
    await fake.close()
  }
})

test('closed loop: a command with no answer is retried with the same id at another replica', async () => {
  // r0 never answers r0-c0's 2nd command; the retry at r1 succeeds
  const fake = await fakeReplicas(
    2,
    (replica, client, seq) => replica === 0 && client === 'r0-c0' && seq === 2,
  )
  try {
    const result = await runClosedLoop(
      options(fake.replicas, { clientsPerSite: 1, requestTimeoutMs: 150, durationMs: 500 }),
    )
    const attempts = fake.seen.filter((s) => s.client === 'r0-c0' && s.seq === 2)
    assert.deepEqual(
      attempts.map((a) => a.replica),
      [0, 1],
    )
    const op = result.history.find((o) => o.client === 'r0-c0' && o.seq === 2)!
    assert.equal(op.outcome, 'ok')
    assert.ok(op.completeUs! - op.invokeUs >= 150_000, 'latency includes the timed-out attempt')
    assert.equal(result.errors.timeout, 1)
  } finally {
    await fake.close()
  }
})

test('closed loop: after the last attempt times out the outcome is unknown and the client moves on', async () => {
  const fake = await fakeReplicas(2, (_replica, client, seq) => client === 'r0-c0' && seq === 1)
  try {
    const result = await runClosedLoop(
      options(fake.replicas, {
        clientsPerSite: 1,
        requestTimeoutMs: 100,
        maxAttempts: 2,
        durationMs: 400,
        warmupMs: 0,
      }),
    )
    const first = result.history.find((o) => o.client === 'r0-c0' && o.seq === 1)!
    assert.equal(first.outcome, 'unknown')
    assert.equal(first.completeUs, null)
    assert.ok(result.history.some((o) => o.client === 'r0-c0' && o.seq === 2 && o.outcome === 'ok'))
    assert.equal(result.errors.unknownOutcome, 1)
    assert.equal(checkHistory(result.history).verdict, 'linearizable')
  } finally {
    await fake.close()
  }
})

/** One replica that answers every /kv request the same way: never, 409, or ok. */
async function scriptedReplica(answer: 'hang' | 'reject' | 'ok') {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume()
    req.on('end', () => {
      if (answer === 'hang') return
      if (answer === 'reject') {
        res.statusCode = 409
        res.end(JSON.stringify({ error: 'rejected', reason: 'overloaded' }))
      } else res.end(JSON.stringify({ value: null }))
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const close = async () => {
    server.closeAllConnections()
    await new Promise((r) => server.close(r))
  }
  return { url, close }
}

/** A loopback address nothing listens on: connections are refused. */
async function refusedUrl(): Promise<string> {
  const { url, close } = await scriptedReplica('ok')
  await close()
  return url
}

test('closed loop: fail only when no attempt can have executed; a timeout anywhere makes it unknown', async () => {
  const hang = await scriptedReplica('hang')
  const reject = await scriptedReplica('reject')
  const refused = await refusedUrl()
  const run = (urls: string[]) =>
    runClosedLoop(
      options(
        urls.map((clientUrl, i) => ({ id: `r${i}`, clientUrl })),
        { sites: [{ name: 'r0', replica: 'r0' }], clientsPerSite: 1, requestTimeoutMs: 80 },
      ),
    ).then((r) => ({ r, first: r.history.find((o) => o.client === 'r0-c0' && o.seq === 1)! }))
  try {
    for (const [urls, what] of [
      [[hang.url, refused], 'timeout, then connection refused'],
      [[hang.url, reject.url], 'timeout, then 409'],
      [[reject.url, hang.url, refused], '409, then timeout, then refused'],
    ] as const) {
      const { r, first } = await run([...urls])
      assert.equal(first.outcome, 'unknown', what)
      assert.equal(first.completeUs, null, what)
      assert.equal(r.errors.failedOutcome, 0, what)
      assert.equal(r.errors.unknownOutcome, r.history.length, what)
    }
    const { r, first } = await run([reject.url, refused])
    assert.equal(first.outcome, 'fail', '409 and refused: definitely not executed')
    assert.ok(first.completeUs !== null && first.completeUs >= first.invokeUs)
    assert.equal(r.errors.failedOutcome, r.history.length)
    assert.ok(r.errors.rejected > 0 && r.errors.refused > 0)
  } finally {
    await hang.close()
    await reject.close()
  }
})

test('closed loop: a site with its own replica URLs (a link shaper) reaches the replicas only through them', async () => {
  // 3 servers: site r0's clients reach "r0" at server 2 (say, a relay); site r1 uses the plain URLs
  const fake = await fakeReplicas(3, () => false)
  try {
    const [s0, s1, s2] = fake.replicas
    const result = await runClosedLoop(
      options([s0!, s1!], {
        sites: [
          { name: 'r0', replica: 'r0', targets: [{ id: 'r0', clientUrl: s2!.clientUrl }, s1!] },
          { name: 'r1', replica: 'r1' },
        ],
      }),
    )
    assert.ok(result.history.length > 10, `only ${result.history.length} ops`)
    const servedBy = (prefix: string) =>
      new Set(fake.seen.filter((s) => s.client.startsWith(prefix)).map((s) => s.replica))
    assert.deepEqual([...servedBy('r0-')], [2], "site r0's first choice went to its own URL for r0")
    assert.deepEqual([...servedBy('r1-')], [1])
  } finally {
    await fake.close()
  }
})
