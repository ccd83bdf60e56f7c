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
])

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
  bad({ engine: 'seq', seeds: '1', config: '{' }, /--config: not JSON/)
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
