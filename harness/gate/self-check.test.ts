/**
 * The gate on real runs (a short version of `npm run bench:gate-check`): Multi-Paxos, 3 replicas on
 * loopback, 2 s cells, 3 repetitions, three times: a repeat of the baseline does not fail the gate, the
 * same run with a 50 ms processing delay per input fails it. About 40 s on a quiet 2-core machine
 * (70 s at load 26).
 *
 * The limits are wider than the gate's defaults on purpose: on a shared machine one run's median can
 * be 2-3x another's with the same code (seen here at load 15-25), and a test must not fail on the
 * machine's noise. The delay is sized so the slowed run is far beyond them (p50 x6 and more).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { gateTable } from './output.ts'
import { gateSelfCheck } from './self-check.ts'
import { tempResults } from './testdata/synthetic.ts'

test('a real run gated against its baseline does not fail; with the processing-delay knob it fails', {
  timeout: 240_000,
}, async (t) => {
  const started = performance.now()
  const r = await gateSelfCheck({
    engine: 'multipaxos',
    replicas: 3,
    clientsPerSite: 2,
    duration: '2s',
    warmup: '500ms',
    repetitions: 3,
    processingDelay: '50ms',
    thresholds: ['p(50)<+200%', 'throughput>-66%'],
    resultsRoot: tempResults(t),
  })
  t.diagnostic(`took ${((performance.now() - started) / 1000).toFixed(1)} s`)
  for (const [name, result] of [
    ['repeat', r.repeat],
    ['slowed', r.slowed],
  ] as const)
    for (const line of `${name}:\n${gateTable(result)}`.trimEnd().split('\n')) t.diagnostic(line)
  assert.notEqual(r.repeat.verdict, 'fail', gateTable(r.repeat))
  assert.equal(r.slowed.verdict, 'fail', gateTable(r.slowed))
  // the delay is on the commit path several times (request, forward, accept, accepted): p50 grows > x3
  const p50 = r.slowed.rows.find((x) => x.threshold === 'p(50)<+200%')!
  assert.equal(p50.verdict, 'fail')
  assert.ok(p50.ratio!.ciLow! > 3, p50.why)
})
