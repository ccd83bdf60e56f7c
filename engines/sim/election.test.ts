import assert from 'node:assert/strict'
import { test } from 'node:test'
import { findEngine } from '../registry.ts'
import { electionTrial, electionTrials } from './election.ts'

const raft = findEngine('raft')!
const vr = findEngine('vr')!
const raftConfig = (min: number, max: number) => ({
  electionTimeoutMsMin: min,
  electionTimeoutMsMax: max,
  heartbeatIntervalMs: min / 2,
})
const elected = (trials: ReturnType<typeof electionTrials>) =>
  trials.map((t) => t.electedAfterMs).filter((v): v is number => v !== null)

test('election trials: a crashed raft leader is replaced within its timeout range plus a round; same seed, same trial', () => {
  const base = { engine: raft, engineConfig: raftConfig(150, 300), heartbeatMs: 75 }
  const trials = electionTrials({ ...base, seed0: 1, trials: 100 })
  const times = elected(trials)
  assert.equal(times.length, 100, 'every trial elects')
  // the followers heard the last heartbeat at most a heartbeat before the crash, and time out after
  // 150-300 ms; one vote round is ~15 ms
  for (const ms of times) assert.ok(ms > 150 - 75 && ms < 1000, String(ms))
  const sorted = [...times].sort((a, b) => a - b)
  assert.ok(sorted[50]! > 120 && sorted[50]! < 260, `median ${sorted[50]}`)
  for (const t of trials) assert.notEqual(t.newLeader, t.crashed)
  assert.deepEqual(electionTrial({ ...base, seed: 7 }), electionTrial({ ...base, seed: 7 }))
})

test('election trials: no randomness in raft timeouts means split votes (150-150 far slower than 150-300); vr has none', () => {
  const split = electionTrials({
    engine: raft,
    engineConfig: raftConfig(150, 150),
    heartbeatMs: 75,
    seed0: 1,
    trials: 20,
    limitMs: 3000,
  })
  const random = electionTrials({
    engine: raft,
    engineConfig: raftConfig(150, 300),
    heartbeatMs: 75,
    seed0: 1,
    trials: 20,
  })
  const slow = split.filter((t) => t.electedAfterMs === null || t.electedAfterMs > 1000).length
  assert.ok(slow >= 10, `${slow}/20 trials of 150-150 took over a second`)
  assert.equal(random.filter((t) => t.electedAfterMs === null || t.electedAfterMs > 1000).length, 0)
  // VR's next primary is fixed by the view number: no vote to split
  const vrTrials = electionTrials({
    engine: vr,
    engineConfig: { viewChangeTimeoutMsMin: 150, viewChangeTimeoutMsMax: 150, commitIntervalMs: 75 },
    heartbeatMs: 75,
    seed0: 1,
    trials: 20,
  })
  assert.ok(
    elected(vrTrials).every((ms) => ms < 400),
    JSON.stringify(elected(vrTrials)),
  )
})
