/**
 * Faults on the replica-to-replica links of a compose run (partition, heal, a slower link).
 *
 * Those links are shaped in the sidecars, each for the links its own replica takes part in: in relay
 * mode both directions of the connections its replica dials (requests out, replies back), in kernel
 * mode its egress only. So one direction `from -> to` is shaped in up to two places, and a command for
 * it goes to the sidecars of both ends; each applies it where its shaper holds that direction, and at
 * least one must.
 *
 * A sidecar serves the commands over HTTP on its bridge address at LINK_CONTROL_PORT (its namespace is
 * the replica's; the replica uses PEER_PORT and CLIENT_PORT only). The network is `internal`: only the
 * harness on the docker host reaches it.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Agent } from 'undici'
import type { NodeId } from '../../../engines/core/command.ts'
import { parseLinkShape } from '../../../netem/relay/spec.ts'
import type { LinkShape, PartitionMode, ShapedNetwork } from '../../../netem/shaper.ts'

export const LINK_CONTROL_PORT = 9000
const LINK_CONTROL_PATH = '/link'
/** a command is a few tc/iptables calls or one relay request: seconds mean a sidecar in trouble */
const COMMAND_TIMEOUT_MS = 10_000

export type LinkCommand =
  | { readonly op: 'partition'; readonly from: string; readonly to: string; readonly mode: PartitionMode }
  | { readonly op: 'heal'; readonly from: string; readonly to: string }
  | { readonly op: 'setLink'; readonly from: string; readonly to: string; readonly shape: LinkShape }

/** What a fault does to one direction of a replica-to-replica link: a shaped network's fault calls. */
export type ReplicaLinkControl = Pick<ShapedNetwork, 'partition' | 'heal' | 'setLink'>

/** The directions a sidecar's shaper holds, as `from>to` (see the file comment for which). */
export function ownedDirections(links: ReadonlyArray<{ from: string; to: string }>): Set<string> {
  return new Set(links.map((l) => `${l.from}>${l.to}`))
}

/** Checks a command's fields; throws with the field named. */
export function parseLinkCommand(raw: unknown): LinkCommand {
  const c = (raw ?? {}) as Record<string, unknown>
  for (const field of ['from', 'to'])
    if (typeof c[field] !== 'string') throw new Error(`link command: ${field} must be an endpoint id`)
  const from = c.from as string
  const to = c.to as string
  switch (c.op) {
    case 'partition':
      if (c.mode !== 'hold' && c.mode !== 'reset')
        throw new Error(`link command: mode must be 'hold' or 'reset', got ${JSON.stringify(c.mode)}`)
      return { op: 'partition', from, to, mode: c.mode }
    case 'heal':
      return { op: 'heal', from, to }
    case 'setLink':
      return { op: 'setLink', from, to, shape: parseLinkShape(c.shape, `setLink(${from}, ${to})`) }
    default:
      throw new Error(`link command: op must be partition, heal or setLink, got ${JSON.stringify(c.op)}`)
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

/**
 * The sidecar's side: POST /link with a LinkCommand applies it to `shaped` when `owned` holds its
 * direction and answers {applied: true}; otherwise {applied: false}. Bad commands get 400, a shaper
 * that fails 500, each with {error}. Commands run one at a time, in arrival order.
 */
export async function serveLinkControl(
  host: string,
  port: number,
  shaped: ReplicaLinkControl | null,
  owned: ReadonlySet<string>,
): Promise<Server> {
  let queue: Promise<unknown> = Promise.resolve()
  const apply = async (command: LinkCommand): Promise<boolean> => {
    if (shaped === null || !owned.has(`${command.from}>${command.to}`)) return false
    if (command.op === 'partition') await shaped.partition(command.from, command.to, command.mode)
    else if (command.op === 'heal') await shaped.heal(command.from, command.to)
    else await shaped.setLink(command.from, command.to, command.shape)
    return true
  }
  const server = createServer((req, res) => {
    const answer = (status: number, body: unknown) => {
      res.statusCode = status
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify(body))
    }
    if (req.method !== 'POST' || req.url !== LINK_CONTROL_PATH) return answer(404, { error: 'POST /link' })
    readBody(req)
      .then((text) => {
        let command: LinkCommand
        try {
          command = parseLinkCommand(JSON.parse(text))
        } catch (err) {
          return answer(400, { error: err instanceof Error ? err.message : String(err) })
        }
        const done = queue.then(() => apply(command))
        queue = done.catch(() => {})
        done.then(
          (applied) => answer(200, { applied }),
          (err: unknown) => answer(500, { error: err instanceof Error ? err.message : String(err) }),
        )
      })
      .catch(() => answer(400, { error: 'could not read the request' }))
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  return server
}

/** host:port a server from serveLinkControl listens on (tests listen on port 0). */
export function controlAddress(server: Server): string {
  const a = server.address() as AddressInfo
  return `${a.address}:${a.port}`
}

/**
 * The harness's side: sends each command to the sidecars of both ends (`addresses`: replica id ->
 * host:port of its sidecar's control server) and fails unless at least one applied it.
 */
export function sidecarLinkControl(
  addresses: ReadonlyMap<NodeId, string>,
  agent: Agent = new Agent(),
): ReplicaLinkControl & { close(): Promise<void> } {
  const send = async (address: string, command: LinkCommand): Promise<boolean> => {
    const response = await agent.request({
      origin: `http://${address}`,
      path: LINK_CONTROL_PATH,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(command),
      headersTimeout: COMMAND_TIMEOUT_MS,
      bodyTimeout: COMMAND_TIMEOUT_MS,
    })
    const body = (await response.body.json()) as { applied?: boolean; error?: string }
    if (response.statusCode !== 200)
      throw new Error(
        `the sidecar at ${address}: ${command.op}: ${body.error ?? `HTTP ${response.statusCode}`}`,
      )
    return body.applied === true
  }
  const both = async (command: LinkCommand): Promise<void> => {
    const ends = [...new Set([command.from, command.to])].map((id) => {
      const address = addresses.get(id)
      if (address === undefined) throw new Error(`link control: no sidecar for "${id}"`)
      return address
    })
    const applied = await Promise.all(ends.map((address) => send(address, command)))
    if (!applied.some(Boolean))
      throw new Error(`link control: no sidecar shapes ${command.from} -> ${command.to} (${command.op})`)
  }
  return {
    partition: (from, to, mode) => both({ op: 'partition', from, to, mode }),
    heal: (from, to) => both({ op: 'heal', from, to }),
    setLink: (from, to, shape) => both({ op: 'setLink', from, to, shape }),
    close: () => agent.close(),
  }
}
