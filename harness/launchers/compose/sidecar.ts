/**
 * The shaper sidecar: runs in its own container that owns the replica's network namespace (the replica
 * joins it with `network_mode: service:<id>-net`), with cap NET_ADMIN. It reads CB_SHAPER_SPEC
 * (compose-file.ts SidecarSpec), shapes this replica's outgoing links with the kernel shaper on eth0
 * (per-destination mode: one sender per namespace), touches the ready file the healthcheck waits for,
 * and removes its qdiscs and rules on SIGTERM. With nothing to shape it only holds the namespace.
 *
 * Calibration (spec.calibrate, a topology run): before it reports ready, the sidecar stands in for its
 * replica with an echo server on the peer port, waits for the launcher's go (CALIBRATION_SIGNAL), probes
 * each of its outgoing links the way the replica will dial them (through its relay, or straight to the
 * peer's address through the kernel's qdiscs), prints one `{"event":"calibrated"}` line with the
 * measured links, and keeps echoing (on the client port too, for the launcher's probes of the client
 * links) for the other sidecars' probes until the launcher signals again (every sidecar has reported).
 * Then it closes the echo servers, reports ready, and the replica starts on the freed ports.
 *
 * Names in `host` (swarm: service names) are resolved here: u32 filters match numeric addresses.
 *
 * Faults: once shaped, the sidecar takes partition, heal and setLink commands for the directions its
 * shaper holds on LINK_CONTROL_PORT (link-control.ts), until it stops.
 */
import { lookup } from 'node:dns/promises'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { closeEcho, type LinkCalibration, listenEcho, probeLinks } from '../../../netem/calibrate.ts'
import { createKernelShaper } from '../../../netem/kernel/index.ts'
import type { NetworkSpec, ShapedNetwork } from '../../../netem/shaper.ts'
import {
  CLIENT_PORT,
  PEER_PORT,
  RELAY_ADDRESSES_DIR,
  RELAY_ADDRESSES_FILE,
  SIDECAR_READY_FILE,
  type SidecarSpec,
} from './compose-file.ts'
import { LINK_CONTROL_PORT, ownedDirections, serveLinkControl } from './link-control.ts'

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

/** The links this sidecar probes: its outgoing ones, dialled as its replica dials them. */
export function sidecarProbeTargets(
  spec: SidecarSpec,
  addressFor: (to: string) => string,
): { from: string; to: string; address: string; targetRttMs: number }[] {
  const back = new Map(spec.reverseLinks.map((l) => [l.from, l.shape.delayMs]))
  return spec.links.map((l) => ({
    from: spec.self,
    to: l.to,
    address: addressFor(l.to),
    targetRttMs: l.shape.delayMs + (back.get(l.to) ?? 0),
  }))
}

/** the lines the launcher waits for in the sidecar's log: links shaped; links calibrated */
export const SHAPED_EVENT = 'shaped'
export const CALIBRATED_EVENT = 'calibrated'
/**
 * The launcher's steps of a calibration: the first signal says "probe now" (the launcher has put the
 * relay and the prober at real-time priority meanwhile), the second "every sidecar has calibrated: stop
 * echoing". Counted from the start, so a signal that comes early is not lost.
 */
export const CALIBRATION_SIGNAL = 'SIGUSR2'
const PEER_WAIT_MS = 60_000

let signalsSeen = 0
const signalWaiters: Array<() => void> = []
function launcherSignal(n: number): Promise<void> {
  return new Promise((resolve) => {
    const check = () => (signalsSeen >= n ? resolve() : void signalWaiters.push(check))
    check()
  })
}

/** Resolves once host:port accepts a connection (the peer's sidecar echoes), or fails at the deadline. */
export async function reachable(address: string, deadlineMs: number): Promise<void> {
  const i = address.lastIndexOf(':')
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: address.slice(0, i), port: Number(address.slice(i + 1)) })
      s.once('connect', () => {
        s.destroy()
        resolve(true)
      })
      s.once('error', () => resolve(false))
    })
    if (ok) return
    if (Date.now() > deadlineMs) throw new Error(`calibration: ${address} did not accept in time`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

async function calibrate(
  spec: SidecarSpec,
  probesPerLink: number,
  shaped: ShapedNetwork | null,
): Promise<void> {
  const net = await sidecarNetworkSpec(spec)
  const self = net.endpoints.find((e) => e.id === spec.self)!
  // the client port too: the launcher probes the client links (shaped on the host) to it meanwhile
  const echoes = [await listenEcho(self.host, PEER_PORT), await listenEcho(self.host, CLIENT_PORT)]
  try {
    await launcherSignal(1)
    const direct = new Map(net.endpoints.map((e) => [e.id, e.listenAddress!]))
    const deadline = Date.now() + PEER_WAIT_MS
    for (const p of spec.peers) await reachable(direct.get(p.id)!, deadline)
    const targets = sidecarProbeTargets(spec, (to) =>
      spec.shaper === 'relay' && shaped !== null ? shaped.addressFor(spec.self, to) : direct.get(to)!,
    )
    const links: LinkCalibration[] = await probeLinks(targets, { probesPerLink })
    process.stdout.write(`${JSON.stringify({ event: CALIBRATED_EVENT, self: spec.self, links })}\n`)
    await launcherSignal(2)
  } finally {
    for (const echo of echoes) await closeEcho(echo)
  }
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
  process.on(CALIBRATION_SIGNAL, () => {
    signalsSeen++
    for (const w of signalWaiters.splice(0)) w()
  })
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
  // the relay holds both directions of the connections its replica dials; the kernel shapes egress
  const held =
    shaped === null
      ? []
      : spec.shaper === 'relay'
        ? (await sidecarNetworkSpec(spec)).links
        : kernelLinks(spec)
  // every address of the namespace: the bridge's is the one the harness dials
  const control = await serveLinkControl('0.0.0.0', LINK_CONTROL_PORT, shaped, ownedDirections(held))
  process.stdout.write(
    `${JSON.stringify({ event: SHAPED_EVENT, self: spec.self, shaper: spec.shaper, links: spec.links.length })}\n`,
  )
  if (spec.calibrate !== undefined && spec.links.length > 0)
    await calibrate(spec, spec.calibrate.probesPerLink, shaped)
  writeFileSync(SIDECAR_READY_FILE, `${spec.links.length}\n`)
  let closing = false
  const stop = async () => {
    if (closing) return
    closing = true
    control.close()
    control.closeAllConnections()
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
