import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import type { EngineModule } from '../../engines/core/engine.ts'
import { localUnsafeEngine } from '../../engines/sim/testdata/local-unsafe.ts'
import { sequencerEngine } from '../../engines/sim/testdata/sequencer.ts'
import { CliError, EXIT } from '../exit-codes.ts'
import { runSimCommand, type SimFlags, type SimIo, type SimJsonSummary } from './sim.ts'

// biome-ignore lint/suspicious/noExplicitAny: fixtures with different message types
const FIXTURES = new Map<string, EngineModule<any, any>>([
  ['seq', sequencerEngine],
  ['unsafe', localUnsafeEngine],
  ['black-hole', blackHoleEngine()],
])

/** answers nothing: every command stays pending, a liveness failure and nothing worse */
// biome-ignore lint/suspicious/noExplicitAny: a fixture
function blackHoleEngine(): EngineModule<any, any> {
  return {
    name: 'black-hole',
    leadership: 'leaderless',
    description: 'test fixture: never replies',
    parseConfig: () => null,
    create: () => ({
      start() {},
      onRequest() {},
      onMessage() {},
      onTimer() {},
      status: () => ({ role: 'peer', leader: null, epoch: 0, executed: 0 }),
    }),
    expectedLatencyMs: () => 0,
  }
}

function run(flags: SimFlags): { code: number; stdout: string; stderr: string } {
  let stdout = ''
  let stderr = ''
  const io: SimIo = {
    stdout: (t) => {
      stdout += t
    },
    stderr: (t) => {
      stderr += t
    },
    findEngine: (name) => FIXTURES.get(name),
    engineNames: () => [...FIXTURES.keys()],
  }
  return { code: runSimCommand(flags, io), stdout, stderr }
}

test('clean seeds exit 0 and --json prints the summary', () => {
  const out = run({ engine: 'seq', seeds: '1-3', json: true, safetyMs: '500' })
  assert.equal(out.code, EXIT.ok)
  const summary = JSON.parse(out.stdout) as SimJsonSummary
  assert.equal(summary.engine, 'test-sequencer')
  assert.equal(summary.seeds, 3)
  assert.equal(summary.violations, 0)
  assert.equal(summary.livenessFailures, 0)
  assert.deepEqual(summary.failingSeeds, [])
  assert.match(out.stderr, /3\/3 seeds, 0 failing/)
})

test('a violation exits 3 and prints the replay command with the same flags', () => {
  const out = run({ engine: 'unsafe', seeds: '4,9', nodes: '5', conflict: '0.9' })
  assert.equal(out.code, EXIT.violation)
  assert.match(out.stdout, /2 seeds, 0 passed, 2 safety violations/)
  assert.match(out.stdout, /seed 9: SAFETY VIOLATION\n {2}execution order diverged/)
  assert.match(
    out.stdout,
    /replay: consensus-bench sim --engine unsafe --seeds 9 --nodes 5 --conflict 0\.9\n/,
  )
})

test('--fault-mix crash-storm catches the sequencer that forgets its log, and replays with the mix', () => {
  const out = run({ engine: 'seq', seeds: '1-10', faultMix: 'crash-storm', config: '{"persist":false}' })
  assert.equal(out.code, EXIT.violation)
  assert.match(
    out.stdout,
    /replay: consensus-bench sim --engine seq --seeds \d+ --config '\{"persist":false\}' --fault-mix crash-storm\n/,
  )
  const clean = run({ engine: 'seq', seeds: '1-5', faultMix: 'crash-storm' })
  assert.equal(clean.code, EXIT.ok, clean.stdout)
})

test('a liveness failure alone exits 1', () => {
  const out = run({ engine: 'black-hole', seeds: '1', json: true, safetyMs: '50', livenessMs: '500' })
  assert.equal(out.code, EXIT.thresholdFailed)
  const summary = JSON.parse(out.stdout) as SimJsonSummary
  assert.equal(summary.violations, 0)
  assert.equal(summary.livenessFailures, 1)
  assert.deepEqual(summary.failingSeeds, [1])
  assert.match(summary.failures[0]!.problems[0]!, /still pending/)
  assert.equal(
    summary.failures[0]!.replay,
    'consensus-bench sim --engine black-hole --seeds 1 --safety-ms 50 --liveness-ms 500',
  )
})

test('bad flags are invalid input naming the flag and the fix', () => {
  const bad = (flags: SimFlags, pattern: RegExp) => {
    assert.throws(
      () => run(flags),
      (err: unknown) =>
        err instanceof CliError && err.exitCode === EXIT.invalidInput && pattern.test(err.message),
    )
  }
  bad({ engine: 'nope', seeds: '1' }, /--engine: unknown engine 'nope'\n {2}fix: use one of: seq, unsafe/)
  bad({ engine: 'seq', seeds: '3-1' }, /--seeds: .*\n {2}fix: give a range like 1-1000/)
  bad({ engine: 'seq', seeds: '1', conflict: '2' }, /--conflict: '2' is not valid/)
  bad({ engine: 'seq', seeds: '1', nodes: '2.5' }, /--nodes/)
  bad(
    { engine: 'seq', seeds: '1', safetyMs: '0' },
    /--safety-ms: '0' is not valid\n {2}fix: give milliseconds/,
  )
  bad({ engine: 'seq', seeds: '1', config: '{' }, /--config: not JSON/)
  bad(
    { engine: 'seq', seeds: '1', faultMix: 'hurricane' },
    /--fault-mix: unknown fault mix 'hurricane'\n {2}fix: use one of: random, crash-storm/,
  )
  bad(
    { engine: 'seq', seeds: '1', config: '{"persit":true}' },
    /--config: test-sequencer\.persit: unknown config field/,
  )
})

test('the real CLI maps an unknown engine to exit 2', () => {
  const bin = fileURLToPath(new URL('../../bin/consensus-bench.js', import.meta.url))
  const out = spawnSync(process.execPath, [bin, 'sim', '--engine', 'no-such-engine', '--seeds', '1'], {
    encoding: 'utf8',
    timeout: 60_000,
  })
  assert.equal(out.status, EXIT.invalidInput)
  assert.match(out.stderr, /--engine: unknown engine 'no-such-engine'/)
})

test('--trace prints the events of one seed', () => {
  const out = run({ engine: 'seq', seeds: '2', trace: true, safetyMs: '100' })
  assert.equal(out.code, EXIT.ok)
  assert.match(out.stdout, /^0 r0 start 1\n/)
  assert.match(out.stdout, /\n\d+ r1 msg r0 \{"type":"entries"/)
  assert.throws(() => run({ engine: 'seq', seeds: '1-2', trace: true }), /--trace: traces one seed/)
})
