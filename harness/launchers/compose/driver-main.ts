/**
 * The compose file's driver service: waits until every replica answers /health, runs the closed-loop
 * driver (workloads/) for CB_DRIVER.durationMs, prints one JSON summary line per site and overall, and
 * exits 0 (1 when nothing completed). The harness's compose launcher does not use it: there the driver
 * runs in the harness itself (docker/README.md, "Where the driver runs").
 */
import { request } from 'undici'
import { startRunClock } from '../../../workloads/clock.ts'
import { summarizeLatency } from '../../../workloads/latency.ts'
import { runLoad } from '../../../workloads/load.ts'

interface DriverEnv {
  readonly durationMs: number
  readonly clientsPerSite: number
  readonly conflict: number
  readonly readRatio: number
  readonly seed: number
  readonly replicas: readonly { readonly id: string; readonly clientUrl: string }[]
}

async function healthy(url: string): Promise<boolean> {
  try {
    const r = await request(`${url}/health`, { headersTimeout: 1000, bodyTimeout: 1000 })
    await r.body.text()
    return r.statusCode === 200
  } catch {
    return false
  }
}

const env = JSON.parse(process.env.CB_DRIVER ?? 'null') as DriverEnv | null
if (env === null) {
  process.stderr.write('driver: CB_DRIVER is not set (compose.yaml gives it)\n')
  process.exit(2)
}
const deadline = Date.now() + 60_000
for (const r of env.replicas) {
  while (!(await healthy(r.clientUrl))) {
    if (Date.now() > deadline) {
      process.stderr.write(`driver: ${r.id} (${r.clientUrl}) did not answer /health within 60 s\n`)
      process.exit(1)
    }
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
}
// a leader election takes a moment after the replicas answer
await new Promise((resolve) => setTimeout(resolve, 2000))
const result = await runLoad(
  {
    sites: env.replicas.map((r) => ({ name: r.id, replica: r.id })),
    replicas: env.replicas,
    workload: {
      keys: { kind: 'conflict', conflict: env.conflict, sharedKeys: 1, privateKeysPerClient: 16 },
      readRatio: env.readRatio,
      valueSizeBytes: 0,
    },
    shape: { kind: 'closed', clientsPerSite: env.clientsPerSite, thinkTimeMs: 0, opsPerClient: null },
    seed: env.seed,
    durationMs: env.durationMs,
    warmupMs: 1000,
    cooldownMs: 0,
    requestTimeoutMs: 2000,
    maxAttempts: 3,
    maxOps: 2_000_000,
  },
  { clock: startRunClock() },
)
let total = 0
for (const r of env.replicas) {
  const ops = result.measuredOpsBySite.get(r.id) ?? 0
  total += ops
  const latencyUs = summarizeLatency(result.latency.merged(r.id))
  process.stdout.write(`${JSON.stringify({ site: r.id, ops, latencyUs })}\n`)
}
process.stdout.write(
  `${JSON.stringify({ site: 'all', ops: total, latencyUs: summarizeLatency(result.latency.merged()) })}\n`,
)
process.exit(total > 0 ? 0 : 1)
