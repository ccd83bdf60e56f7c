import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { promisify } from 'node:util'
import { engineNames } from '../engines/registry.ts'
import { electionPlanOf } from '../harness/election.ts'
import { expandExperiment } from '../harness/matrix.ts'
import { resolveRunOptions } from '../harness/run.ts'
import { ExperimentError, loadExperiment, parseExperiment } from './schema.ts'
import { experimentJsonSchemaText, SCHEMA_JSON_PATH } from './schema-json.ts'

const base = { name: 'x', engines: ['multipaxos'], topology: 'epaxos-3' }

function problem(raw: unknown): ExperimentError {
  try {
    parseExperiment(raw, 'exp.yaml')
  } catch (err: unknown) {
    assert.ok(err instanceof ExperimentError, String(err))
    return err
  }
  assert.fail('expected an ExperimentError')
}

test('experiment: every file in experiments/ validates and expands into cells', () => {
  const dir = join(import.meta.dirname, '.')
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'))
  assert.ok(files.length >= 4, files.join(', '))
  for (const f of files) {
    const e = loadExperiment(join(dir, f))
    if (e.election !== undefined) {
      // an election experiment has trials, not cells
      const plan = electionPlanOf(e, '/tmp')
      assert.ok(plan.ranges.length > 0 && plan.engines.length > 0, f)
      continue
    }
    const plan = expandExperiment(e)
    assert.ok(plan.cells.length > 0, f)
    assert.equal(new Set(plan.cells.map((c) => c.id)).size, plan.cells.length, `${f}: cell ids are unique`)
  }
})

test('experiment: an unknown key is rejected, naming the key and the keys there are', () => {
  const top = problem({ ...base, enignes: 'all' })
  assert.equal(top.file, 'exp.yaml')
  assert.equal(top.field, 'enignes')
  assert.match(top.fix, /engines/)
  const nested = problem({ ...base, workload: { clients: 3 } })
  assert.equal(nested.field, 'workload.clients')
  assert.match(nested.fix, /clientsPerSite/)
})

test('experiment: a wrong type names the field path and the fix', () => {
  const e = problem({ ...base, workload: { conflict: [0, 'half'] } })
  assert.equal(e.field, 'workload.conflict.1')
  assert.match(e.fix, /conflict/)
  assert.equal(problem({ ...base, repetitions: 0 }).field, 'repetitions')
})

test('experiment: an engine that is not registered is named, with the registered ones', () => {
  const e = problem({ ...base, engines: ['multipaxos', 'no-such-engine'] })
  assert.equal(e.field, 'engines.1')
  assert.match(e.problem, /no-such-engine/)
  for (const name of engineNames()) assert.match(e.fix, new RegExp(name))
  assert.equal(problem({ ...base, engineConfig: { nope: {} } }).field, 'engineConfig.nope')
})

test('experiment: engines: all expands to exactly the registered engines', () => {
  const plan = expandExperiment(parseExperiment({ ...base, engines: 'all' }, 'exp.yaml'))
  assert.deepEqual([...new Set(plan.cells.map((c) => c.options.engine))], engineNames())
})

test('experiment: an unknown topology and a bad duration are rejected', () => {
  const t = problem({ ...base, topology: 'mars-3' })
  assert.equal(t.field, 'topology')
  assert.match(t.fix, /epaxos-3/)
  assert.equal(
    problem({ ...base, topology: undefined, topologies: ['epaxos-3', 'nowhere.yaml'] }).field,
    'topologies.1',
  )
  const d = problem({ ...base, duration: '10 parsecs' })
  assert.equal(d.field, 'duration')
  assert.match(d.fix, /10s/)
  assert.equal(problem({ ...base, duration: 10 }).field, 'duration')
  assert.equal(problem({ ...base, duration: '2s', warmup: '2s' }).field, 'warmup')
})

test('experiment: faults take durations, become run options per cell, and name the bad field', () => {
  const e = parseExperiment(
    {
      ...base,
      faults: [
        { kind: 'kill', at: '3s', replica: 'r1', restartAfter: '2s' },
        { kind: 'partition', at: '2s', sides: [['r0'], ['r1', 'r2']], oneWay: true, healAfter: '500ms' },
      ],
    },
    'exp.yaml',
  )
  const cell = expandExperiment(e).cells[0]!
  assert.deepEqual(cell.options.faults, [
    { kind: 'kill', atMs: 3000, replica: 'r1', restartAfterMs: 2000 },
    {
      kind: 'partition',
      atMs: 2000,
      sides: [['r0'], ['r1', 'r2']],
      oneWay: true,
      mode: 'hold',
      healAfterMs: 500,
    },
  ])
  const ms = problem({ ...base, faults: [{ kind: 'kill-leader', atMs: 1 }] })
  assert.equal(ms.field, 'faults.0.atMs')
  assert.match(ms.problem, /write at: <duration>/)
  assert.equal(
    problem({ ...base, faults: [{ kind: 'kill', at: 'soon', replica: 'r1' }] }).field,
    'faults.0.at',
  )
  assert.equal(
    problem({ ...base, faults: [{ kind: 'pause', at: '1s', replica: 'r1' }] }).field,
    'faults.0.for',
  )
  assert.equal(problem({ ...base, faults: [{ kind: 'melt', at: '1s' }] }).field, 'faults.0.kind')
})

test('experiment: the matrix is repetitions x topologies x conflicts x engines, seeds per repetition', () => {
  const plan = expandExperiment(
    parseExperiment(
      {
        ...base,
        topology: undefined,
        topologies: ['epaxos-3', 'epaxos-5'],
        engines: [
          'multipaxos',
          { engine: 'multipaxos', label: 'multipaxos-batching', config: { batching: true } },
        ],
        workload: { conflict: [0, 0.02, 1] },
        repetitions: 2,
        seed: 7,
        placement: { leaderSite: 'CA' },
      },
      'exp.yaml',
    ),
  )
  assert.equal(plan.cells.length, 2 * 2 * 3 * 2)
  assert.equal(plan.cells[0]!.id, 'multipaxos-epaxos-3-c0-rep1')
  assert.equal(plan.cells.at(-1)!.id, 'multipaxos-batching-epaxos-5-c1-rep2')
  assert.deepEqual([...new Set(plan.cells.map((c) => c.options.seed))], [7, 8])
  const batching = plan.cells.find((c) => c.label === 'multipaxos-batching')!
  assert.deepEqual(batching.options.engineConfig, { batching: true })
  assert.equal(batching.options.leaderSite, 'CA')
})

test('experiment: schema.json is generated from the zod schema and up to date', () => {
  assert.equal(
    readFileSync(SCHEMA_JSON_PATH, 'utf8'),
    experimentJsonSchemaText(),
    'regenerate it: node --import tsx experiments/schema-json.ts',
  )
})

test('experiment: the CLI exits 2 naming the file, the field and the fix', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cb-experiment-test-'))
  try {
    const file = join(dir, 'bad.yaml')
    writeFileSync(file, 'name: bad\nengines: [multipaxos]\ntopology: epaxos-3\nduration: soon\n')
    const run = promisify(execFile)('node', ['--import', 'tsx', 'harness/cli.ts', 'run', file], {
      cwd: join(import.meta.dirname, '..'),
    })
    const err = (await run.then(
      () => assert.fail('expected exit 2'),
      (e: unknown) => e,
    )) as { code: number; stderr: string }
    assert.equal(err.code, 2)
    assert.match(err.stderr, new RegExp(`${file}: duration: `))
    assert.match(err.stderr, /fix: write a duration like 10s/)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('experiment: processingDelay reaches every cell as processingDelayMs; absent or 0 leaves it out', () => {
  const delayed = expandExperiment(parseExperiment({ ...base, processingDelay: '20ms' }, 'exp.yaml'))
  assert.deepEqual(
    delayed.cells.map((c) => c.options.processingDelayMs),
    delayed.cells.map(() => 20),
  )
  const plain = expandExperiment(parseExperiment({ ...base, processingDelay: '0' }, 'exp.yaml'))
  assert.equal(plain.cells[0]!.options.processingDelayMs, undefined)
  assert.match(problem({ ...base, processingDelay: '20' }).fix, /like 5ms/)
})

test('experiment: an election block names bad ranges, real ranges outside them, engines without timeouts', () => {
  const election = { ranges: ['150-300', '12-24'], realRanges: ['150-300'] }
  const e = parseExperiment({ ...base, engines: ['raft', 'vr'], election }, 'exp.yaml')
  const plan = electionPlanOf(e, '/tmp')
  assert.deepEqual(plan.ranges, [
    { minMs: 150, maxMs: 300 },
    { minMs: 12, maxMs: 24 },
  ])
  assert.deepEqual(
    [plan.replicas, plan.simTrials, plan.realTrials, plan.broadcastMs, plan.settleMs],
    [5, 1000, 20, 15, 300],
  )
  const bad = problem({ ...base, engines: ['raft'], election: { ranges: ['300-150'] } })
  assert.equal(bad.field, 'election.ranges.0')
  const outside = problem({ ...base, engines: ['raft'], election: { ...election, realRanges: ['50-100'] } })
  assert.equal(outside.field, 'election.realRanges.0')
  assert.match(outside.fix, /150-300, 12-24/)
  const leaderless = problem({ ...base, engines: ['raft', 'epaxos'], election })
  assert.equal(leaderless.field, 'engines.1')
  assert.match(leaderless.fix, /raft, vr, multipaxos/)
})

test('experiment: placement.clientSites reaches every cell as clientSites, checked against each topology', () => {
  const e = parseExperiment(
    {
      ...base,
      topology: undefined,
      topologies: ['epaxos-3', 'epaxos-5'],
      placement: { clientSites: ['VA', 'EU'] },
    },
    'exp.yaml',
  )
  const cells = expandExperiment(e).cells
  assert.deepEqual(
    cells.map((c) => c.options.clientSites),
    cells.map(() => ['VA', 'EU']),
  )
  // the cells' options pass the run's own check (summary.json then shows them as load.clientSites)
  for (const c of cells) assert.deepEqual(resolveRunOptions(c.options).clientSites, ['VA', 'EU'])
  // unshaped loopback: the sites are the replicas, by id
  const none = parseExperiment(
    { ...base, topology: 'none', placement: { replicas: 5, clientSites: ['r4'] } },
    'exp.yaml',
  )
  assert.deepEqual(expandExperiment(none).cells[0]!.options.clientSites, ['r4'])

  const notASite = problem({ ...base, placement: { clientSites: ['CA', 'Mars'] } })
  assert.equal(notASite.file, 'exp.yaml')
  assert.equal(notASite.field, 'placement.clientSites.1')
  assert.match(notASite.problem, /'Mars' is not a site of topology epaxos-3/)
  assert.match(notASite.fix, /CA, VA, EU/)
  // a site of one topology but not of another: named with the topology it is missing from
  const elsewhere = problem({
    ...base,
    topology: undefined,
    topologies: ['epaxos-3', 'none'],
    placement: { clientSites: ['VA'] },
  })
  assert.match(elsewhere.problem, /'VA' is not a site of topology none/)
  assert.match(elsewhere.fix, /r0, r1, r2/)
  // several replicas on a site: its client groups are named per replica
  const grouped = problem({ ...base, placement: { replicas: 5, clientSites: ['CA'] } })
  assert.match(grouped.fix, /CA\.r0, CA\.r3/)
  assert.equal(
    problem({ ...base, placement: { clientSites: ['CA', 'CA'] } }).field,
    'placement.clientSites.1',
  )
  const empty = problem({ ...base, placement: { clientSites: [] } })
  assert.equal(empty.field, 'placement.clientSites')
  assert.match(empty.fix, /clientSites/)
  assert.match(problem({ ...base, placement: { clientSite: ['CA'] } }).fix, /clientSites/)
})
