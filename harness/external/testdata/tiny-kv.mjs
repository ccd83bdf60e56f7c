#!/usr/bin/env node
// A tiny replicated key-value store over HTTP, standing in for "your own system" in the worked
// example of an external engine (harness/external/README.md). It imports nothing from this project:
// any program with a command line and an HTTP API can be declared the same way.
//
// Primary-backup with a fixed primary (no failover): every client request, at any member, goes to the
// primary (forwarded over the peer port); the primary orders writes, applies each, sends it to every
// backup and answers once a majority (itself included) holds it. Reads are answered by the primary
// from its state, so the store is linearizable as long as the primary lives.
//
//   node tiny-kv.mjs --name r1 --peer-listen 127.0.0.2:7001 --client-listen 127.0.0.2:7002 \
//        --peers r0=127.0.0.1:7003,r2=127.0.0.3:7005 --primary r0
//
// Client API: PUT /kv/<key> (body: the value), GET /kv/<key> -> {"value": string|null},
// GET /status -> {"self": name, "leader": primary}. Peer API: POST /forward, POST /replicate (JSON).
import { createServer, request } from 'node:http'

const args = {}
const argv = process.argv.slice(2)
for (let i = 0; i < argv.length; i += 2) args[argv[i].replace(/^--/, '')] = argv[i + 1]
for (const need of ['name', 'peer-listen', 'client-listen', 'primary'])
  if (args[need] === undefined) {
    process.stderr.write(`tiny-kv: --${need} is required\n`)
    process.exit(2)
  }
const self = args.name
const primary = args.primary
const peers = new Map(
  (args.peers ?? '')
    .split(',')
    .filter((p) => p !== '')
    .map((p) => p.split('=')),
)
const state = new Map()
let seq = 0

function split(address) {
  const i = address.lastIndexOf(':')
  return { host: address.slice(0, i), port: Number(address.slice(i + 1)) }
}

function post(address, path, body) {
  return new Promise((resolve, reject) => {
    const { host, port } = split(address)
    const data = JSON.stringify(body)
    const req = request(
      {
        host,
        port,
        path,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) },
      },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (c) => (text += c))
        res.on('end', () =>
          res.statusCode === 200
            ? resolve(JSON.parse(text))
            : reject(new Error(`${path}: ${res.statusCode}`)),
        )
      },
    )
    req.on('error', reject)
    req.end(data)
  })
}

/**
 * At the primary: one command, in order; a put answers once a majority holds it. A get makes the same
 * majority round before it reads (as etcd's ReadIndex confirms leadership), so reads and writes follow
 * Raft's message pattern, the model the example holds it to.
 */
async function execute(op, key, value) {
  if (op === 'put') {
    seq++
    state.set(key, value)
  }
  await majorityRound(op === 'put' ? { seq, key, value } : { seq: 0 })
  return { value: op === 'get' && state.has(key) ? state.get(key) : null }
}

function majorityRound(entry) {
  const majority = Math.floor((peers.size + 1) / 2) + 1
  let acks = 1
  if (acks >= majority) return Promise.resolve()
  return new Promise((resolve, reject) => {
    let failed = 0
    for (const address of peers.values())
      post(address, '/replicate', entry).then(
        () => {
          if (++acks === majority) resolve()
        },
        () => {
          if (++failed > peers.size - (majority - 1)) reject(new Error('no majority'))
        },
      )
  })
}

function readBody(req) {
  return new Promise((resolve) => {
    let text = ''
    req.setEncoding('utf8')
    req.on('data', (c) => (text += c))
    req.on('end', () => resolve(text))
  })
}

function answer(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' })
  res.end(JSON.stringify(body))
}

const clientServer = createServer(async (req, res) => {
  const url = new URL(req.url, 'http://x')
  if (url.pathname === '/status') return answer(res, 200, { self, leader: primary })
  if (!url.pathname.startsWith('/kv/')) return answer(res, 404, { error: 'no such path' })
  const key = decodeURIComponent(url.pathname.slice(4))
  const op = req.method === 'PUT' ? 'put' : 'get'
  const value = op === 'put' ? await readBody(req) : null
  try {
    const out =
      self === primary
        ? await execute(op, key, value)
        : await post(peers.get(primary), '/forward', { op, key, value })
    answer(res, 200, out)
  } catch (err) {
    answer(res, 503, { error: String(err) })
  }
})

const peerServer = createServer(async (req, res) => {
  const body = JSON.parse((await readBody(req)) || '{}')
  if (req.url === '/replicate') {
    if (body.seq > seq) {
      seq = body.seq
      state.set(body.key, body.value)
    }
    return answer(res, 200, { ok: true })
  }
  if (req.url === '/forward' && self === primary) {
    try {
      return answer(res, 200, await execute(body.op, body.key, body.value))
    } catch (err) {
      return answer(res, 503, { error: String(err) })
    }
  }
  answer(res, 404, { error: 'no such path' })
})

for (const [server, address] of [
  [peerServer, args['peer-listen']],
  [clientServer, args['client-listen']],
]) {
  server.keepAliveTimeout = 30_000
  server.on('error', (err) => {
    process.stderr.write(`tiny-kv ${self}: ${err.message}\n`)
    process.exit(1)
  })
  server.listen(split(address).port, split(address).host)
}
process.on('SIGTERM', () => process.exit(0))
