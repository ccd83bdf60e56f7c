/**
 * `npm run bench:relay`: what the relay adds beyond the configured delay, and what it costs.
 *
 * One link, a -> b with a fixed one-way delay and no jitter. This process sends 64-byte timestamped
 * messages at a constant rate (open loop, 1k and 10k messages/s) through the relay to a server in this
 * same process, which reads the send time out of each message: one-way latency minus the configured
 * delay is the relay's added latency (its two loopback hops, its event loop, its timer). CPU per MB is
 * the relay process's own CPU (process.cpuUsage(), reported by its `stats` op) over the bytes it
 * delivered; "relay late" is the relay's own view: how long after a chunk's delivery time it wrote it
 * (its timer precision plus any time it waited for a CPU). Each wake-up mode is measured
 * (netem/relay/README.md, "Timer precision"): a worker thread with 0.2 ms of polling (the default), a
 * worker alone, and setTimeout with 1 ms of polling. A direct connection at the same rate gives the
 * loopback's own share (flattered: the receiver is the sender, already awake).
 *
 * On a machine busy with other work, the figures measure how long the relay and the receiver wait for
 * a CPU. `--realtime` re-runs the benchmark under `chrt -f 10` (SCHED_FIFO; root or CAP_SYS_NICE): the
 * relay (a child, it inherits the policy) and the receiver get a CPU as soon as they wake, as on an
 * idle machine, so the figures show the relay's own cost.
 *
 * Flags: --delay-ms 10 --seconds 4 --rates 1000,10000 --modes worker/0.2,worker/0,timer/1 --realtime
 */
import { spawnSync } from 'node:child_process'
import { connect, createServer, type Socket } from 'node:net'
import { cpus, loadavg } from 'node:os'
import Table from 'cli-table3'
import type { Histogram } from 'hdr-histogram-js'
import { createRelayShaper, type RelayNetwork } from '../netem/relay/index.ts'
import type { LinkShape } from '../netem/shaper.ts'
import { newLatencyHistogram } from '../workloads/latency.ts'

const MESSAGE_BYTES = 64
const WARMUP_S = 0.5
const REALTIME_PRIORITY = '10'

if (process.argv.includes('--realtime') && process.env.BENCH_RELAY_REALTIME === undefined) {
  // a trial first, so a refusal is told apart from the benchmark's own failure
  const trial = spawnSync('chrt', ['-f', REALTIME_PRIORITY, 'true'], { encoding: 'utf8' })
  if (trial.error !== undefined || trial.status !== 0) {
    process.stderr.write(
      `bench:relay: --realtime: chrt -f ${REALTIME_PRIORITY} failed: ${trial.error?.message ?? trial.stderr.trim()}\n` +
        '  fix: run as root (or with CAP_SYS_NICE) with util-linux chrt on PATH, or drop --realtime\n',
    )
    process.exit(4)
  }
  const run = spawnSync(
    'chrt',
    ['-f', REALTIME_PRIORITY, process.execPath, ...process.execArgv, ...process.argv.slice(1)],
    { stdio: 'inherit', env: { ...process.env, BENCH_RELAY_REALTIME: REALTIME_PRIORITY } },
  )
  process.exit(run.status ?? 1)
}

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback
}
const delayMs = Number(flag('delay-ms', '10'))
const seconds = Number(flag('seconds', '4'))
const rates = flag('rates', '1000,10000').split(',').map(Number)
/** relay modes: wake/spinMs */
const modes = flag('modes', 'worker/0.2,worker/0,timer/1')
  .split(',')
  .map((m) => {
    const [wake, spin] = m.split('/')
    if ((wake !== 'worker' && wake !== 'timer') || !(Number(spin) >= 0)) {
      process.stderr.write(`bench:relay: --modes: "${m}" is not worker/<spinMs> or timer/<spinMs>\n`)
      process.exit(2)
    }
    return { wake, spinMs: Number(spin) } as const
  })
for (const [name, v] of [
  ['delay-ms', delayMs],
  ['seconds', seconds],
  ...rates.map((r) => ['rates', r]),
] as const)
  if (!(Number(v) >= 0)) {
    process.stderr.write(`bench:relay: --${name}: not a number >= 0\n`)
    process.exit(2)
  }

const shape: LinkShape = {
  delayMs,
  jitterMs: 0,
  jitterDistribution: 'normal',
  lossRate: 0,
  bandwidthBytesPerSec: null,
}

/** A server that records (receive time - send time in the message) for every message. */
async function startReceiver(): Promise<{
  address: string
  phase: { h: Histogram; counting: boolean }
  close: () => Promise<void>
}> {
  const phase = { h: newLatencyHistogram(), counting: false }
  const sockets = new Set<Socket>()
  const server = createServer({ noDelay: true }, (socket) => {
    sockets.add(socket)
    socket.on('error', () => {})
    let pending: Buffer = Buffer.alloc(0)
    socket.on('data', (data: Buffer) => {
      const now = performance.now()
      pending = pending.length === 0 ? data : Buffer.concat([pending, data])
      let offset = 0
      for (; offset + MESSAGE_BYTES <= pending.length; offset += MESSAGE_BYTES) {
        if (!phase.counting) continue
        const sentMs = pending.readDoubleBE(offset)
        phase.h.recordValue(Math.max(1, Math.round((now - sentMs) * 1000)))
      }
      pending = pending.subarray(offset)
    })
  })
  await new Promise<void>((r) => server.listen({ host: '127.0.0.2', port: 0 }, () => r()))
  const a = server.address()
  if (a === null || typeof a === 'string') throw new Error('no address')
  return {
    address: `127.0.0.2:${a.port}`,
    phase,
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((r) => server.close(() => r()))
    },
  }
}

/** Send at `rate` messages/s for `seconds` (after a warm-up); resolves when the last message is in. */
async function drive(
  address: string,
  rate: number,
  phase: { h: Histogram; counting: boolean },
): Promise<Histogram> {
  const i = address.lastIndexOf(':')
  const socket = connect({ host: address.slice(0, i), port: Number(address.slice(i + 1)), noDelay: true })
  socket.on('error', () => {})
  await new Promise<void>((r) => socket.once('connect', () => r()))
  phase.h = newLatencyHistogram()
  phase.counting = false
  const startMs = performance.now()
  const endMs = startMs + (WARMUP_S + seconds) * 1000
  let sent = 0
  const message = Buffer.alloc(MESSAGE_BYTES)
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now()
      if (!phase.counting && now - startMs >= WARMUP_S * 1000) phase.counting = true
      const due = Math.min(
        Math.floor(((now - startMs) / 1000) * rate),
        Math.floor(((endMs - startMs) / 1000) * rate),
      )
      for (; sent < due; sent++) {
        message.writeDoubleBE(performance.now(), 0)
        socket.write(Buffer.from(message))
      }
      if (now >= endMs) resolve()
      else setTimeout(tick, 1)
    }
    tick()
  })
  await new Promise((r) => setTimeout(r, delayMs + 200))
  phase.counting = false
  socket.destroy()
  return phase.h
}

const us = (h: Histogram, p: number) => Math.min(h.getValueAtPercentile(p), h.maxValue)
const ms = (v: number) => (v / 1000).toFixed(3)

const cpu = cpus()
console.log(
  `machine: ${cpu[0]?.model ?? 'unknown'}, ${cpu.length} cores, node ${process.version}, load ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
)
if (process.env.BENCH_RELAY_REALTIME !== undefined)
  console.log(
    `scheduling: SCHED_FIFO ${process.env.BENCH_RELAY_REALTIME} (--realtime: as on an idle machine)`,
  )
console.log(
  `one link, one-way delay ${delayMs} ms, ${MESSAGE_BYTES}-byte messages, ${seconds} s per rate after ${WARMUP_S} s warm-up\n`,
)

const receiver = await startReceiver()
const table = new Table({
  style: { head: [], border: [] },
  head: [
    'path',
    'rate msg/s',
    'messages',
    'added p50 ms',
    'added p99 ms',
    'added max ms',
    'relay CPU %',
    'CPU ms/MB',
    'CPU us/msg',
    'relay late p99/max ms',
  ],
})
try {
  for (const rate of rates) {
    const h = await drive(receiver.address, rate, receiver.phase)
    table.push([
      'direct (no relay)',
      rate,
      h.totalCount,
      ms(us(h, 50)),
      ms(us(h, 99)),
      ms(h.maxValue),
      '-',
      '-',
      '-',
      '-',
    ])
  }
  for (const { wake, spinMs } of modes) {
    const network = (await createRelayShaper({ spinMs, wake }).apply({
      endpoints: [
        { id: 'a', site: 'A', host: '127.0.0.1', listenAddress: null },
        { id: 'b', site: 'B', host: '127.0.0.2', listenAddress: receiver.address },
      ],
      links: [
        { from: 'a', to: 'b', shape },
        { from: 'b', to: 'a', shape },
      ],
    })) as RelayNetwork
    try {
      for (const rate of rates) {
        const before = await network.stats()
        const wallStartMs = performance.now()
        const h = await drive(network.addressFor('a', 'b'), rate, receiver.phase)
        const wallMs = performance.now() - wallStartMs
        const after = await network.stats()
        const cpuMs = (after.cpuUserUs + after.cpuSystemUs - before.cpuUserUs - before.cpuSystemUs) / 1000
        const mb = (after.bytesDelivered - before.bytesDelivered) / 1e6
        const added = (p: number) => ms(Math.max(0, us(h, p) - delayMs * 1000))
        table.push([
          `relay ${wake}/${spinMs}`,
          rate,
          h.totalCount,
          added(50),
          added(99),
          ms(Math.max(0, h.maxValue - delayMs * 1000)),
          ((cpuMs / wallMs) * 100).toFixed(0),
          (cpuMs / mb).toFixed(0),
          ((cpuMs * 1000) / h.totalCount).toFixed(0),
          `${ms(after.lateUsP99)}/${ms(after.lateUsMax)}`,
        ])
      }
    } finally {
      await network.close()
    }
  }
} finally {
  await receiver.close()
}
console.log(table.toString())
console.log(
  'direct rows show the raw one-way loopback latency; relay rows show one-way latency minus the delay',
)
console.log(
  `target: relay added p99 < 1 ms at 1k messages/s (default mode worker/0.2); load now ${loadavg()[0]!.toFixed(2)}`,
)
