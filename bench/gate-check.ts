/**
 * `npm run bench:gate-check`: the regression gate on real runs (harness/gate/self-check.ts). Runs a
 * small experiment as a baseline, again, and again with every replica's processing delay on, then gates
 * the second and third against the first. Exit 0 when the repeat passes (or is unknown) and the slowed
 * run fails; 1 otherwise.
 *
 *   npm run bench:gate-check -- [--engine multipaxos] [--replicas 3] [--clients 2] [--duration 5s]
 *       [--warmup 1s] [--repetitions 3] [--delay 20ms] [--keep]
 *
 * The three results directories go to a temp dir, removed at the end unless --keep.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { gateTable } from '../harness/gate/output.ts'
import { gateSelfCheck } from '../harness/gate/self-check.ts'

const { values: a } = parseArgs({
  options: {
    engine: { type: 'string', default: 'multipaxos' },
    replicas: { type: 'string', default: '3' },
    clients: { type: 'string', default: '2' },
    duration: { type: 'string', default: '5s' },
    warmup: { type: 'string', default: '1s' },
    repetitions: { type: 'string', default: '3' },
    delay: { type: 'string', default: '20ms' },
    keep: { type: 'boolean', default: false },
  },
})
const root = mkdtempSync(join(tmpdir(), 'gate-check-'))
const started = performance.now()
try {
  const r = await gateSelfCheck({
    engine: a.engine,
    replicas: Number(a.replicas),
    clientsPerSite: Number(a.clients),
    duration: a.duration,
    warmup: a.warmup,
    repetitions: Number(a.repetitions),
    processingDelay: a.delay,
    resultsRoot: root,
    progress: (line) => process.stderr.write(`${line}\n`),
  })
  process.stdout.write(
    `\n== the same run again, gated against the baseline (expected: not fail)\n${gateTable(r.repeat)}`,
  )
  process.stdout.write(
    `\n== with processing delay ${a.delay}, gated against the baseline (expected: fail)\n${gateTable(r.slowed)}`,
  )
  process.stdout.write(
    `\ngate self-check: ${r.ok ? 'OK' : 'NOT OK'} (repeat: ${r.repeat.verdict}, slowed: ${r.slowed.verdict}; ${((performance.now() - started) / 1000).toFixed(0)} s)\n`,
  )
  if (a.keep) process.stdout.write(`results kept in ${root}\n`)
  process.exitCode = r.ok ? 0 : 1
} finally {
  if (!a.keep) rmSync(root, { recursive: true, force: true })
}
