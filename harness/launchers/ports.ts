/** Free ports on a given loopback address, found by binding port 0 and reading what the kernel chose. */
import { createServer } from 'node:net'

export function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once('error', reject)
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address()
      if (address === null || typeof address === 'string') {
        server.close()
        reject(new Error(`could not read the bound address on ${host}`))
        return
      }
      const port = address.port
      server.close(() => resolve(port))
    })
  })
}

/** n distinct free ports on host (distinct even if the kernel hands the same one out twice). */
export async function freePorts(host: string, n: number): Promise<number[]> {
  const out = new Set<number>()
  for (let tries = 0; out.size < n; tries++) {
    if (tries > n * 10) throw new Error(`could not find ${n} free ports on ${host}`)
    out.add(await freePort(host))
  }
  return [...out]
}
