/** The gate command through the real CLI: exit codes 0 / 1 / 2, the table, markdown and JUnit files. */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { EXIT } from '../exit-codes.ts'
import { tempResults, writeSyntheticRun } from '../gate/testdata/synthetic.ts'

const bin = fileURLToPath(new URL('../../bin/consensus-bench.js', import.meta.url))
const cli = (...args: string[]) =>
  spawnSync(process.execPath, [bin, 'gate', ...args], { encoding: 'utf8', timeout: 60_000 })
const reps = (...scales: number[]) => scales.map((latencyScale) => ({ latencyScale }))

test('gate exits 0 on noise, 1 on a regression (with markdown and JUnit files), 2 on a bad threshold', (t) => {
  const dir = tempResults(t)
  const baseline = writeSyntheticRun(join(dir, 'baseline'), [
    { engine: 'multipaxos', reps: reps(1, 1.01, 0.99) },
  ])
  const noisy = writeSyntheticRun(join(dir, 'noisy'), [
    { engine: 'multipaxos', reps: reps(1.02, 0.98, 1.01) },
  ])
  const slower = writeSyntheticRun(join(dir, 'slower'), [
    { engine: 'multipaxos', reps: reps(1.2, 1.21, 1.19) },
  ])

  const ok = cli('--baseline', baseline, '--current', noisy)
  assert.equal(ok.status, EXIT.ok, ok.stderr)
  assert.match(ok.stdout, /gate: PASS \(0 fail, 0 unknown, 3 pass\)/)

  const md = join(dir, 'gate.md')
  const junit = join(dir, 'junit.xml')
  const bad = cli('--baseline', baseline, '--current', slower, '--markdown', md, '--junit', junit)
  assert.equal(bad.status, EXIT.thresholdFailed, bad.stderr)
  assert.match(bad.stdout, /FAIL multipaxos-lan-c0 p\(99\)<\+10%: current\/baseline x1\.2/)
  assert.match(readFileSync(md, 'utf8'), /consensus-bench gate: FAIL \(3 fail/)
  assert.match(readFileSync(junit, 'utf8'), /failures="3"/)

  const json = cli('--baseline', baseline, '--current', slower, '--threshold', 'p(99)<5', '--json')
  assert.equal(json.status, EXIT.ok, 'an absolute p99 of ~2.4 ms is under 5 ms')
  assert.equal(JSON.parse(json.stdout).rows[0].verdict, 'pass')

  const typo = cli('--baseline', baseline, '--current', slower, '--threshold', 'p99<5')
  assert.equal(typo.status, EXIT.invalidInput)
  assert.match(typo.stderr, /--threshold p99<5: 'p99<5' is not a threshold expression\n {2}fix: write/)

  const missing = cli('--baseline', join(dir, 'nope'), '--current', slower)
  assert.equal(missing.status, EXIT.invalidInput)
  assert.match(missing.stderr, /nope: no such directory/)
})
