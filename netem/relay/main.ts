/**
 * The relay process: `node --import tsx netem/relay/main.ts` (no arguments). Its own process, so the CPU
 * it spends forwarding does not disturb the load driver in the harness.
 *
 * Contract (JSON lines; netem/relay/README.md has the details):
 * - stdin, first line: {spec, seed, listenHost, spinMs}. stdout answers {"event":"ready","pid",
 *   "links":[{from,to,address}]} once every listener is bound, or the process exits 2 with the reason
 *   on stderr.
 * - stdin, then: control requests {id, op: setLink|partition|heal|stats|close, ...}; each gets one line
 *   {id, ok: true, ...} or {id, ok: false, error}.
 * - stdin closing (the harness exited or crashed) closes everything and exits 0, as does `close`.
 */
import { createInterface } from 'node:readline'
import { Relay } from './relay.ts'
import {
  controlRequestSchema,
  parseLinkShape,
  parseNetworkSpec,
  type RelayReady,
  relayStartSchema,
} from './spec.ts'

function send(message: object): void {
  process.stdout.write(`${JSON.stringify(message)}\n`)
}

let relay: Relay | null = null
let exiting = false

async function exit(code: number): Promise<void> {
  if (exiting) return
  exiting = true
  await relay?.close()
  process.exit(code)
}

function handle(line: string): void {
  let id: number | null = null
  try {
    const raw = JSON.parse(line) as { id?: unknown }
    if (typeof raw.id === 'number') id = raw.id
    const request = controlRequestSchema.parse(raw)
    const r = relay!
    switch (request.op) {
      case 'setLink':
        r.setLink(request.from, request.to, parseLinkShape(request.shape, 'setLink'))
        send({ id, ok: true })
        return
      case 'partition':
        r.partition(request.from, request.to, request.mode)
        send({ id, ok: true })
        return
      case 'heal':
        r.heal(request.from, request.to)
        send({ id, ok: true })
        return
      case 'stats':
        send({ id, ok: true, stats: r.stats() })
        return
      case 'close':
        send({ id, ok: true })
        void exit(0)
        return
    }
  } catch (err) {
    send({ id, ok: false, error: err instanceof Error ? err.message.split('\n')[0] : String(err) })
  }
}

async function start(line: string): Promise<void> {
  const start = relayStartSchema.parse(JSON.parse(line))
  const spec = parseNetworkSpec(start.spec, 'relay start line: spec')
  relay = new Relay(spec, {
    seed: start.seed,
    listenHost: start.listenHost,
    spinMs: start.spinMs,
    wake: start.wake,
  })
  const links = await relay.start()
  const inbound = await relay.startInbound()
  const ready: RelayReady = { event: 'ready', pid: process.pid, links, inbound }
  send(ready)
}

const lines = createInterface({ input: process.stdin })
let started: Promise<void> | null = null
lines.on('line', (line) => {
  if (line.trim() === '') return
  if (started === null) {
    started = start(line).catch((err: unknown) => {
      process.stderr.write(`relay: ${err instanceof Error ? err.message : String(err)}\n`)
      void exit(2)
    })
    return
  }
  void started.then(() => {
    if (relay !== null && !exiting) handle(line)
  })
})
lines.on('close', () => void exit(0))
process.on('SIGTERM', () => void exit(0))
process.on('SIGINT', () => void exit(0))
