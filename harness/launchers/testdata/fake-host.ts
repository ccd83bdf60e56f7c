/**
 * A stand-in replica for launcher and driver tests that follows the engines/host process contract
 * (config file, `listening` line, /health, /kv, SIGTERM) without any consensus: r0 holds the only map
 * and every other replica forwards to r0's peer address over HTTP, so histories stay linearizable.
 * Like a real state machine, r0 executes a command id (x-client-id, x-seq) at most once and answers a
 * retry with the first answer: a client retries a command at another replica when the one it asked
 * died mid-request, and a second execution of a write could let a read see an overwritten value again.
 * FAKE_HOST_PORT_TAKEN=<id> makes that replica fail once as if its port were taken (marker file).
 * FAKE_HOST_EXIT_AFTER_MS=<id>:<ms> makes that replica exit 7 by itself after ms.
 * FAKE_HOST_STOP_AFTER_MS=<id>:<ms> makes that replica SIGSTOP itself after ms: it runs but never answers.
 * With file storage, every start appends its pid to `<storage dir>/starts.log` (what state it started on).
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { request } from 'undici'

interface Config {
  id: string
  engine: string
  nodes: Array<{ id: string; peerAddress: string }>
  listen: { peer: string; client: string }
  storage: { kind: string; dir?: string }
}

const configPath = process.argv[process.argv.indexOf('--config') + 1]!
const config = JSON.parse(readFileSync(configPath, 'utf8')) as Config
const startedMs = Date.now()
const leader = config.nodes[0]!
const kv = new Map<string, string>()
/** per client: the highest command seq executed and its answer (a client runs one command at a time) */
const lastAnswerByClient = new Map<string, { seq: number; answer: string }>()
let executed = 0

if (config.storage.kind === 'file' && config.storage.dir !== undefined) {
  mkdirSync(config.storage.dir, { recursive: true })
  appendFileSync(`${config.storage.dir}/starts.log`, `${process.pid}\n`)
}

const takenMarker = `${configPath}.port-taken-once`
if (process.env.FAKE_HOST_PORT_TAKEN === config.id && !existsSync(takenMarker)) {
  writeFileSync(takenMarker, '1')
  // as a real bind failure would, after the other replicas have come up (and written their state)
  await new Promise((r) => setTimeout(r, 500))
  process.stderr.write(`port taken: ${config.listen.client}\n`)
  process.exit(1)
}

// FAKE_HOST_EXIT_AFTER_MS=<id>:<ms> makes that replica die on its own (exit 7) after ms: an unexpected exit
const [dieId, dieAfterMs] = (process.env.FAKE_HOST_EXIT_AFTER_MS ?? '').split(':')
if (dieId === config.id) setTimeout(() => process.exit(7), Number(dieAfterMs))
const [stopId, stopAfterMs] = (process.env.FAKE_HOST_STOP_AFTER_MS ?? '').split(':')
if (stopId === config.id) setTimeout(() => process.kill(process.pid, 'SIGSTOP'), Number(stopAfterMs))

function split(address: string): [string, number] {
  const i = address.lastIndexOf(':')
  return [address.slice(0, i), Number(address.slice(i + 1))]
}

async function body(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const c of req) chunks.push(c as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = req.url ?? '/'
  if (url === '/health') {
    const health = {
      id: config.id,
      engine: config.engine,
      role: config.id === leader.id ? 'leader' : 'follower',
    }
    res.end(
      JSON.stringify({ ...health, leader: leader.id, epoch: 1, executed, uptimeMs: Date.now() - startedMs }),
    )
    return
  }
  if (url === '/metrics') {
    res.end(JSON.stringify({ id: config.id, engine: config.engine, commandsCommitted: executed }))
    return
  }
  if (!url.startsWith('/kv/')) {
    res.statusCode = 404
    res.end('{}')
    return
  }
  const key = decodeURIComponent(url.slice(4))
  const value = req.method === 'PUT' ? await body(req) : null
  if (config.id !== leader.id) {
    const response = await request(`http://${leader.peerAddress}${url}`, {
      method: req.method === 'PUT' ? 'PUT' : 'GET',
      headers: { 'x-client-id': String(req.headers['x-client-id']), 'x-seq': String(req.headers['x-seq']) },
      body: value,
    })
    res.statusCode = response.statusCode
    res.end(await response.body.text())
    return
  }
  const client = String(req.headers['x-client-id'])
  const seq = Number(req.headers['x-seq'])
  const last = lastAnswerByClient.get(client)
  // a retry, or a copy that arrives late (its client has moved on and takes no answer from it)
  if (last !== undefined && seq <= last.seq) {
    res.end(last.answer)
    return
  }
  executed++
  if (req.method === 'PUT') kv.set(key, value ?? '')
  const answer = JSON.stringify({ value: req.method === 'PUT' ? null : (kv.get(key) ?? null) })
  lastAnswerByClient.set(client, { seq, answer })
  res.end(answer)
}

const serve = (req: IncomingMessage, res: ServerResponse) => {
  handle(req, res).catch(() => {
    res.statusCode = 500
    res.end('{}')
  })
}
const client = createServer(serve)
const peer = createServer(serve)
const [clientHost, clientPort] = split(config.listen.client)
const [peerHost, peerPort] = split(config.listen.peer)
await new Promise<void>((r) => peer.listen(peerPort, peerHost, r))
await new Promise<void>((r) => client.listen(clientPort, clientHost, r))
process.stdout.write(
  JSON.stringify({
    event: 'listening',
    id: config.id,
    peer: config.listen.peer,
    client: config.listen.client,
    pid: process.pid,
  }) + '\n',
)
process.on('SIGTERM', () => {
  client.closeAllConnections()
  peer.closeAllConnections()
  process.exit(0)
})
