/**
 * The shaper sidecar: runs in its own container that owns the replica's network namespace (the replica
 * joins it with `network_mode: service:<id>-net`), with cap NET_ADMIN. It reads CB_SHAPER_SPEC
 * (compose-file.ts SidecarSpec), shapes this replica's outgoing links with the kernel shaper on eth0
 * (per-destination mode: one sender per namespace), touches the ready file the healthcheck waits for,
 * and removes its qdiscs and rules on SIGTERM. With nothing to shape it only holds the namespace.
 *
 * Names in `host` (swarm: service names) are resolved here: u32 filters match numeric addresses.
 */
import { lookup } from 'node:dns/promises'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { createKernelShaper } from '../../../netem/kernel/index.ts'
import type { NetworkSpec, ShapedNetwork } from '../../../netem/shaper.ts'
import {
  PEER_PORT,
  RELAY_ADDRESSES_DIR,
  RELAY_ADDRESSES_FILE,
  SIDECAR_READY_FILE,
  type SidecarSpec,
} from './compose-file.ts'

async function numeric(host: string): Promise<string> {
  if (/^\d+\.\d+\.\d+\.\d+$/.test(host)) return host
  return (await lookup(host, { family: 4 })).address
}

/** The kernel shaper's view: every endpoint sends from eth0 of this namespace (only `self` sends here). */
export async function sidecarNetworkSpec(spec: SidecarSpec): Promise<NetworkSpec> {
  const endpoints = [{ id: spec.self, host: spec.host }, ...spec.peers]
  return {
    endpoints: await Promise.all(
      endpoints.map(async (e) => {
        const host = await numeric(e.host)
        return { id: e.id, site: e.id, host, listenAddress: `${host}:${PEER_PORT}` }
      }),
    ),
    links: [
      ...spec.links.map((l) => ({ from: spec.self, to: l.to, shape: l.shape })),
      ...spec.reverseLinks.map((l) => ({ from: l.from, to: spec.self, shape: l.shape })),
    ],
  }
}

/**
 * Relay mode: one relay process in this namespace, listening on 127.0.0.1, for the connections this
 * replica dials (both directions of each: requests self -> peer, replies peer -> self). Its address
 * for each peer goes to the shared volume, where the replica's prelude reads it.
 */
async function startRelay(spec: SidecarSpec): Promise<ShapedNetwork> {
  const { createRelayShaper } = await import('../../../netem/relay/index.ts')
  const shaped = await createRelayShaper({ listenHost: '127.0.0.1' }).apply(await sidecarNetworkSpec(spec))
  const addresses = Object.fromEntries(spec.peers.map((p) => [p.id, shaped.addressFor(spec.self, p.id)]))
  mkdirSync(RELAY_ADDRESSES_DIR, { recursive: true })
  writeFileSync(RELAY_ADDRESSES_FILE, `${JSON.stringify(addresses)}\n`)
  return shaped
}

/** the kernel shapes egress only: the reverse directions are the peers' sidecars' job */
export function kernelLinks(spec: SidecarSpec): NetworkSpec['links'] {
  return spec.links.map((l) => ({ from: spec.self, to: l.to, shape: l.shape }))
}

async function main(): Promise<void> {
  const raw = process.env.CB_SHAPER_SPEC
  if (raw === undefined) {
    process.stderr.write('sidecar: CB_SHAPER_SPEC is not set (compose.yaml gives it)\n')
    process.exit(2)
  }
  const spec = JSON.parse(raw) as SidecarSpec
  let shaped: ShapedNetwork | null = null
  if (spec.shaper === 'kernel' && spec.links.length > 0) {
    const shaper = createKernelShaper({
      layout: () => ({ netns: null, device: 'eth0', mtuBytes: 1500 }),
      runId: spec.runId.slice(0, 25),
    })
    shaped = await shaper.apply({ ...(await sidecarNetworkSpec(spec)), links: kernelLinks(spec) })
  } else if (spec.shaper === 'relay') {
    shaped = await startRelay(spec)
  }
  writeFileSync(SIDECAR_READY_FILE, `${spec.links.length}\n`)
  process.stdout.write(
    `${JSON.stringify({ event: 'shaped', self: spec.self, shaper: spec.shaper, links: spec.links.length })}\n`,
  )
  let closing = false
  const stop = async () => {
    if (closing) return
    closing = true
    await shaped?.close()
    rmSync(SIDECAR_READY_FILE, { force: true })
    process.exit(0)
  }
  process.on('SIGTERM', () => void stop())
  process.on('SIGINT', () => void stop())
  // hold the namespace until told to stop
  setInterval(() => {}, 1 << 30)
}

if (process.argv[1]?.endsWith('sidecar.ts')) {
  main().catch((err: unknown) => {
    process.stderr.write(`sidecar: ${err instanceof Error ? err.message : String(err)}\n`)
    process.exit(1)
  })
}
