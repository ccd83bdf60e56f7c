/**
 * The same cell with the local and the compose launcher: median latency per site, and the ratio
 * compose/local (issue #10 asks for agreement within 10%). Prints figures; asserts nothing (the
 * machine is shared and noisy). The launchers alternate for `reps` repetitions and each figure is the
 * median over them, so a burst of load from elsewhere does not land on one launcher only.
 * `node --import tsx bench/launchers.ts [engine] [durationS] [reps]`
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runBenchmark } from '../harness/run.ts'

const engine = process.argv[2] ?? 'multipaxos'
const durationMs = Number(process.argv[3] ?? '20') * 1000
const reps = Number(process.argv[4] ?? '3')
const root = mkdtempSync(join(tmpdir(), 'cb-bench-launchers-'))
const p50BySite: Record<string, Record<string, number[]>> = {}
function record(site: string, launcher: string, ms: number): void {
  p50BySite[site] ??= {}
  const bySite = p50BySite[site]!
  bySite[launcher] ??= []
  bySite[launcher]!.push(ms)
}
const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}
try {
  for (let rep = 0; rep < reps; rep++)
    for (const launcher of ['local', 'compose'] as const) {
      const { summary } = await runBenchmark({
        engine,
        launcher,
        replicas: 3,
        clientsPerSite: 4,
        durationMs,
        warmupMs: 2000,
        seed: 1,
        resultsRoot: root,
      })
      const cell = summary.cells[0]!
      for (const [site, s] of Object.entries(cell.sites)) record(site, launcher, s.latencyUs.p50 / 1000)
      record('all', launcher, cell.latencyUs.p50 / 1000)
      process.stderr.write(
        `rep ${rep + 1} ${launcher}: ${cell.opsCompleted} ops, p50 ${cell.latencyUs.p50 / 1000} ms, ${cell.check.verdict}\n`,
      )
    }
} finally {
  rmSync(root, { recursive: true, force: true })
}
process.stdout.write(
  `${engine}, 3 replicas, 4 clients/site, ${durationMs / 1000} s, lan, median of ${reps} reps\n`,
)
process.stdout.write('site   local p50 ms   compose p50 ms   compose/local\n')
for (const [site, v] of Object.entries(p50BySite)) {
  const local = median(v.local ?? [])
  const compose = median(v.compose ?? [])
  process.stdout.write(
    `${site.padEnd(6)} ${local.toFixed(2).padStart(12)}   ${compose.toFixed(2).padStart(14)}   ${(compose / local).toFixed(3).padStart(13)}\n`,
  )
}
