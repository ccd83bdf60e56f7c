// A no-op replica for bench/driver-capacity.ts: node:http answering the replica client API shape
// (engines/host/README.md) at once, without consensus: PUT /kv/:key -> 200 {"value":null},
// GET /kv/:key -> 200 {"value":null}. Plain JavaScript so it starts without a TypeScript loader.
// Prints {"port":N} on stdout once listening on 127.0.0.1; exits on SIGTERM or when stdin closes.
import { createServer } from 'node:http'

const body = '{"value":null}'
const server = createServer({ keepAlive: true }, (req, res) => {
  req.resume()
  req.on('end', () => {
    if (!req.url?.startsWith('/kv/')) {
      res.writeHead(404, { 'content-length': 2 })
      res.end('{}')
      return
    }
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length })
    res.end(body)
  })
})
server.keepAliveTimeout = 60_000
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`)
})
process.on('SIGTERM', () => process.exit(0))
process.stdin.on('end', () => process.exit(0))
process.stdin.resume()
