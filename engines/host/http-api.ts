/**
 * The client API over HTTP/1.1 keep-alive (engines/host/README.md, "Client API"):
 * PUT /kv/:key (body = value, raw UTF-8) and GET /kv/:key, identified by x-client-id and x-seq, held
 * until the engine replies; GET /health; GET /metrics.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Command, CommandId, Outcome } from '../core/command.ts'

export const MAX_VALUE_BYTES = 1024 * 1024
export const MAX_CLIENT_ID_CHARS = 256
/** requests held for an engine reply; past it the replica answers 503 */
export const MAX_IN_FLIGHT_REQUESTS = 100_000

/** The engine's outcome, or 'shutting-down': the replica closed first and the outcome is unknown (503). */
export type ClientAnswer = Outcome | 'shutting-down'

export interface ClientApiHandlers {
  /** a valid command: call `respond` exactly once, when the engine answers */
  command(cmd: Command, respond: (answer: ClientAnswer) => void, onAbort: (cb: () => void) => void): void
  health(): unknown
  metrics(): unknown
  inFlight(): number
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.writableEnded || res.destroyed) return
  const text = JSON.stringify(body)
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  })
  res.end(text)
}

function badRequest(res: ServerResponse, reason: string): void {
  sendJson(res, 400, { error: 'bad-request', reason })
}

function parseCommandId(req: IncomingMessage): CommandId | string {
  const client = req.headers['x-client-id']
  const seqText = req.headers['x-seq']
  if (typeof client !== 'string' || client.length === 0 || client.length > MAX_CLIENT_ID_CHARS) {
    return `header x-client-id must be a non-empty string of at most ${MAX_CLIENT_ID_CHARS} characters`
  }
  if (typeof seqText !== 'string' || !/^[1-9][0-9]{0,15}$/.test(seqText)) {
    return 'header x-seq must be a positive integer'
  }
  const seq = Number(seqText)
  if (!Number.isSafeInteger(seq)) return 'header x-seq must be a positive integer'
  return { client, seq }
}

/**
 * The body as UTF-8, or null as soon as it is known to be over the limit: from content-length, or
 * when the bytes received pass it. Not at the body's end: with no request timeout, a client could
 * otherwise stream a body of any length, or announce one and never send it, and hold the connection.
 */
function readBody(req: IncomingMessage, limitBytes: number): Promise<string | null> {
  if (Number(req.headers['content-length']) > limitBytes) return Promise.resolve(null)
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let total = 0
    const onData = (chunk: Buffer): void => {
      total += chunk.length
      if (total <= limitBytes) {
        chunks.push(chunk)
        return
      }
      req.off('data', onData) // still flowing: the rest is discarded until the connection closes
      resolve(null)
    }
    req.on('data', onData)
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8'))) // no-op after resolve(null)
    req.on('error', reject)
  })
}

async function handle(handlers: ClientApiHandlers, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = req.url ?? '/'
  const path = url.split('?', 1)[0]!
  if (path === '/health' || path === '/metrics') {
    if (req.method !== 'GET') return sendJson(res, 405, { error: 'method-not-allowed', allow: 'GET' })
    req.resume()
    return sendJson(res, 200, path === '/health' ? handlers.health() : handlers.metrics())
  }
  if (!path.startsWith('/kv/')) {
    req.resume()
    return sendJson(res, 404, { error: 'not-found', reason: 'paths: /kv/:key, /health, /metrics' })
  }
  let key: string
  try {
    key = decodeURIComponent(path.slice('/kv/'.length))
  } catch {
    req.resume()
    return badRequest(res, 'key is not valid percent-encoding')
  }
  if (key.length === 0) {
    req.resume()
    return badRequest(res, 'empty key')
  }
  if (req.method !== 'GET' && req.method !== 'PUT') {
    req.resume()
    return sendJson(res, 405, { error: 'method-not-allowed', allow: 'GET, PUT' })
  }
  const id = parseCommandId(req)
  if (typeof id === 'string') {
    req.resume()
    return badRequest(res, id)
  }
  let cmd: Command
  if (req.method === 'PUT') {
    const value = await readBody(req, MAX_VALUE_BYTES)
    if (value === null) {
      // The unread rest of the body cannot be skipped to reach a next request: close the connection.
      res.setHeader('connection', 'close')
      return sendJson(res, 413, { error: 'too-large', reason: `value over ${MAX_VALUE_BYTES} bytes` })
    }
    cmd = { id, op: 'put', key, value }
  } else {
    req.resume()
    cmd = { id, op: 'get', key }
  }
  if (handlers.inFlight() >= MAX_IN_FLIGHT_REQUESTS) {
    return sendJson(res, 503, { error: 'overloaded', reason: `${MAX_IN_FLIGHT_REQUESTS} requests in flight` })
  }
  handlers.command(
    cmd,
    (outcome) => {
      if (outcome === 'shutting-down')
        sendJson(res, 503, { error: 'unavailable', reason: 'replica shutting down' })
      else if (outcome.status === 'ok') sendJson(res, 200, { value: outcome.value })
      else sendJson(res, 409, { error: 'rejected', reason: outcome.reason })
    },
    (cb) => res.on('close', cb),
  )
}

export function createClientApi(handlers: ClientApiHandlers, log: (line: string) => void): Server {
  const server = createServer({ keepAlive: true }, (req, res) => {
    handle(handlers, req, res).catch((err: unknown) => {
      log(`client API error: ${(err as Error).message}`)
      sendJson(res, 500, { error: 'internal', reason: (err as Error).message })
    })
  })
  // Held requests may wait for a slow consensus round; the client decides when to give up.
  server.requestTimeout = 0
  server.keepAliveTimeout = 60_000
  return server
}
