/** Test replicas: in-process HTTP servers speaking the host's client API over one shared map. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/** In-process replicas sharing one map: linearizable by construction. `hang` decides which requests never get an answer. */
export async function fakeReplicas(
  n: number,
  hang: (replica: number, client: string, seq: number) => boolean,
  /** a request that arrives while this returns true is answered once it returns false (a stall) */
  paused: () => boolean = () => false,
) {
  const kv = new Map<string, string>()
  const seen: Array<{ replica: number; client: string; seq: number }> = []
  const executed = new Set<string>()
  const servers: Server[] = []
  for (let i = 0; i < n; i++) {
    const server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        const client = String(req.headers['x-client-id'])
        const seq = Number(req.headers['x-seq'])
        seen.push({ replica: i, client, seq })
        if (hang(i, client, seq)) return
        if (paused()) {
          const retry = setInterval(() => {
            if (paused()) return
            clearInterval(retry)
            answer()
          }, 5)
          return
        }
        answer()
      })
      const answer = () => {
        const client = String(req.headers['x-client-id'])
        const seq = Number(req.headers['x-seq'])
        const key = decodeURIComponent((req.url ?? '').slice('/kv/'.length))
        const id = `${client}#${seq}`
        if (req.method === 'PUT') {
          if (!executed.has(id)) kv.set(key, Buffer.concat(chunks).toString('utf8'))
          executed.add(id)
          res.end(JSON.stringify({ value: null }))
        } else {
          res.end(JSON.stringify({ value: kv.get(key) ?? null }))
        }
      }
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    servers.push(server)
  }
  const replicas = servers.map((s, i) => ({
    id: `r${i}`,
    clientUrl: `http://127.0.0.1:${(s.address() as AddressInfo).port}`,
  }))
  const close = async () => {
    for (const s of servers) {
      s.closeAllConnections()
      await new Promise((r) => s.close(r))
    }
  }
  return { replicas, seen, close }
}
