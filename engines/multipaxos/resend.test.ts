/**
 * Accept resends follow the commit latency (README "Why adaptive resends"). On a network whose round trip
 * (1000 ms) is far above the resend floor (retransmitMs 300), a fixed deadline resent every slot in
 * flight several times before its votes could arrive; the adaptive one resends only until the leader has
 * measured its phase-2 latency. Deterministic simulator runs, no faults: the same slots are chosen in
 * each run, so the accepts beyond a run with no resend at all are the resends.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { simulate } from '../sim/simulator.ts'
import { multipaxosEngine } from './index.ts'

const RTT_MS = 1000
const NODES = 3

function run(engineConfig: Record<string, unknown>) {
  const rttMs = Array.from({ length: NODES }, (_, i) =>
    Array.from({ length: NODES }, (_, j) => (i === j ? 0 : RTT_MS)),
  )
  const r = simulate({
    engine: multipaxosEngine,
    seed: 1,
    faults: false,
    // followers must not suspect a leader whose first heartbeat takes 1.5 RTT to arrive
    engineConfig: { leaderTimeoutMsMin: 4000, leaderTimeoutMsMax: 8000, ...engineConfig },
    rttMs,
    safetyPhaseMs: 10_000,
    livenessPhaseMs: 20_000,
    finalReads: false,
    clientTimeoutMs: 60_000,
  })
  assert.ok(r.safety.ok, r.safety.problems.join('\n'))
  assert.ok(r.liveness.ok, r.liveness.problems.join('\n'))
  return {
    accepts: r.stats.messagesByType.accept ?? 0,
    chosenSlots: (r.stats.engineEvents.commit ?? 0) / NODES,
  }
}

describe('multipaxos accept resends on a slow network (RTT 1000 ms, floor 300 ms)', () => {
  it('send far fewer accepts per chosen slot than resends on the floor alone', () => {
    const none = run({ retransmitMs: 1_000_000, retransmitMsMax: 1_000_000 }) // floor forced very high: no resend
    const adaptive = run({}) // retransmitFactor 4 (default)
    const floorOnly = run({ retransmitFactor: 0 }) // the fixed floor (with the per-slot doubling)
    assert.ok(none.chosenSlots >= 30, `${none.chosenSlots} slots: too few to judge`)
    assert.equal(adaptive.chosenSlots, none.chosenSlots, 'the same work in each run')
    assert.equal(floorOnly.chosenSlots, none.chosenSlots, 'the same work in each run')
    const resends = { adaptive: adaptive.accepts - none.accepts, floorOnly: floorOnly.accepts - none.accepts }
    const perSlot = (n: number) => (n / none.chosenSlots).toFixed(2)
    const figures = `accepts per chosen slot: none ${perSlot(none.accepts)}, adaptive ${perSlot(adaptive.accepts)}, floor only ${perSlot(floorOnly.accepts)}`
    assert.ok(resends.adaptive >= 0 && resends.floorOnly >= 0, figures)
    // adaptive: only the first slots, before the leader has a latency sample, are resent
    assert.ok(resends.adaptive <= 0.2 * none.accepts, `adaptive resends too much; ${figures}`)
    assert.ok(resends.floorOnly >= 5 * resends.adaptive, `no clear gain; ${figures}`)
    assert.ok(floorOnly.accepts >= 1.8 * adaptive.accepts, `no clear gain; ${figures}`)
  })
})
