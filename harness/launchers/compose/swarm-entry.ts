/**
 * The prelude of a replica in a swarm stack (stack-file.ts): resolve the peers' service names to their
 * task addresses (retrying while tasks start), shape this container's egress with the kernel shaper
 * when the spec says so (the qdiscs outlive this process: they belong to the namespace), and write the
 * replica config with numeric addresses to /tmp/replica.json. The stack's command then execs the replica.
 */
import { lookup } from 'node:dns/promises'
import { writeFileSync } from 'node:fs'
import { createKernelShaper } from '../../../netem/kernel/index.ts'
import type { SidecarSpec } from './compose-file.ts'
import { kernelLinks, sidecarNetworkSpec } from './sidecar.ts'

const RESOLVE_DEADLINE_MS = 120_000

async function resolveHost(host: string): Promise<string> {
  if (/^\d+\.\d+\.\d+\.\d+$/.test(host)) return host
  const deadline = Date.now() + RESOLVE_DEADLINE_MS
  for (;;) {
    try {
      return (await lookup(host, { family: 4 })).address
    } catch (err) {
      if (Date.now() > deadline)
        throw new Error(`swarm-entry: cannot resolve '${host}': ${(err as Error).message}`)
      await new Promise((r) => setTimeout(r, 500))
    }
  }
}

async function resolveAddress(address: string): Promise<string> {
  const colon = address.lastIndexOf(':')
  return `${await resolveHost(address.slice(0, colon))}${address.slice(colon)}`
}

const config = JSON.parse(process.env.CB_REPLICA_CONFIG ?? 'null') as {
  nodes: { id: string; peerAddress: string }[]
  listen: { peer: string; client: string }
} | null
const shaping = JSON.parse(process.env.CB_SHAPER_SPEC ?? 'null') as SidecarSpec | null
if (config === null || shaping === null) {
  process.stderr.write(
    'swarm-entry: CB_REPLICA_CONFIG and CB_SHAPER_SPEC must be set (stack.yaml gives them)\n',
  )
  process.exit(2)
}
for (const node of config.nodes) node.peerAddress = await resolveAddress(node.peerAddress)
config.listen = {
  peer: await resolveAddress(config.listen.peer),
  client: await resolveAddress(config.listen.client),
}
if (shaping.shaper === 'kernel' && shaping.links.length > 0) {
  const shaper = createKernelShaper({
    layout: () => ({ netns: null, device: 'eth0', mtuBytes: 1500 }),
    runId: shaping.runId.slice(0, 25),
  })
  // not closed: the shaping must outlive this prelude
  await shaper.apply({ ...(await sidecarNetworkSpec(shaping)), links: kernelLinks(shaping) })
}
writeFileSync('/tmp/replica.json', `${JSON.stringify(config, null, 2)}\n`)
