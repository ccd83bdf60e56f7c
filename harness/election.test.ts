import assert from 'node:assert/strict'
import { test } from 'node:test'
import { compareMedians, electionCdfSpec, electionConfig, parseRange, type TrialSet } from './election.ts'

const set = (runtime: 'sim' | 'real', p50Ms: number | null): TrialSet => ({
  engine: 'raft',
  range: '150-300',
  runtime,
  trials: 3,
  electedMs: [100, 200, 300],
  notElected: 0,
  p50Ms,
  p90Ms: null,
  p99Ms: null,
  maxMs: 300,
})

test('election: ranges, the config of a range (heartbeat = min / 2) per engine', () => {
  assert.deepEqual(parseRange('150-300'), { minMs: 150, maxMs: 300 })
  assert.deepEqual(parseRange('150-150'), { minMs: 150, maxMs: 150 })
  assert.equal(parseRange('300-150'), null)
  assert.equal(parseRange('150'), null)
  assert.deepEqual(electionConfig('vr', { minMs: 12, maxMs: 24 }, { retransmitMs: 50 }), {
    retransmitMs: 50,
    viewChangeTimeoutMsMin: 12,
    viewChangeTimeoutMsMax: 24,
    commitIntervalMs: 6,
  })
  assert.throws(() => electionConfig('epaxos', { minMs: 1, maxMs: 2 }), /no election timeout knobs/)
})

test('election: real medians against the simulator, within 20% or not', () => {
  assert.deepEqual(compareMedians([set('sim', 200), set('real', 230)]), [
    {
      engine: 'raft',
      range: '150-300',
      simP50Ms: 200,
      realP50Ms: 230,
      relativeDifference: 0.15,
      agrees: true,
    },
  ])
  assert.equal(compareMedians([set('sim', 200), set('real', 250)])[0]!.agrees, false)
  assert.equal(compareMedians([set('sim', 200), set('real', null)])[0]!.agrees, false)
  const spec = electionCdfSpec([set('sim', 200)]) as unknown as { data: { values: { fraction: number }[] } }
  assert.deepEqual(
    spec.data.values.map((v) => v.fraction),
    [1 / 3, 2 / 3, 1],
  )
})
