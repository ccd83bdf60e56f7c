import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { after, describe, test } from 'node:test'
import { isProcessAlive, tracked } from '../../harness/launchers/cleanup.ts'
import type { LinkShape } from '../shaper.ts'
import { createRelayShaper, type RelayNetwork } from './index.ts'
import { threadPolicies } from './realtime.ts'
import { dial, median, Sink, shape, sleep } from './testdata/rig.ts'

const shaper = createRelayShaper({ seed: 7 })
const startedPids: number[] = []

/** A relay between client `a` (127.0.0.1, does not listen) and server `b` (a Sink on 127.0.0.2). */
async function withRelay(
  aToB: LinkShape,
  bToA: LinkShape,
  body: (network: RelayNetwork, sink: Sink) => Promise<void>,
): Promise<void> {
  const sink = await Sink.start('127.0.0.2')
  const network = (await shaper.apply({
    endpoints: [
      { id: 'a', site: 'A', host: '127.0.0.1', listenAddress: null },
      { id: 'b', site: 'B', host: '127.0.0.2', listenAddress: sink.address },
    ],
    links: [
      { from: 'a', to: 'b', shape: aToB },
      { from: 'b', to: 'a', shape: bToA },
    ],
  })) as RelayNetwork
  startedPids.push(network.pid)
  try {
    await body(network, sink)
  } finally {
    await network.close()
    await sink.close()
  }
  assert.equal(isProcessAlive(network.pid), false, `relay pid ${network.pid} still alive after close()`)
}

after(() => {
  for (const pid of startedPids) assert.equal(isProcessAlive(pid), false, `relay pid ${pid} left running`)
  assert.deepEqual(tracked().pids, [], 'a relay PID is still tracked')
})

describe('relay shaper', () => {
  test('delays each direction by its own one-way delay, never less', async () => {
    await withRelay(shape(40), shape(10), async (network, sink) => {
      const client = await dial(network.addressFor('a', 'b'))
      const server = await sink.connection(0)
      const forwardMs: number[] = []
      const backwardMs: number[] = []
      for (let i = 1; i <= 10; i++) {
        const sentMs = performance.now()
        client.socket.write('p')
        await server.until(() => server.bytes.length >= i, 5000, `request ${i}`)
        forwardMs.push(server.timeOfByte(i) - sentMs)
        const repliedMs = performance.now()
        server.socket.write('q')
        await client.until(() => client.bytes.length >= i, 5000, `reply ${i}`)
        backwardMs.push(client.timeOfByte(i) - repliedMs)
      }
      client.socket.destroy()
      // the lower bound is firm: a chunk is never delivered before its time; the upper one is loose
      for (const ms of forwardMs) assert.ok(ms >= 40 - 0.1, `a->b took ${ms} ms, configured 40`)
      for (const ms of backwardMs) assert.ok(ms >= 10 - 0.1, `b->a took ${ms} ms, configured 10`)
      assert.ok(median(forwardMs) < 40 + 15, `a->b median ${median(forwardMs)} ms`)
      assert.ok(median(backwardMs) < 10 + 15, `b->a median ${median(backwardMs)} ms`)
      const stats = await network.stats()
      assert.equal(stats.chunksDelivered, 20)
      assert.equal(stats.bytesDelivered, 20)
      assert.ok(stats.lateUsMax >= stats.lateUsP99 && stats.lateUsP99 >= stats.lateUsP50)
      assert.equal((await network.stats()).lateUsMax, 0, 'lateness is per stats interval')
    })
  })

  test('keeps byte order under jitter much larger than the gap between writes', async () => {
    const jittery = shape(5, { jitterMs: 20, jitterDistribution: 'uniform' })
    await withRelay(jittery, jittery, async (network, sink) => {
      const client = await dial(network.addressFor('a', 'b'))
      const server = await sink.connection(0)
      const count = 300
      for (let i = 0; i < count; i++) {
        const b = Buffer.alloc(4)
        b.writeUInt32BE(i)
        client.socket.write(b)
        // ~1 ms between writes, so they reach the relay as separate chunks with their own jitter
        await sleep(1)
      }
      await server.until(() => server.bytes.length >= count * 4, 10_000, 'all the bytes')
      const bytes = server.bytes
      for (let i = 0; i < count; i++) assert.equal(bytes.readUInt32BE(i * 4), i, `word ${i} out of order`)
      // the relay handled separate chunks (whose jitter draws would reorder them), so order was at stake
      const stats = await network.stats()
      assert.ok(stats.chunksDelivered > count / 2, `the relay saw only ${stats.chunksDelivered} chunks`)
      client.socket.destroy()
    })
  })

  test('hold partition: bytes wait until heal, in one direction only', async () => {
    await withRelay(shape(5), shape(5), async (network, sink) => {
      const client = await dial(network.addressFor('a', 'b'))
      const server = await sink.connection(0)
      await network.partition('a', 'b', 'hold')
      client.socket.write('held')
      server.socket.write('free') // b -> a is not partitioned
      await client.until(() => client.bytes.length >= 4, 5000, 'b -> a bytes during the a -> b partition')
      await sleep(300)
      assert.equal(server.bytes.length, 0, 'bytes crossed a held partition')
      const healedMs = performance.now()
      await network.heal('a', 'b')
      await server.until(() => server.bytes.length >= 4, 5000, 'held bytes after heal')
      assert.equal(server.bytes.toString(), 'held')
      assert.ok(server.chunks[0]!.atMs >= healedMs, 'held bytes arrived before heal')
      // and the link works as before
      client.socket.write('more')
      await server.until(() => server.bytes.length >= 8, 5000, 'bytes after heal')
      client.socket.destroy()
    })
  })

  test('reset partition: the connection drops, new ones are refused, heal restores', async () => {
    await withRelay(shape(5), shape(5), async (network, sink) => {
      const client = await dial(network.addressFor('a', 'b'))
      const server = await sink.connection(0)
      client.socket.write('x')
      await server.until(() => server.bytes.length >= 1, 5000, 'first byte')
      await network.partition('a', 'b', 'reset')
      await client.until(() => client.closed, 5000, 'the client connection to drop')
      await server.until(() => server.closed, 5000, 'the server connection to drop')
      // a new connection is accepted by the kernel and then reset by the relay before any byte flows
      const refused = await dial(network.addressFor('a', 'b')).catch(() => null)
      if (refused !== null) {
        refused.socket.write('y')
        await refused.until(() => refused.closed, 5000, 'the new connection to be reset')
      }
      await sleep(100)
      assert.equal(sink.inboxes.length, 1, 'a connection reached the server during a reset partition')
      await network.heal('a', 'b')
      const again = await dial(network.addressFor('a', 'b'))
      const server2 = await sink.connection(1)
      again.socket.write('z')
      await server2.until(() => server2.bytes.length >= 1, 5000, 'a byte after heal')
      assert.equal(server2.bytes.toString(), 'z')
      again.socket.destroy()
    })
  })

  test('FIN travels with the delay, and a half-closed connection still carries replies', async () => {
    await withRelay(shape(30), shape(30), async (network, sink) => {
      const client = await dial(network.addressFor('a', 'b'))
      const server = await sink.connection(0)
      let serverEndedMs = 0
      server.socket.on('end', () => {
        serverEndedMs = performance.now()
      })
      const sentMs = performance.now()
      client.socket.end('last words')
      await server.until(() => serverEndedMs > 0, 5000, "the client's FIN")
      assert.equal(server.bytes.toString(), 'last words')
      assert.ok(serverEndedMs - sentMs >= 30 - 0.1, `FIN arrived after ${serverEndedMs - sentMs} ms`)
      server.socket.end('reply')
      await client.until(() => client.closed, 5000, 'the reply and the close')
      assert.equal(client.bytes.toString(), 'reply')
    })
  })

  test('connections that both sides close are released', async () => {
    await withRelay(shape(2), shape(2), async (network, sink) => {
      const clients = await Promise.all(Array.from({ length: 20 }, () => dial(network.addressFor('a', 'b'))))
      for (let i = 0; i < clients.length; i++) {
        const server = await sink.connection(i)
        server.socket.on('end', () => server.socket.end())
      }
      assert.equal((await network.stats()).connectionsOpen, 20)
      for (const c of clients) c.socket.end('bye')
      for (const c of clients) await c.until(() => c.closed, 5000, 'the close')
      let open = -1
      for (let tries = 0; tries < 50 && open !== 0; tries++) {
        open = (await network.stats()).connectionsOpen
        if (open !== 0) await sleep(20)
      }
      assert.equal(open, 0, 'the relay still holds closed connections')
      assert.equal((await network.stats()).connectionsTotal, 20)
    })
  })

  test('a reset partition of the reverse direction drops connections dialed the other way', async () => {
    await withRelay(shape(1), shape(1), async (network, sink) => {
      const client = await dial(network.addressFor('a', 'b'))
      await sink.connection(0)
      await network.partition('b', 'a', 'reset')
      await client.until(() => client.closed, 5000, 'the connection to drop')
      await network.heal('b', 'a')
      const again = await dial(network.addressFor('a', 'b'))
      const server = await sink.connection(1)
      again.socket.write('ok')
      await server.until(() => server.bytes.length >= 2, 5000, 'bytes after heal')
      again.socket.destroy()
    })
  })

  test('a bandwidth cap spaces the bytes out', async () => {
    const bytesPerSec = 400_000
    await withRelay(shape(1, { bandwidthBytesPerSec: bytesPerSec }), shape(1), async (network, sink) => {
      const client = await dial(network.addressFor('a', 'b'))
      const server = await sink.connection(0)
      const total = 200_000 // 0.5 s at the cap
      const sentMs = performance.now()
      for (let i = 0; i < 20; i++) client.socket.write(Buffer.alloc(total / 20, i))
      await server.until(() => server.bytes.length >= total, 10_000, 'all bytes')
      const elapsedS = (server.timeOfByte(total) - sentMs) / 1000
      assert.ok(elapsedS >= 0.45, `${total} bytes at ${bytesPerSec} B/s took only ${elapsedS} s`)
      assert.ok(elapsedS < 1.5, `${total} bytes at ${bytesPerSec} B/s took ${elapsedS} s`)
      client.socket.destroy()
    })
  })

  test('changing a link while connected takes effect on the next bytes', async () => {
    await withRelay(shape(5), shape(5), async (network, sink) => {
      const client = await dial(network.addressFor('a', 'b'))
      const server = await sink.connection(0)
      let sentMs = performance.now()
      client.socket.write('1')
      await server.until(() => server.bytes.length >= 1, 5000, 'byte 1')
      const beforeMs = server.timeOfByte(1) - sentMs
      await network.setLink('a', 'b', shape(200))
      sentMs = performance.now()
      client.socket.write('2')
      await server.until(() => server.bytes.length >= 2, 5000, 'byte 2')
      const afterMs = server.timeOfByte(2) - sentMs
      // lower bounds only (they are firm): a slow moment on this machine cannot fail them
      assert.ok(beforeMs >= 5 - 0.1, `before the change: ${beforeMs} ms`)
      assert.ok(afterMs >= 200 - 0.1, `after the change to 200 ms: ${afterMs} ms`)
      client.socket.destroy()
    })
  })

  test('loss adds retransmission delays to a share of the chunks', async () => {
    await withRelay(shape(2, { lossRate: 0.3 }), shape(2), async (network, sink) => {
      const client = await dial(network.addressFor('a', 'b'))
      const server = await sink.connection(0)
      const delaysMs: number[] = []
      for (let i = 1; i <= 60; i++) {
        const sentMs = performance.now()
        client.socket.write('x')
        await server.until(() => server.bytes.length >= i, 5000, `byte ${i}`)
        delaysMs.push(server.timeOfByte(i) - sentMs)
      }
      // a loss costs max(2 x RTT, 10 ms) = 10 ms here; about 30% of the chunks draw at least one
      const lost = delaysMs.filter((ms) => ms >= 2 + 10 - 0.1).length
      assert.ok(lost >= 6 && lost <= 40, `${lost} of 60 chunks were delayed by a loss`)
      client.socket.destroy()
    })
  })

  test('bad requests fail with the reason, and the relay keeps serving', async () => {
    await withRelay(shape(1), shape(1), async (network) => {
      await assert.rejects(network.partition('a', 'nobody', 'hold'), /no link a -> nobody/)
      await assert.rejects(network.setLink('a', 'b', { ...shape(1), lossRate: 2 }), /lossRate/)
      assert.throws(() => network.addressFor('b', 'a'), /"a" has no listenAddress/)
      const stats = await network.stats()
      assert.ok(stats.cpuUserUs > 0)
    })
  })

  test('realtimePriority puts every relay thread under SCHED_FIFO, or says why not', async () => {
    const sink = await Sink.start('127.0.0.2')
    const network = (await createRelayShaper({ realtimePriority: 5 }).apply({
      endpoints: [
        { id: 'a', site: 'A', host: '127.0.0.1', listenAddress: null },
        { id: 'b', site: 'B', host: '127.0.0.2', listenAddress: sink.address },
      ],
      links: [],
    })) as RelayNetwork
    startedPids.push(network.pid)
    try {
      assert.equal(network.realtime?.priority, 5)
      const policies = threadPolicies(network.pid)
      if (network.realtime?.applied) {
        const SCHED_FIFO = 1
        assert.ok(policies.length >= 2, 'the relay has a main and a wake-up thread at least')
        assert.deepEqual(new Set(policies), new Set([SCHED_FIFO]))
      } else {
        // not root here: the reason names chrt, and nothing changed
        assert.match(network.realtime?.reason ?? '', /chrt/)
        assert.deepEqual(new Set(policies), new Set([0]))
      }
      const client = await dial(network.addressFor('a', 'b'))
      client.socket.write('rt')
      const server = await sink.connection(0)
      await server.until(() => server.bytes.length >= 2, 5000, 'bytes through a real-time relay')
      client.socket.destroy()
    } finally {
      await network.close()
      await sink.close()
    }
  })

  test('an invalid spec is rejected before any process starts', async () => {
    await assert.rejects(
      shaper.apply({
        endpoints: [{ id: 'a', site: 'A', host: '127.0.0.1', listenAddress: null }],
        links: [{ from: 'a', to: 'ghost', shape: shape(1) }],
      }),
      /links\.0\.to: unknown endpoint "ghost"/,
    )
  })

  test('the relay exits on its own when the process that started it is killed', async () => {
    // a parent that starts a relay, prints its pid, and waits to be SIGKILLed (no cleanup can run)
    const script = `
      import { relayShaper } from './netem/relay/index.ts'
      const n = await relayShaper.apply({ endpoints: [
        { id: 'a', site: 'A', host: '127.0.0.1', listenAddress: null },
        { id: 'b', site: 'B', host: '127.0.0.2', listenAddress: '127.0.0.2:9' }], links: [] })
      console.log(JSON.stringify({ relayPid: n.pid }))
      setInterval(() => {}, 1000)`
    const parent = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    const relayPid = await new Promise<number>((resolve, reject) => {
      parent.stdout!.on('data', (d: Buffer) => resolve(JSON.parse(d.toString()).relayPid))
      parent.once('exit', (code) => reject(new Error(`parent exited early (${code})`)))
    })
    startedPids.push(relayPid)
    assert.ok(isProcessAlive(relayPid))
    parent.kill('SIGKILL')
    const deadline = performance.now() + 10_000
    while (isProcessAlive(relayPid) && performance.now() < deadline) await sleep(50)
    assert.equal(isProcessAlive(relayPid), false, `relay ${relayPid} outlived its SIGKILLed parent`)
  })
})
