import assert from 'node:assert/strict'
import { test } from 'node:test'
import { faultFromExperiment } from '../experiments/schema.ts'
import { describeFault, type FaultSpec, faultSpecSchema, resolveFaultSchedule } from './fault-spec.ts'

const ctx = { replicas: 3, durationMs: 10_000, linkFaultsUnavailable: null, seed: 1 }
const parse = (x: unknown) => faultSpecSchema.parse(x)

test('fault schedule: fixed faults are checked against the run and sorted by time', () => {
  const ok = resolveFaultSchedule(
    [
      parse({ kind: 'pause', atMs: 5000, replica: 'leader', forMs: 300 }),
      parse({ kind: 'kill', atMs: 1000, replica: 'r2', restartAfterMs: 500 }),
    ],
    ctx,
  )
  assert.ok('faults' in ok)
  assert.deepEqual(
    ok.faults.map((f) => f.kind),
    ['kill', 'pause'],
  )
  const late = resolveFaultSchedule([parse({ kind: 'kill-leader', atMs: 10_000 })], ctx)
  assert.ok('problem' in late && /after the run/.test(late.problem))
  const ghost = resolveFaultSchedule([parse({ kind: 'kill', atMs: 1, replica: 'r3' })], ctx)
  assert.ok('problem' in ghost && /no replica r3/.test(ghost.problem) && /r0\.\.r2/.test(ghost.fix))
  const lan = resolveFaultSchedule([parse({ kind: 'partition', atMs: 1, sides: [['r0']] })], {
    ...ctx,
    linkFaultsUnavailable: { problem: 'needs the link shaper of a topology run', fix: 'give a topology' },
  })
  assert.ok(
    'problem' in lan && /a partition needs .* topology/.test(lan.problem) && lan.fix === 'give a topology',
  )
  const both = resolveFaultSchedule(
    [parse({ kind: 'partition', atMs: 1, sides: [['r0'], ['r0', 'r1']] })],
    ctx,
  )
  assert.ok('problem' in both && /both sides/.test(both.problem))
  const reset = resolveFaultSchedule(
    [parse({ kind: 'partition', atMs: 1, sides: [['r0']], oneWay: true, mode: 'reset' })],
    ctx,
  )
  assert.ok('problem' in reset && /one-way/.test(reset.problem))
})

test('fault schedule: random faults come from the seed, inside their window, of the kinds asked', () => {
  const random = parse({
    kind: 'random',
    count: 20,
    fromMs: 2000,
    toMs: 8000,
    kinds: ['kill', 'partition', 'pause'],
    forMs: 400,
  })
  const a = resolveFaultSchedule([random], ctx)
  const b = resolveFaultSchedule([random], ctx)
  const c = resolveFaultSchedule([random], { ...ctx, seed: 2 })
  assert.ok('faults' in a && 'faults' in b && 'faults' in c)
  assert.deepEqual(a.faults, b.faults)
  assert.notDeepEqual(a.faults, c.faults)
  assert.equal(a.faults.length, 20)
  for (const f of a.faults) {
    assert.ok(f.atMs >= 2000 && f.atMs <= 8000, String(f.atMs))
    assert.ok(['kill', 'partition', 'pause'].includes(f.kind))
    if (f.kind === 'partition') assert.deepEqual(f.sides[0].length, 1, 'a minority of 3 is one replica')
  }
  assert.deepEqual(new Set(a.faults.map((f) => f.kind)).size, 3)
})

test('fault schedule: experiment durations become milliseconds; a Ms key in a file is named', () => {
  assert.deepEqual(faultFromExperiment({ kind: 'slow', at: '2s', replica: 'r1', delay: '50ms', for: '1s' }), {
    value: { kind: 'slow', atMs: 2000, replica: 'r1', delayMs: 50, forMs: 1000 },
  })
  assert.deepEqual(faultFromExperiment({ kind: 'kill', at: 'later' }), {
    key: 'at',
    problem: 'not a duration like 3s or 500ms',
  })
  assert.ok('problem' in faultFromExperiment({ kind: 'kill', atMs: 100 }))
  assert.equal(
    describeFault(
      parse({
        kind: 'partition',
        atMs: 1,
        sides: [['r0'], ['r1']],
        oneWay: true,
        healAfterMs: 500,
      }) as FaultSpec,
    ),
    'partition {r0} -> {r1} (hold), heal after 500 ms',
  )
})
