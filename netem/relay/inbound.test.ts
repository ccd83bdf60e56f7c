import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import { after, test } from 'node:test'
import { Agent, request } from 'undici'
import { isProcessAlive } from '../../harness/launchers/cleanup.ts'
import { createRelayShaper, type RelayNetwork } from './index.ts'
import { headerValue } from './relay.ts'
import { shape } from './testdata/rig.ts'

const pids: number[] = []
after(() => {
  for (const pid of pids) assert.equal(isProcessAlive(pid), false, `relay pid ${pid} left running`)
})

test('headerValue finds a header by name, case-insensitively, and not in the request line', () => {
  const head = 'GET /x-server-from HTTP/1.1\r\nHost: a\r\nX-Server-From: 2a12\r\n'
  assert.equal(headerValue(head, 'x-server-from'), '2a12')
  assert.equal(headerValue(head, 'X-Raft-To'), undefined)
})

/** Where the server saw the request come from, and how long a request/response took. */
async function timed(url: string, from: string | null): Promise<{ ms: number; peer: string }> {
  // a connection of its own: a reused one keeps the source its first request named
  const dispatcher = new Agent()
  try {
    const started = performance.now()
    const r = await request(url, { dispatcher, headers: from === null ? {} : { 'x-server-from': from } })
    const peer = await r.body.text()
    return { ms: performance.now() - started, peer }
  } finally {
    await dispatcher.close()
  }
}

test('a shared inbound address shapes each connection by the source its first request names', async () => {
  const server: Server = createServer((req, res) => res.end(req.socket.remoteAddress ?? ''))
  await new Promise<void>((r) => server.listen(0, '127.0.0.3', r))
  const port = (server.address() as { port: number }).port
  const network = (await createRelayShaper({ seed: 3 }).apply({
    endpoints: [
      { id: 'a', site: 'A', host: '127.0.0.1', listenAddress: null },
      { id: 'b', site: 'B', host: '127.0.0.2', listenAddress: null },
      { id: 'c', site: 'C', host: '127.0.0.3', listenAddress: `127.0.0.3:${port}` },
    ],
    links: [
      { from: 'a', to: 'c', shape: shape(60) },
      { from: 'c', to: 'a', shape: shape(60) },
      { from: 'b', to: 'c', shape: shape(10) },
      { from: 'c', to: 'b', shape: shape(10) },
    ],
    inbound: [{ to: 'c', header: 'X-Server-From', sources: { aa: 'a', bb: 'b' } }],
  })) as RelayNetwork
  pids.push(network.pid)
  try {
    const url = `http://${network.inboundAddressFor('c')}/`
    const fromA = await timed(url, 'aa')
    const fromB = await timed(url, 'bb')
    const unknown = await timed(url, null)
    // a's round trip is 120 ms, b's 20 ms; an unnamed source goes through unshaped
    assert.ok(fromA.ms >= 120 && fromA.ms < 400, `from a: ${fromA.ms} ms`)
    assert.ok(fromB.ms >= 20 && fromB.ms < 100, `from b: ${fromB.ms} ms`)
    assert.ok(unknown.ms < 20, `unknown source: ${unknown.ms} ms`)
    // the upstream connection comes from the source's own loopback address, as on its (from, to) listener
    assert.equal(fromA.peer, '127.0.0.1')
    assert.equal(fromB.peer, '127.0.0.2')
    assert.throws(() => network.inboundAddressFor('a'), /no shared inbound address for "a"/)
  } finally {
    await network.close()
    await new Promise((r) => server.close(r))
  }
})
