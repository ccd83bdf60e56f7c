import assert from 'node:assert/strict'
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { CliError } from '../exit-codes.ts'
import { isProcessAlive } from '../launchers/cleanup.ts'
import { REPO_ROOT } from '../launchers/local.ts'
import { optionsFromFlags, parseDurationMs } from './run.ts'

function cli(args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', 'harness/cli.ts', 'run', ...args], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    timeout: 60_000,
  })
}

test('durations: 10s, 500ms, 2m, 1.5s; anything else is rejected', () => {
  assert.equal(parseDurationMs('10s'), 10_000)
  assert.equal(parseDurationMs('500ms'), 500)
  assert.equal(parseDurationMs('2m'), 120_000)
  assert.equal(parseDurationMs('1.5s'), 1500)
  for (const bad of ['10', 's', '-1s', '0s', '1h', '1 0s']) assert.equal(parseDurationMs(bad), null, bad)
})

test('run flags: --warmup 0s and --kill-leader-at 0s are valid (zero is allowed there), --duration 0s is not', () => {
  const flags = {
    engine: 'multipaxos',
    replicas: '3',
    clients: '8',
    conflict: '0.1',
    duration: '10s',
    warmup: '0s',
    readRatio: '0.5',
    seed: '1',
    requestTimeout: '2s',
    storage: 'file',
  }
  assert.equal(optionsFromFlags(flags).warmupMs, 0)
  assert.equal(optionsFromFlags({ ...flags, warmup: '0' }).warmupMs, 0)
  assert.deepEqual(optionsFromFlags({ ...flags, killLeaderAt: '0s' }).faults, [
    { kind: 'kill-leader', atMs: 0 },
  ])
  const invalid = (over: Partial<typeof flags> & { config?: string }, message: RegExp) =>
    assert.throws(
      () => optionsFromFlags({ ...flags, ...over }),
      (err: unknown) => err instanceof CliError && err.exitCode === 2 && message.test(err.message),
    )
  invalid({ duration: '0s' }, /--duration: '0s' is not a duration/)
  invalid({ requestTimeout: '0' }, /--request-timeout: '0' is not a duration/)
  invalid({ warmup: '-1s' }, /--warmup: '-1s' is not a duration[\s\S]*fix: .*\(or 0\)/)
  // an inline JSON array is not mistaken for a file path
  invalid({ config: '[1]' }, /--config: must be a JSON object/)
  assert.equal(optionsFromFlags({ ...flags, processingDelay: '20ms' }).processingDelayMs, 20)
  assert.throws(
    () => optionsFromFlags({ ...flags, processingDelay: 'slow' }),
    /--processing-delay: 'slow' is not a duration/,
  )
})

test('run: invalid flags exit 2 and name the flag and the fix', () => {
  const cases: Array<[string[], RegExp]> = [
    [['--engine', 'multipaxos', '--duration', '10x'], /--duration: '10x' is not a duration[\s\S]*fix:/],
    [['--engine', 'nosuch'], /--engine: unknown engine 'nosuch'[\s\S]*fix: use one of: .*multipaxos/],
    [['--engine', 'multipaxos', '--conflict', '2'], /--conflict:[\s\S]*fix:/],
    [['--engine', 'multipaxos', '--clients', 'many'], /--clients: 'many' is not a number/],
    [
      ['--engine', 'multipaxos', '--config', '{"batchin":true}'],
      /--config multipaxos\.batchin: unknown config field/,
    ],
    [['--engine', 'multipaxos', '--config', '{oops'], /--config: not valid JSON/],
    [
      ['--engine', 'multipaxos', '--rate', '100', '--clients', '4'],
      /--rate: .*both given[\s\S]*fix: give --rate/,
    ],
    [['--engine', 'multipaxos', '--key-dist', 'zipfian'], /--key-dist: 'zipfian' is not one of[\s\S]*fix:/],
    [
      ['--engine', 'multipaxos', '--rate', '100', '--think-time', '5ms'],
      /--think-time: think time is for a closed loop/,
    ],
  ]
  for (const [args, message] of cases) {
    const r = cli(args)
    assert.equal(r.status, 2, `${args.join(' ')}: exit ${r.status}\n${r.stderr}`)
    assert.match(r.stderr, message)
  }
})

function waitForLine(child: ChildProcess, pattern: RegExp, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = ''
    const timer = setTimeout(() => reject(new Error(`no ${pattern} in:\n${text}`)), timeoutMs)
    child.stderr!.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8')
      const m = pattern.exec(text)
      if (m !== null) {
        clearTimeout(timer)
        resolve(text)
      }
    })
  })
}

test('run: SIGINT mid-run stops every replica it started, removes temp dirs, keeps an incomplete summary', async () => {
  const resultsRoot = mkdtempSync(join(tmpdir(), 'cb-cli-test-'))
  try {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'harness/cli.ts',
        'run',
        '--engine',
        'multipaxos',
        '--replicas',
        '3',
        '--clients',
        '1',
        '--duration',
        '60s',
        '--results',
        resultsRoot,
      ],
      { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'] },
    )
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
    const stderr = await waitForLine(child, /1 s, \d+ commands/, 40_000)
    const dir = /results: (\S+)/.exec(stderr)![1]!
    const cellsDir = join(dir, 'cells')
    const replicasDir = join(cellsDir, readdirSync(cellsDir)[0]!, 'replicas')
    const pids = ['r0', 'r1', 'r2'].map((id) => {
      const line = readFileSync(join(replicasDir, `${id}.stdout.log`), 'utf8').split('\n')[0]!
      return (JSON.parse(line) as { pid: number }).pid
    })
    const dataDir = (
      JSON.parse(readFileSync(join(replicasDir, 'r0.config.json'), 'utf8')) as { storage: { dir: string } }
    ).storage.dir
    for (const pid of pids) assert.ok(isProcessAlive(pid))
    assert.ok(existsSync(dataDir))

    child.kill('SIGINT')
    assert.equal(await exited, 130)
    for (const pid of pids) assert.equal(isProcessAlive(pid), false, `replica pid ${pid} survived`)
    assert.equal(existsSync(join(dataDir, '..')), false, 'temp dir removed')
    const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as { status: string }
    assert.equal(summary.status, 'incomplete')
  } finally {
    rmSync(resultsRoot, { recursive: true, force: true })
  }
})

test('run --json: prints summary.json, exit 0, into a new directory under --results', () => {
  const resultsRoot = mkdtempSync(join(tmpdir(), 'cb-cli-test-'))
  try {
    const args = [
      '--engine',
      'multipaxos',
      '--clients',
      '1',
      '--duration',
      '1500ms',
      '--warmup',
      '200ms',
      '--storage',
      'memory',
    ]
    const r = cli([...args, '--results', resultsRoot, '--json'])
    assert.equal(r.status, 0, r.stderr)
    const printed = JSON.parse(r.stdout) as { status: string; runId: string }
    assert.equal(printed.status, 'complete')
    const saved = JSON.parse(readFileSync(join(resultsRoot, printed.runId, 'summary.json'), 'utf8'))
    assert.deepEqual(printed, saved)
    const run = JSON.parse(readFileSync(join(resultsRoot, printed.runId, 'run.json'), 'utf8'))
    assert.equal(run.options.durationMs, 1500)
    assert.equal(run.options.storage, 'memory')
    assert.equal(readdirSync(resultsRoot).length, 1)
  } finally {
    rmSync(resultsRoot, { recursive: true, force: true })
  }
})
