/** The gate on synthetic results: known regressions fail, noise passes, a straddling interval is unknown. */
import assert from 'node:assert/strict'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { saveBaseline } from './baseline.ts'
import { decide, type GateResult, runGate } from './gate.ts'
import { gateJunit, gateMarkdown, gateTable } from './output.ts'
import { tempResults, writeSyntheticMicro, writeSyntheticRun } from './testdata/synthetic.ts'
import { parseThresholdFlag, ThresholdError } from './thresholds.ts'

/** three repetitions around 1.0 with about 1% spread: the baseline */
const BASE = [{ latencyScale: 1.0 }, { latencyScale: 1.01 }, { latencyScale: 0.99 }]
const scaled = (k: number, spread = [1.0, 1.01, 0.99]) => spread.map((s) => ({ latencyScale: k * s }))

function gate(
  t: { after(fn: () => void): void },
  current: readonly { latencyScale: number }[],
  thresholds: string[],
) {
  const dir = tempResults(t)
  const baselineDir = writeSyntheticRun(join(dir, 'baseline'), [{ engine: 'multipaxos', reps: BASE }])
  const currentDir = writeSyntheticRun(join(dir, 'current'), [{ engine: 'multipaxos', reps: current }])
  return runGate({ baselineDir, currentDir, thresholds: thresholds.map(parseThresholdFlag) })
}

const row = (r: GateResult, threshold: string) => {
  const found = r.rows.find((x) => x.threshold === threshold)
  assert.ok(found, `no row for ${threshold}`)
  return found
}

test('decide: pass inside, fail beyond, unknown across the limit, for each comparison', () => {
  assert.equal(decide('<', 1.1, 1.0, 1.05), 'pass')
  assert.equal(decide('<', 1.1, 1.15, 1.25), 'fail')
  assert.equal(decide('<', 1.1, 1.05, 1.15), 'unknown')
  assert.equal(decide('<', 1.1, 1.1, 1.2), 'fail', '< : the limit itself is beyond')
  assert.equal(decide('<=', 1.1, 1.0, 1.1), 'pass')
  assert.equal(decide('>', 0.9, 0.95, 1.0), 'pass')
  assert.equal(decide('>', 0.9, 0.8, 0.85), 'fail')
  assert.equal(decide('>=', 0.9, 0.85, 0.95), 'unknown')
})

test('a 20% p99 regression fails a +10% limit, with the whole interval beyond it', (t) => {
  const r = gate(t, scaled(1.2), ['p(99)<+10%'])
  const p99 = row(r, 'p(99)<+10%')
  assert.equal(p99.verdict, 'fail', p99.why)
  assert.ok(p99.ratio !== null && p99.ratio.ciLow !== null && p99.ratio.ciLow > 1.1, p99.why)
  assert.ok(Math.abs(p99.ratio.ratio - 1.2) < 0.01, `ratio ${p99.ratio.ratio}`)
  assert.equal(r.verdict, 'fail')
})

test('2% noise passes: the interval of the ratio stays under +10%', (t) => {
  const r = gate(
    t,
    [{ latencyScale: 1.02 }, { latencyScale: 0.98 }, { latencyScale: 1.01 }],
    ['p(99)<+10%', 'p(50)<+10%', 'throughput>-10%'],
  )
  assert.deepEqual(
    r.rows.map((x) => [x.threshold, x.verdict]),
    [
      ['p(99)<+10%', 'pass'],
      ['p(50)<+10%', 'pass'],
      ['throughput>-10%', 'pass'],
    ],
  )
  assert.equal(r.verdict, 'pass')
})

test('an interval that straddles the limit is unknown, not fail, and does not fail the gate', (t) => {
  // mean x1.10 but spread 1.0 .. 1.25: some resamples are inside +10%, some beyond
  const r = gate(t, [{ latencyScale: 1.0 }, { latencyScale: 1.05 }, { latencyScale: 1.25 }], ['p(99)<+10%'])
  const p99 = row(r, 'p(99)<+10%')
  assert.equal(p99.verdict, 'unknown', p99.why)
  assert.ok(p99.ratio!.ciLow! < 1.1 && p99.ratio!.ciHigh! > 1.1, p99.why)
  assert.equal(r.verdict, 'unknown')
  assert.equal(r.counts.fail, 0)
  const strict = runGate({
    baselineDir: r.baselineDir,
    currentDir: r.currentDir,
    thresholds: [parseThresholdFlag('p(99)<+10%')],
    failOnUnknown: true,
  })
  assert.equal(strict.verdict, 'fail', '--fail-on-unknown')
})

test('one repetition each: no interval, the ratio decides', (t) => {
  const dir = tempResults(t)
  const b = writeSyntheticRun(join(dir, 'b'), [{ engine: 'raft', reps: [{ latencyScale: 1 }] }])
  const c = writeSyntheticRun(join(dir, 'c'), [{ engine: 'raft', reps: [{ latencyScale: 1.15 }] }])
  const r = runGate({ baselineDir: b, currentDir: c, thresholds: [parseThresholdFlag('p(99)<+10%')] })
  assert.equal(r.rows[0]!.verdict, 'fail')
  assert.equal(r.rows[0]!.ratio!.ciLow, null)
  assert.match(r.rows[0]!.why, /one sample each/)
})

test('absolute thresholds with tag filters select cases and sites; a typo in a tag is an error', (t) => {
  const dir = tempResults(t)
  const cases = [
    { engine: 'epaxos', topology: 'epaxos-3', sites: ['CA', 'VA', 'EU'], reps: scaled(100) },
    { engine: 'raft', topology: 'epaxos-3', sites: ['CA', 'VA', 'EU'], reps: scaled(300) },
  ]
  const b = writeSyntheticRun(join(dir, 'b'), cases)
  const c = writeSyntheticRun(join(dir, 'c'), cases)
  // p99 ~ 1.99 ms x 100 = ~199 ms for epaxos, ~597 ms for raft
  const r = runGate({
    baselineDir: b,
    currentDir: c,
    thresholds: ['latency{engine:epaxos,site:EU}: p(99)<250', '{engine:raft}: p(99)<250', 'throughput>1'].map(
      parseThresholdFlag,
    ),
  })
  const epaxos = r.rows.filter((x) => x.threshold.includes('engine:epaxos'))
  assert.deepEqual(
    epaxos.map((x) => [x.case, x.verdict]),
    [['epaxos-epaxos-3-c0 {site:EU}', 'pass']],
  )
  assert.ok(epaxos[0]!.current!.mean > 190 && epaxos[0]!.current!.mean < 205, `${epaxos[0]!.current!.mean}`)
  assert.equal(r.rows.find((x) => x.threshold.includes('engine:raft'))!.verdict, 'fail')
  assert.equal(r.rows.filter((x) => x.threshold === 'throughput>1').length, 2, 'one row per case')
  assert.throws(
    () =>
      runGate({
        baselineDir: b,
        currentDir: c,
        thresholds: [parseThresholdFlag('latency{site:XX}: p(99)<250')],
      }),
    (err: unknown) =>
      err instanceof ThresholdError && /matches no case/.test(err.problem) && /CA/.test(err.fix),
  )
})

test('a case in the baseline that the current run lacks fails (coverage); a new case is unknown for relative limits', (t) => {
  const dir = tempResults(t)
  const b = writeSyntheticRun(join(dir, 'b'), [
    { engine: 'multipaxos', reps: BASE },
    { engine: 'raft', reps: BASE },
  ])
  const c = writeSyntheticRun(join(dir, 'c'), [
    { engine: 'multipaxos', reps: BASE },
    { engine: 'vr', reps: BASE },
  ])
  const r = runGate({ baselineDir: b, currentDir: c, thresholds: [parseThresholdFlag('p(99)<+10%')] })
  assert.deepEqual(
    r.rows.map((x) => [x.case, x.verdict]),
    [
      ['raft-lan-c0', 'fail'],
      ['vr-lan-c0', 'unknown'],
      ['multipaxos-lan-c0', 'pass'],
    ],
  )
})

test('defaults gate p50, p99 and throughput; warnings name another machine and the processing-delay knob', (t) => {
  const dir = tempResults(t)
  const b = writeSyntheticRun(join(dir, 'b'), [{ engine: 'multipaxos', reps: BASE }], 'CPU A')
  const c = writeSyntheticRun(
    join(dir, 'c'),
    [{ engine: 'multipaxos', reps: scaled(1.5), processingDelayMs: 5 }],
    'CPU B',
  )
  const r = runGate({ baselineDir: b, currentDir: c })
  assert.deepEqual(
    r.rows.map((x) => [x.threshold, x.verdict]),
    [
      ['p(50)<+10%', 'fail'],
      ['p(99)<+10%', 'fail'],
      ['throughput>-10%', 'fail'],
    ],
  )
  assert.ok(r.warnings.some((w) => /CPU A, 2 cores.*CPU B/.test(w)))
  assert.ok(r.warnings.some((w) => /processing delay of 5 ms/.test(w)))
})

test("a warning names the engine settings that differ from the baseline's (a changed default too)", (t) => {
  const dir = tempResults(t)
  const b = writeSyntheticRun(join(dir, 'b'), [{ engine: 'multipaxos', reps: BASE }])
  const c = writeSyntheticRun(join(dir, 'c'), [{ engine: 'multipaxos', reps: BASE }])
  const runJson = (at: string, configs: Record<string, Record<string, unknown>>) =>
    writeFileSync(
      join(at, 'run.json'),
      JSON.stringify({
        engineConfigsResolved: Object.fromEntries(
          Object.entries(configs).map(([label, config]) => [label, { engine: label.split('-')[0], config }]),
        ),
      }),
    )
  const warned = () =>
    runGate({ baselineDir: b, currentDir: c }).warnings.filter((w) => /engine config/.test(w))
  // a baseline from before engineConfigsResolved: the first engine's, by its name
  writeFileSync(
    join(b, 'run.json'),
    JSON.stringify({
      options: { engine: 'multipaxos' },
      engineConfigResolved: { heartbeatIntervalMs: 50, retransmitMs: 300 },
    }),
  )
  runJson(c, { multipaxos: { heartbeatIntervalMs: 50, retransmitMs: 200, checkQuorum: true } })
  assert.equal(warned().length, 1)
  assert.match(warned()[0]!, /\(multipaxos\): checkQuorum absent -> true, retransmitMs 300 -> 200:/)
  // per label: each engine and variant compared with its own
  runJson(b, {
    multipaxos: { retransmitMs: 300 },
    'raft-prevote': { preVote: true },
    raft: { preVote: false },
  })
  runJson(c, {
    multipaxos: { retransmitMs: 300 },
    'raft-prevote': { preVote: false },
    raft: { preVote: false },
  })
  assert.deepEqual(
    warned().map((w) => w.split(':')[0]),
    ["the engine config differs from the baseline's (raft-prevote)"],
  )
  // the same settings: nothing to say
  runJson(c, { multipaxos: { retransmitMs: 300 }, 'raft-prevote': { preVote: true } })
  assert.deepEqual(warned(), [])
})

test('micro benchmarks: an ops/s ratio below -10% fails, noise passes, tags pick a benchmark', (t) => {
  const dir = tempResults(t)
  const b = writeSyntheticMicro(join(dir, 'b'), { codec: [100_000, 101_000, 99_000], kv: [500, 505, 495] })
  const c = writeSyntheticMicro(join(dir, 'c'), { codec: [70_000, 71_000, 69_500], kv: [498, 507, 490] })
  const r = runGate({ baselineDir: b, currentDir: c })
  assert.deepEqual(
    r.rows.map((x) => [x.case, x.verdict]),
    [
      ['bench:codec', 'fail'],
      ['bench:kv', 'pass'],
    ],
  )
  const only = runGate({
    baselineDir: b,
    currentDir: c,
    thresholds: [parseThresholdFlag('ops{bench:kv}: ops>-10%')],
  })
  assert.deepEqual(
    only.rows.map((x) => x.case),
    ['bench:kv'],
  )
})

test('outputs: the table, markdown and JUnit XML carry every row and verdict', (t) => {
  const r = gate(t, scaled(1.2), ['p(99)<+10%', 'p(50)<250'])
  const table = gateTable(r)
  assert.match(table, /gate: FAIL \(1 fail, 0 unknown, 1 pass\)/)
  assert.match(table, /FAIL multipaxos-lan-c0 p\(99\)<\+10%: current\/baseline x1\.2/)
  const md = gateMarkdown(r)
  assert.match(md, /^### consensus-bench gate: FAIL/)
  assert.match(md, /\| ❌ fail \| multipaxos-lan-c0 \| `p\(99\)<\+10%` \|/)
  const xml = gateJunit(r)
  assert.match(xml, /<testsuites name="consensus-bench gate" tests="2" failures="1" skipped="0">/)
  assert.match(
    xml,
    /<testcase classname="gate.multipaxos-lan-c0" name="p\(99\)&lt;\+10%"><failure message="current\/baseline x1.2/,
  )
})

test('save-baseline keeps summary, env and the .hlog files, and the gate reads the copy', (t) => {
  const dir = tempResults(t)
  const run = writeSyntheticRun(join(dir, 'run'), [{ engine: 'multipaxos', reps: BASE }])
  writeFileSync(join(run, 'cells', 'multipaxos-lan-c0-rep1', 'history.jsonl'), '{}\n')
  const files = saveBaseline(run, join(dir, 'baselines', 'ci'))
  assert.ok(files.includes('summary.json') && files.includes('cells/multipaxos-lan-c0-rep2/latency.hlog'))
  assert.equal(
    existsSync(join(dir, 'baselines', 'ci', 'cells', 'multipaxos-lan-c0-rep1', 'history.jsonl')),
    false,
  )
  const r = runGate({ baselineDir: join(dir, 'baselines', 'ci'), currentDir: run })
  assert.equal(r.verdict, 'pass')
  assert.match(readFileSync(join(dir, 'baselines', 'ci', 'summary.json'), 'utf8'), /multipaxos-lan-c0-rep3/)
})
