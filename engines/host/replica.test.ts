/** Replicas in-process through the library API: restart from file storage, and the engine-config path. */
import assert from 'node:assert/strict'
import { open } from 'node:fs/promises'
import { createServer, type Socket, connect as tcpConnect } from 'node:net'
import { join } from 'node:path'
import { test } from 'node:test'
import type { EngineContext, EngineMessage, EngineModule } from '../core/engine.ts'
import { ReplicaConfigError } from './config.ts'
import { startReplica } from './replica.ts'
import { clusterConfigs, freePort, kv, tempDir } from './testdata/cluster.ts'
import { sequencerEngine } from './testdata/sequencer-engine.ts'

const quiet = { engineOverride: sequencerEngine, log: () => {} }

test('in-process replicas replicate, and a restarted cluster recovers its state from file storage', async (t) => {
  const dir = tempDir(t)
  const configs = await clusterConfigs(3, dir, { storage: 'file' })
  let replicas = await Promise.all(configs.map((c) => startReplica(c, quiet)))
  t.after(() => Promise.all(replicas.map((r) => r.close())))
  for (let seq = 1; seq <= 20; seq++) {
    const res = await kv(
      replicas[seq % 3]!.clientAddress,
      'put',
      `k${seq % 4}`,
      { client: 'c', seq },
      `v${seq}`,
    )
    assert.equal(res.status, 200)
  }
  assert.equal(replicas[0]!.health().executed, 20)
  assert.ok(replicas[0]!.metrics().storage.fsyncs >= 1)
  await Promise.all(replicas.map((r) => r.close()))

  replicas = await Promise.all(configs.map((c) => startReplica(c, quiet)))
  assert.equal(replicas[0]!.health().executed, 20, 'the log was replayed at start')
  assert.deepEqual(await kv(replicas[2]!.clientAddress, 'get', 'k0', { client: 'd', seq: 1 }), {
    status: 200,
    body: { value: 'v20' },
  })
  // A retried command id is executed at most once, so a retry of put seq 20 reads back as a duplicate.
  assert.equal(
    (await kv(replicas[1]!.clientAddress, 'put', 'k0', { client: 'c', seq: 20 }, 'again')).status,
    200,
  )
  assert.equal((await kv(replicas[1]!.clientAddress, 'get', 'k0', { client: 'd', seq: 2 })).body.value, 'v20')
})

test('an engine config error names the engineConfig field; an unknown engine lists the known ones', async (t) => {
  const [config] = await clusterConfigs(1, tempDir(t))
  await assert.rejects(
    startReplica({ ...config!, engineConfig: { pingIntervalMS: 5 } }, quiet),
    (err: unknown) =>
      err instanceof ReplicaConfigError &&
      /engineConfig/.test(err.field) &&
      /pingIntervalMS/.test(err.message),
  )
  await assert.rejects(
    startReplica({ ...config!, engine: 'no-such-engine' }, { log: () => {} }),
    (err: unknown) => err instanceof ReplicaConfigError && err.field === 'engine',
  )
})

test('peers reconnect after a replica restarts, and frames queued meanwhile are delivered', async (t) => {
  const dir = tempDir(t)
  const configs = await clusterConfigs(3, dir, { storage: 'file' })
  const fastRedial = { ...quiet, transportLimits: { reconnectDelayMsMin: 10, reconnectDelayMsMax: 100 } }
  const replicas = await Promise.all(configs.map((c) => startReplica(c, fastRedial)))
  t.after(() => Promise.all(replicas.map((r) => r.close())))
  assert.equal((await kv(replicas[1]!.clientAddress, 'put', 'a', { client: 'c', seq: 1 }, '1')).status, 200)
  await replicas[1]!.close()
  const connectsBefore = replicas[0]!.metrics().transport.connects
  replicas[1] = await startReplica(configs[1]!, fastRedial)
  // Through r1: forward r1 -> r0 on a new connection, apply r0 -> r1 on r0's redialled one.
  assert.deepEqual(await kv(replicas[1]!.clientAddress, 'get', 'a', { client: 'c', seq: 2 }), {
    status: 200,
    body: { value: '1' },
  })
  assert.ok(replicas[0]!.metrics().transport.connects > connectsBefore, 'r0 redialled r1')
})

test('requests held at shutdown are answered 503 (outcome unknown), not 409', async (t) => {
  const configs = await clusterConfigs(2, tempDir(t))
  const replicas = await Promise.all(configs.map((c) => startReplica(c, quiet)))
  t.after(() => Promise.all(replicas.map((r) => r.close())))
  await replicas[0]!.close() // the sequencer: r1 now holds what it forwards
  const held = fetch(`http://${replicas[1]!.clientAddress}/kv/a`, {
    method: 'PUT',
    headers: { 'x-client-id': 'c', 'x-seq': '1' },
    body: 'v',
  })
  while (replicas[1]!.metrics().requests.inFlight === 0)
    await new Promise((resolve) => setTimeout(resolve, 5))
  const closing = replicas[1]!.close()
  const res = await held
  assert.equal(res.status, 503)
  assert.deepEqual(await res.json(), { error: 'unavailable', reason: 'replica shutting down' })
  await closing
  assert.deepEqual(replicas[1]!.metrics().requests, { received: 1, replied: 1, inFlight: 0 })
})

test('peers are dialled at nodes[].peerAddress, which may be a relay in front of the peer', async (t) => {
  const configs = await clusterConfigs(2, tempDir(t))
  // A byte-for-byte relay on 127.0.0.5 in front of r1's real peer listener.
  const relayPort = await freePort('127.0.0.5')
  const [r1Host, r1Port] = configs[1]!.listen.peer.split(':') as [string, string]
  let relayedConnections = 0
  const relaySockets = new Set<Socket>()
  const relay = createServer((inbound) => {
    relayedConnections++
    const outbound = tcpConnect({ host: r1Host, port: Number(r1Port) })
    relaySockets.add(inbound).add(outbound)
    inbound.pipe(outbound).pipe(inbound)
    inbound.on('error', () => outbound.destroy())
    outbound.on('error', () => inbound.destroy())
  })
  await new Promise<void>((resolve) => relay.listen({ host: '127.0.0.5', port: relayPort }, resolve))
  t.after(() => {
    for (const socket of relaySockets) socket.destroy()
    return new Promise<void>((resolve) => relay.close(() => resolve()))
  })
  const nodes = [configs[0]!.nodes[0]!, { id: 'r1', peerAddress: `127.0.0.5:${relayPort}` }]
  const relayed = configs.map((c) => ({ ...c, nodes }))
  const replicas = await Promise.all(relayed.map((c) => startReplica(c, quiet)))
  t.after(() => Promise.all(replicas.map((r) => r.close())))
  // r0 (the sequencer) reaches r1 only through the relay: the apply for this put must cross it.
  assert.equal((await kv(replicas[0]!.clientAddress, 'put', 'a', { client: 'c', seq: 1 }, 'v')).status, 200)
  const deadline = performance.now() + 5_000
  while (replicas[1]!.health().executed < 1 && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  assert.equal(replicas[1]!.health().executed, 1)
  assert.equal(relayedConnections, 1, 'r0 dialled the relay, not r1 directly')
})

/** A one-off engine module for a single replica; `hooks` fill in the handlers a test needs. */
function probeEngine(hooks: {
  start?: (ctx: EngineContext<EngineMessage, unknown>) => void
  onMessage?: (from: string, msg: EngineMessage) => void
  onTimer?: (name: string) => void
}): EngineModule<EngineMessage, unknown> {
  return {
    name: 'probe',
    leadership: 'leader',
    description: 'test probe',
    parseConfig: () => ({}),
    create: (ctx) => ({
      start: () => hooks.start?.(ctx),
      onRequest: () => {},
      onMessage: (from, msg) => hooks.onMessage?.(from, msg),
      onTimer: (name) => hooks.onTimer?.(name),
      status: () => ({ role: 'leader', leader: ctx.self, epoch: 0, executed: 0 }),
    }),
    expectedLatencyMs: () => 0,
  }
}

const until = async (done: () => boolean, what: string): Promise<void> => {
  const deadline = performance.now() + 3_000
  while (!done()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

test('a message carries what the engine sent, even if it mutates the object afterwards (as in the simulator)', async (t) => {
  const [config] = await clusterConfigs(1, tempDir(t))
  const received: unknown[] = []
  const engine = probeEngine({
    start: (ctx) => {
      const msg = { type: 'probe', entries: [1] }
      ctx.send(ctx.self, msg)
      msg.entries.push(2) // e.g. a log array reused after sending it
    },
    onMessage: (_from, msg) => received.push(msg),
  })
  const replica = await startReplica(config!, { engineOverride: engine, log: () => {} })
  t.after(() => replica.close())
  await until(() => received.length > 0, 'the self-sent message')
  assert.deepEqual(received, [{ type: 'probe', entries: [1] }])
})

test('an engine whose start() throws fails startReplica with that error and frees its ports', async (t) => {
  const [config] = await clusterConfigs(1, tempDir(t))
  const broken = probeEngine({
    start: () => {
      throw new Error('invariant broken at start')
    },
  })
  await assert.rejects(startReplica(config!, { engineOverride: broken, log: () => {} }), /invariant broken/)
  const replica = await startReplica(config!, { ...quiet }) // the same ports bind again
  await replica.close()
})

test('timers: a non-finite delay is an engine bug, a negative one fires at once (as in the simulator)', async (t) => {
  const [config] = await clusterConfigs(1, tempDir(t))
  const infinite = probeEngine({ start: (ctx) => ctx.setTimer('never', Number.POSITIVE_INFINITY) })
  await assert.rejects(
    startReplica(config!, { engineOverride: infinite, log: () => {} }),
    (err: unknown) => err instanceof RangeError && /finite/.test(err.message),
  )
  const fired: string[] = []
  const negative = probeEngine({
    start: (ctx) => ctx.setTimer('late', -5),
    onTimer: (name) => fired.push(name),
  })
  const replica = await startReplica(config!, { engineOverride: negative, log: () => {} })
  t.after(() => replica.close())
  await until(() => fired.length > 0, 'the timer')
  assert.deepEqual(fired, ['late'])
})

test('a request that arrives on a keep-alive connection while the replica closes is answered 503', async (t) => {
  const configs = await clusterConfigs(2, tempDir(t))
  const replicas = await Promise.all(configs.map((c) => startReplica(c, quiet)))
  t.after(() => Promise.all(replicas.map((r) => r.close())))
  const [host, port] = replicas[1]!.clientAddress.split(':') as [string, string]
  const socket = tcpConnect({ host, port: Number(port) })
  t.after(() => socket.destroy())
  let response = ''
  socket.on('data', (chunk: Buffer) => {
    response += chunk.toString()
  })
  const socketClosed = new Promise((resolve) => socket.on('close', resolve))
  await new Promise((resolve) => socket.once('connect', resolve))
  // Headers now, the one-byte body once close() has begun: the request reaches the engine late.
  socket.write('PUT /kv/a HTTP/1.1\r\nhost: x\r\nx-client-id: c\r\nx-seq: 1\r\ncontent-length: 1\r\n\r\n')
  await new Promise((resolve) => setTimeout(resolve, 50))
  const closing = replicas[1]!.close()
  socket.write('v')
  await closing
  await socketClosed
  assert.match(response, /^HTTP\/1\.1 503 /, `response: ${JSON.stringify(response)}`)
  assert.match(response, /"unavailable"/)
  assert.deepEqual(replicas[1]!.metrics().requests, { received: 1, replied: 1, inFlight: 0 })
})

test('an fdatasync that fails: the held reply never leaves as a success, the replica closes itself', async (t) => {
  const [config] = await clusterConfigs(1, tempDir(t), { storage: 'file' })
  // Every FileHandle shares one prototype: make datasync fail while `failing` is set.
  const probe = await open(join(tempDir(t), 'probe'), 'w')
  const proto = Object.getPrototypeOf(probe) as { datasync: () => Promise<void> }
  await probe.close()
  const realDatasync = proto.datasync
  let failing = false
  proto.datasync = function (this: unknown) {
    if (failing) return Promise.reject(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }))
    return realDatasync.call(this)
  }
  t.after(() => {
    proto.datasync = realDatasync
  })
  const logs: string[] = []
  const replica = await startReplica(config!, { engineOverride: sequencerEngine, log: (l) => logs.push(l) })
  t.after(() => replica.close())
  failing = true
  const res = await fetch(`http://${replica.clientAddress}/kv/a`, {
    method: 'PUT',
    headers: { 'x-client-id': 'c', 'x-seq': '1' },
    body: 'v',
    signal: AbortSignal.timeout(3_000),
  })
  assert.equal(res.status, 503, 'outcome unknown: the write was never durable')
  await replica.closed
  assert.ok(
    logs.some((l) => /fatal: .*EIO/.test(l)),
    logs.join('\n'),
  )
})

/** Writes raw bytes to an HTTP address; resolves with what came back when the server closes, or null. */
function rawHttp(address: string, bytes: Buffer[], timeoutMs = 3_000): Promise<string | null> {
  const [host, port] = address.split(':') as [string, string]
  return new Promise((resolve) => {
    let response = ''
    const socket = tcpConnect({ host, port: Number(port) }, () => {
      for (const b of bytes) socket.write(b)
    })
    const timer = setTimeout(() => {
      socket.destroy()
      resolve(null)
    }, timeoutMs)
    socket.on('data', (chunk: Buffer) => {
      response += chunk.toString()
    })
    socket.on('error', () => {})
    socket.on('close', () => {
      clearTimeout(timer)
      resolve(response)
    })
  })
}

test('a value over 1 MiB is answered 413 at once, without waiting for (or reading) the rest of the body', async (t) => {
  const [config] = await clusterConfigs(1, tempDir(t))
  const replica = await startReplica(config!, quiet)
  t.after(() => replica.close())
  const head = 'PUT /kv/big HTTP/1.1\r\nhost: x\r\nx-client-id: c\r\nx-seq: 1\r\n'
  // Announces 2 MiB and sends none of it.
  const announced = await rawHttp(replica.clientAddress, [
    Buffer.from(`${head}content-length: 2097152\r\n\r\n`),
  ])
  assert.match(announced ?? 'no answer before the timeout', /^HTTP\/1\.1 413 /)
  // Chunked: sends a bit over 1 MiB, then stalls.
  const chunk = Buffer.alloc(1024 * 1024 + 1, 'x')
  const chunked = await rawHttp(replica.clientAddress, [
    Buffer.from(`${head}transfer-encoding: chunked\r\n\r\n${chunk.length.toString(16)}\r\n`),
    chunk,
    Buffer.from('\r\n'),
  ])
  assert.match(chunked ?? 'no answer before the timeout', /^HTTP\/1\.1 413 /)
  assert.match(chunked ?? '', /"too-large"/)
  // A value of exactly 1 MiB is accepted.
  const res = await kv(replica.clientAddress, 'put', 'big', { client: 'c', seq: 2 }, 'y'.repeat(1024 * 1024))
  assert.equal(res.status, 200)
  assert.equal(replica.metrics().requests.received, 1, 'a 413 is not a command')
})

test('a client retrying the same command id on the same replica: both waiters are answered by the one reply', async (t) => {
  const configs = await clusterConfigs(2, tempDir(t))
  const replicas = await Promise.all(configs.map((c) => startReplica(c, quiet)))
  t.after(() => Promise.all(replicas.map((r) => r.close())))
  const put = (): Promise<Response> =>
    fetch(`http://${replicas[1]!.clientAddress}/kv/a`, {
      method: 'PUT',
      headers: { 'x-client-id': 'c', 'x-seq': '1' },
      body: 'v',
      signal: AbortSignal.timeout(3_000),
    })
  const [first, retry] = await Promise.all([put(), put()])
  assert.deepEqual([first.status, retry.status], [200, 200])
  assert.deepEqual(await first.json(), { value: null })
  assert.deepEqual(await retry.json(), { value: null })
  assert.deepEqual(replicas[1]!.metrics().requests, { received: 2, replied: 2, inFlight: 0 })
})
