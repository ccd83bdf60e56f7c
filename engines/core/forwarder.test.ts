/**
 * The shared forwarder (forwarder.ts): its rules on a fake context, then its point on the simulator. On
 * a network whose round trip (1500 ms) is above forwardRetryMs (1000 ms), a fixed re-forward sent every
 * command still in flight again, once or more; the doubling wait sends fewer forwards per committed
 * command (measured: raft 0.36 re-forwards per command fixed, 0.18 with back-off; multipaxos 0.34, 0.17;
 * vr 0.39, 0.23). Deterministic runs, no faults.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { multipaxosEngine } from '../multipaxos/index.ts'
import { raftEngine } from '../raft/index.ts'
import { simulate } from '../sim/simulator.ts'
import { vrEngine } from '../vr/index.ts'
import type { Command, NodeId } from './command.ts'
import { FORWARD_RETRY_TIMER, Forwarder } from './forwarder.ts'

const cmd = (client: string, seq: number): Command => ({ id: { client, seq }, op: 'get', key: 'k' })

function fake(forwardRetryDoublingsMax: number) {
  const log = { nowMs: 0, sent: [] as string[], timers: [] as string[], submitted: [] as string[] }
  let leader: NodeId | null = 'r1'
  const ctx = {
    self: 'r0',
    now: () => log.nowMs,
    setTimer: (name: string, afterMs: number) => log.timers.push(`${name}@${afterMs}`),
    send: (to: NodeId, msg: { readonly type: 'forward'; readonly commands: Command[] }) =>
      log.sent.push(`${to}:${msg.commands.map((c) => c.id.client).join(',')}`),
  }
  const fwd: Forwarder = new Forwarder(
    ctx,
    { maxPendingCommands: 2, forwardRetryMs: 100, forwardRetryDoublingsMax },
    (cmds) => {
      log.submitted.push(cmds.map((c) => c.id.client).join(','))
      fwd.sendTo(leader, cmds, 1)
    },
  )
  return { fwd, log, setLeader: (n: NodeId | null) => (leader = n) }
}

describe('Forwarder', () => {
  it('forwards a new command at once, arms one retry timer, and drops one over the limit', () => {
    const { fwd, log } = fake(3)
    fwd.onRequest(cmd('a', 1))
    fwd.onRequest(cmd('b', 1))
    fwd.onRequest(cmd('c', 1)) // over the limit of 2: dropped, not sent
    assert.deepEqual(log.sent, ['r1:a', 'r1:b'])
    assert.deepEqual(log.timers, [`${FORWARD_RETRY_TIMER}@100`])
    assert.equal(fwd.size, 2)
    assert.equal(fwd.settle({ client: 'a', seq: 1 }), true)
    assert.equal(fwd.settle({ client: 'a', seq: 1 }), false, 'settled once')
  })

  it('doubles the wait per re-forward of the same command, up to 2 ** forwardRetryDoublingsMax', () => {
    const { fwd, log } = fake(2)
    fwd.onRequest(cmd('a', 1))
    log.sent = []
    const resentAt: number[] = []
    for (let t = 100; t <= 1500; t += 100) {
      log.nowMs = t
      const before = log.sent.length
      fwd.onRetryTimeout()
      if (log.sent.length > before) resentAt.push(t)
    }
    // waits 100, 200, 400, then 400 (capped at 2 ** 2 x 100)
    assert.deepEqual(resentAt, [100, 300, 700, 1100, 1500])
  })

  it('with forwardRetryDoublingsMax 0 re-forwards every forwardRetryMs; a new leader gets everything and resets the wait', () => {
    const fixed = fake(0)
    fixed.fwd.onRequest(cmd('a', 1))
    for (const t of [100, 200, 300]) {
      fixed.log.nowMs = t
      fixed.fwd.onRetryTimeout()
    }
    assert.equal(fixed.log.sent.length, 4, 'the first forward and three re-forwards')

    const { fwd, log, setLeader } = fake(3)
    fwd.onRequest(cmd('a', 1))
    for (const t of [100, 300]) {
      log.nowMs = t
      fwd.onRetryTimeout() // re-forwards at 100 and 300: the next wait is 400
    }
    setLeader(null)
    log.nowMs = 400
    fwd.forwardAll() // nobody leads: submitted, held (nothing sent)
    setLeader('r2')
    log.nowMs = 450
    fwd.forwardAll()
    assert.deepEqual(log.sent.slice(-1), ['r2:a'])
    log.nowMs = 550
    log.sent = []
    fwd.onRetryTimeout()
    assert.deepEqual(log.sent, ['r2:a'], 'the wait after a new leader is forwardRetryMs again')
  })
})

const RTT_MS = 1500
const NODES = 3
// Timeouts well above the round trip, so that nobody suspects a live leader on this slow network.
const ENGINES = [
  { engine: raftEngine, config: { electionTimeoutMsMin: 6000, electionTimeoutMsMax: 9000 } },
  { engine: multipaxosEngine, config: { leaderTimeoutMsMin: 6000, leaderTimeoutMsMax: 9000 } },
  { engine: vrEngine, config: { viewChangeTimeoutMsMin: 6000, viewChangeTimeoutMsMax: 9000 } },
] as const

function forwardsPerCommit(entry: (typeof ENGINES)[number], forward: Record<string, number>) {
  const rttMs = Array.from({ length: NODES }, (_, i) =>
    Array.from({ length: NODES }, (_, j) => (i === j ? 0 : RTT_MS)),
  )
  const r = simulate({
    engine: entry.engine,
    seed: 1,
    faults: false,
    engineConfig: { ...entry.config, ...forward },
    rttMs,
    safetyPhaseMs: 20_000,
    livenessPhaseMs: 30_000,
    finalReads: false,
    clientTimeoutMs: 120_000, // clients never retry: every forward is the engine's own
  })
  assert.ok(r.safety.ok, r.safety.problems.join('\n'))
  assert.ok(r.liveness.ok, r.liveness.problems.join('\n'))
  assert.ok(r.stats.committed >= 30, `${r.stats.committed} commands: too few to judge`)
  return (r.stats.messagesByType.forward ?? 0) / r.stats.committed
}

describe('re-forward back-off on a slow network (RTT 1500 ms, forwardRetryMs 1000)', () => {
  for (const entry of ENGINES) {
    it(`${entry.engine.name}: fewer re-forwards per committed command than the fixed re-forward`, () => {
      const none = forwardsPerCommit(entry, { forwardRetryMs: 1_000_000 }) // first forwards only
      const fixed = forwardsPerCommit(entry, { forwardRetryDoublingsMax: 0 })
      const backoff = forwardsPerCommit(entry, {}) // the default: forwardRetryDoublingsMax 3
      const figures = `forwards per committed command: none ${none.toFixed(3)}, fixed ${fixed.toFixed(3)}, back-off ${backoff.toFixed(3)}`
      assert.ok(none > 0.3, `too few commands arrive at followers; ${figures}`)
      assert.ok(fixed > none && backoff >= none, figures)
      assert.ok(backoff - none <= 0.7 * (fixed - none), `no clear gain; ${figures}`)
    })
  }
})
