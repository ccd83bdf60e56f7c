import assert from 'node:assert/strict'
import { type AddressInfo, createServer, type Socket, connect as tcpConnect } from 'node:net'
import { test } from 'node:test'
import type { EngineMessage } from '../core/engine.ts'
import { encodeFrame, FrameDecoder, helloFrame } from './frame.ts'
import { ReplicaMetrics } from './metrics.ts'
import { DEFAULT_TRANSPORT_LIMITS, PeerTransport, sourceAddressFor } from './transport.ts'

function dial(address: string): Promise<Socket> {
  const [host, port] = address.split(':') as [string, string]
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host, port: Number(port) }, () => resolve(socket))
    socket.once('error', reject)
  })
}

test('a second hello from the same peer closes its previous inbound connection, and only that', async (t) => {
  const received: Array<{ from: string; msg: EngineMessage }> = []
  const metrics = new ReplicaMetrics('r1', 'test', () => ({ fsyncs: 0, bytesWritten: 0 }))
  const transport = new PeerTransport({
    self: 'r1',
    // never dialled: connect() is not called
    peers: [
      { id: 'r0', address: { host: '127.0.0.1', port: 9 } },
      { id: 'r2', address: { host: '127.0.0.1', port: 9 } },
    ],
    listen: { host: '127.0.0.1', port: 0 },
    limits: DEFAULT_TRANSPORT_LIMITS,
    metrics,
    log: () => {},
    onMessage: (from, msg) => received.push({ from, msg }),
  })
  await transport.listen()
  t.after(() => transport.close())
  const address = transport.boundAddress()
  const stale = await dial(address) // a connection whose dialler is gone without a FIN
  const staleClosed = new Promise<boolean>((resolve) => {
    stale.on('close', () => resolve(true))
    setTimeout(() => resolve(false), 2_000).unref()
  })
  const other = await dial(address)
  t.after(() => {
    stale.destroy()
    other.destroy()
  })
  stale.write(encodeFrame(helloFrame('r0')))
  other.write(encodeFrame(helloFrame('r2')))
  await new Promise((resolve) => setTimeout(resolve, 50))
  const fresh = await dial(address)
  t.after(() => fresh.destroy())
  fresh.write(Buffer.concat([encodeFrame(helloFrame('r0')), encodeFrame({ type: 'ping', n: 1 })]))
  assert.equal(await staleClosed, true, "r0's previous connection was closed")
  other.write(encodeFrame({ type: 'ping', n: 2 }))
  const deadline = performance.now() + 2_000
  while (received.length < 2 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5))
  assert.deepEqual(
    received.sort((a, b) => a.from.localeCompare(b.from)),
    [
      { from: 'r0', msg: { type: 'ping', n: 1 } },
      { from: 'r2', msg: { type: 'ping', n: 2 } },
    ],
  )
  assert.equal(metrics.transport.malformedConnections, 0, 'a replaced connection is not malformed')
})

test('frames queued for a disconnected peer are bounded in bytes too; the newest are kept, in order', async (t) => {
  const metrics = new ReplicaMetrics('r1', 'test', () => ({ fsyncs: 0, bytesWritten: 0 }))
  // The peer: a plain listener that decodes what r1 sends it.
  const decoded: unknown[] = []
  const peerSockets = new Set<Socket>()
  const peer = createServer((socket) => {
    peerSockets.add(socket)
    const decoder = new FrameDecoder()
    socket.on('data', (chunk: Buffer) => {
      for (const { value } of decoder.push(chunk)) decoded.push(value)
    })
  })
  await new Promise<void>((resolve) => peer.listen({ host: '127.0.0.1', port: 0 }, resolve))
  t.after(() => {
    for (const s of peerSockets) s.destroy()
    return new Promise<void>((resolve) => peer.close(() => resolve()))
  })
  const { port } = peer.address() as AddressInfo
  const transport = new PeerTransport({
    self: 'r1',
    peers: [{ id: 'r0', address: { host: '127.0.0.1', port } }],
    listen: { host: '127.0.0.1', port: 0 },
    limits: { ...DEFAULT_TRANSPORT_LIMITS, maxQueuedBytes: 4096 },
    metrics,
    log: () => {},
    onMessage: () => {},
  })
  await transport.listen()
  t.after(() => transport.close())
  const pad = 'x'.repeat(1000)
  let frameBytes = 0
  for (let n = 1; n <= 10; n++) frameBytes = transport.send('r0', { type: 'big', n, pad } as EngineMessage) // not connected yet
  const kept = Math.floor(4096 / frameBytes)
  assert.equal(metrics.transport.framesDropped, 10 - kept)
  transport.connect()
  const deadline = performance.now() + 3_000
  while (decoded.length < kept + 1 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5))
  assert.deepEqual(decoded[0], helloFrame('r1'))
  assert.deepEqual(
    decoded.slice(1).map((m) => (m as { n: number }).n),
    Array.from({ length: kept }, (_, i) => 10 - kept + 1 + i),
  )
})

test('peers are dialled from our own listen address, so a kernel shaper can tell links apart by source', async (t) => {
  const server = createServer()
  const peerSeen = new Promise<string | undefined>((resolve) => {
    server.once('connection', (socket) => {
      resolve(socket.remoteAddress)
      socket.destroy()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => server.close())
  const metrics = new ReplicaMetrics('r2', 'test', () => ({ fsyncs: 0, bytesWritten: 0 }))
  const transport = new PeerTransport({
    self: 'r2',
    peers: [{ id: 'r0', address: { host: '127.0.0.1', port: (server.address() as AddressInfo).port } }],
    listen: { host: '127.0.0.3', port: 0 },
    limits: DEFAULT_TRANSPORT_LIMITS,
    metrics,
    log: () => {},
    onMessage: () => {},
  })
  await transport.listen()
  t.after(() => transport.close())
  transport.connect()
  assert.equal(await peerSeen, '127.0.0.3')
})

test('a wildcard or named listen host leaves the source address to the OS', () => {
  assert.equal(sourceAddressFor('0.0.0.0'), undefined)
  assert.equal(sourceAddressFor('localhost'), undefined)
  assert.equal(sourceAddressFor('127.0.0.4'), '127.0.0.4')
})
