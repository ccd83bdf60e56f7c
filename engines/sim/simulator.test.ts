import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Command, NodeId } from '../core/command.ts'
import type { Engine, EngineContext, EngineModule, EngineStatus } from '../core/engine.ts'
import { simulate } from './simulator.ts'
import { localUnsafeEngine } from './testdata/local-unsafe.ts'
import { sequencerEngine } from './testdata/sequencer.ts'

test('a fault-free run completes every command and records a history and execution orders', () => {
  const result = simulate({
    engine: sequencerEngine,
    seed: 11,
    faults: false,
    safetyPhaseMs: 500,
    clients: 4,
  })
  assert.deepEqual(result.safety.problems, [])
  assert.deepEqual(result.liveness.problems, [])
  assert.equal(result.linearizability.verdict, 'linearizable')
  assert.ok(result.history.length > 50, `only ${result.history.length} commands`)
  assert.ok(result.history.every((op) => op.outcome === 'ok' && op.completeUs! > op.invokeUs))
  const puts = result.history.filter((op) => op.op === 'put').map((op) => op.value)
  assert.equal(new Set(puts).size, puts.length, 'put values must be unique')
  // per client: sequential, seq 1, 2, 3...
  for (const client of ['c0', 'c1', 'c2', 'c3']) {
    const ops = result.history.filter((op) => op.client === client)
    ops.forEach((op, i) => {
      assert.equal(op.seq, i + 1)
      if (i > 0) assert.ok(op.invokeUs >= ops[i - 1]!.completeUs!)
    })
  }
  // private keys are never shared across clients
  for (const op of result.history) if (op.key.includes('-')) assert.ok(op.key.startsWith(`${op.client}-`))
  // three replicas, one incarnation each, the same per-key order everywhere
  assert.equal(result.executionOrders.length, 3)
  const [r0, r1, r2] = result.executionOrders
  assert.deepEqual(r1!.keys, r0!.keys)
  assert.deepEqual(r2!.keys, r0!.keys)
  assert.equal(result.stats.committed, result.history.length)
  assert.ok(result.stats.simulatedMs >= 500 && result.stats.simulatedMs < 1000)
})

test('the same seed gives the same trace hash and history; another seed does not', () => {
  const run = (seed: number) => simulate({ engine: sequencerEngine, seed, checkLinearizability: false })
  const a = run(5)
  const b = run(5)
  assert.equal(a.traceHash, b.traceHash)
  assert.deepEqual(a.history, b.history)
  assert.deepEqual(a.faultsApplied, b.faultsApplied)
  assert.notEqual(run(6).traceHash, a.traceHash)
})

test('an engine without agreement is caught: its replicas execute writes in different orders', () => {
  const result = simulate({ engine: localUnsafeEngine, seed: 1, faults: false })
  assert.equal(result.safety.ok, false)
  assert.match(result.safety.problems[0]!, /execution order diverged/)
  assert.equal(result.liveness.evaluated, false)
})

test('a sequencer that forgets its log on a crash is caught, by the order check and by the checker', () => {
  const caught = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((seed) =>
    simulate({ engine: sequencerEngine, engineConfig: { persist: false }, seed, faults: { crashes: true } }),
  )
  assert.ok(
    caught.some((r) => !r.safety.ok),
    'no seed caught the forgotten log',
  )
  assert.ok(caught.some((r) => r.linearizability.verdict === 'violation'))
})

test('fault profiles differ across seeds and faults are logged with their times', () => {
  const results = [1, 2, 3, 4, 5, 6, 7, 8].map((seed) =>
    simulate({ engine: sequencerEngine, seed, safetyPhaseMs: 1500, checkLinearizability: false }),
  )
  assert.ok(results.some((r) => r.faultProfile.crashes) && results.some((r) => !r.faultProfile.crashes))
  assert.ok(results.some((r) => r.faultsApplied.some((f) => / crash r\d/.test(f))))
  assert.ok(results.some((r) => r.faultsApplied.some((f) => /partition #\d/.test(f))))
  assert.ok(results.some((r) => r.stats.messagesDropped > 0))
  for (const r of results) assert.ok(r.safety.ok && r.liveness.ok, `seed ${r.seed}: ${r.liveness.problems}`)
})

/** A probe engine: counts its boots in storage and records what its context shows. */
interface ProbeLog {
  boots: Array<{ node: NodeId; bootCount: number }>
  timerFires: Array<{ node: NodeId; setAtMs: number; firedAtMs: number }>
  replies: number
}
function probeEngine(log: ProbeLog, behaviour: 'reply' | 'black-hole' | 'assert'): EngineModule {
  class Probe implements Engine<{ type: 'noop' }> {
    private setAtMs = 0
    constructor(private readonly ctx: EngineContext<{ type: 'noop' }, unknown>) {}
    start(): void {
      const bootCount = (this.ctx.storage.get<number>('boots') ?? 0) + 1
      this.ctx.storage.put('boots', bootCount)
      log.boots.push({ node: this.ctx.self, bootCount })
      this.setAtMs = this.ctx.now()
      this.ctx.setTimer('tick', 100)
    }
    onRequest(cmd: Command): void {
      if (behaviour === 'black-hole') return
      log.replies++
      this.ctx.reply(cmd.id, { status: 'rejected', reason: 'probe' })
    }
    onMessage(): void {}
    onTimer(): void {
      const nowMs = this.ctx.now()
      log.timerFires.push({ node: this.ctx.self, setAtMs: this.setAtMs, firedAtMs: nowMs })
      this.setAtMs = nowMs
      this.ctx.setTimer('tick', 100)
    }
    status(): EngineStatus {
      return { role: 'peer', leader: null, epoch: 0, executed: 0 }
    }
    assertInvariants(): void {
      if (behaviour === 'assert' && log.timerFires.length > 3) throw new Error('probe invariant broken')
    }
  }
  return {
    name: 'probe',
    leadership: 'leaderless',
    description: 'test probe',
    parseConfig: () => null,
    create: (ctx) => new Probe(ctx as EngineContext<{ type: 'noop' }, unknown>) as unknown as Engine<never>,
    expectedLatencyMs: () => 0,
  }
}
const newLog = (): ProbeLog => ({ boots: [], timerFires: [], replies: 0 })

test('a crash keeps storage: the restarted engine reads what it wrote before', () => {
  const log = newLog()
  const result = simulate({
    engine: probeEngine(log, 'reply'),
    seed: 3,
    clients: 0,
    faults: { crashes: true, partitions: false, oneWayPartitions: false, faultIntervalMsMean: 100 },
    safetyPhaseMs: 2000,
  })
  assert.ok(result.stats.crashes > 0)
  const restarted = log.boots.filter((b) => b.bootCount > 1)
  assert.ok(restarted.length > 0, 'no restart seen')
  for (const node of ['r0', 'r1', 'r2']) {
    const counts = log.boots.filter((b) => b.node === node).map((b) => b.bootCount)
    assert.deepEqual(
      counts,
      counts.map((_, i) => i + 1),
    )
  }
  assert.equal(result.executionOrders.length, log.boots.length)
})

test('clock skew: offsets differ per node, timers run in the node local time', () => {
  const log = newLog()
  const result = simulate({
    engine: probeEngine(log, 'reply'),
    seed: 9,
    clients: 0,
    faults: {
      clockSkew: true,
      crashes: false,
      partitions: false,
      oneWayPartitions: false,
      clockDriftMax: 0.01,
    },
    safetyPhaseMs: 1000,
    livenessPhaseMs: 10,
  })
  assert.ok(result.faultsApplied.some((f) => /^clock r1: offset/.test(f)))
  assert.ok(log.timerFires.length > 20)
  for (const fire of log.timerFires) {
    // the node asked for 100 ms of its own time; integer-microsecond rounding allows ~1 us of error
    assert.ok(Math.abs(fire.firedAtMs - fire.setAtMs - 100) < 0.01, `${fire.firedAtMs - fire.setAtMs}`)
  }
  const firstFire = (node: string) => log.timerFires.find((f) => f.node === node)!.firedAtMs
  assert.notEqual(firstFire('r0'), firstFire('r1'))
})

test('commands that never complete fail liveness; rejected commands are recorded as fail', () => {
  const blackHole = simulate({
    engine: probeEngine(newLog(), 'black-hole'),
    seed: 1,
    faults: false,
    clients: 4,
  })
  assert.equal(blackHole.liveness.ok, false)
  assert.equal(blackHole.liveness.pending, 4)
  assert.match(blackHole.liveness.problems.join(), /4 command\(s\) still pending/)
  assert.ok(blackHole.history.every((op) => op.outcome === 'unknown' && op.completeUs === null))

  const rejecting = simulate({
    engine: probeEngine(newLog(), 'reply'),
    seed: 1,
    faults: false,
    safetyPhaseMs: 100,
  })
  assert.ok(rejecting.history.length > 0 && rejecting.history.every((op) => op.outcome === 'fail'))
  // ...but rejecting the read-back after healing would skip its check: that fails liveness
  assert.equal(rejecting.liveness.ok, false)
  assert.match(rejecting.liveness.problems.join(), /read-back incomplete: .* read-back\(s\) rejected/)
})

test('a rejected read-back is read again: the check is not skipped by a transient rejection', () => {
  // the sequencer, but the first read of each key after the safety phase is rejected (no skew: the
  // replica's clock is the simulator's)
  const safetyPhaseMs = 400
  const flaky: typeof sequencerEngine = {
    ...sequencerEngine,
    create: (ctx) => {
      const inner = sequencerEngine.create(ctx)
      const refused = new Set<string>()
      return {
        start: () => inner.start(),
        onMessage: (from, msg) => inner.onMessage(from, msg),
        onTimer: (name) => inner.onTimer(name),
        status: () => inner.status(),
        onRequest: (cmd) => {
          if (cmd.op === 'get' && ctx.now() >= safetyPhaseMs && !refused.has(cmd.key)) {
            refused.add(cmd.key)
            ctx.reply(cmd.id, { status: 'rejected', reason: 'not yet' })
            return
          }
          inner.onRequest(cmd)
        },
      }
    },
  }
  const result = simulate({ engine: flaky, seed: 4, faults: false, clients: 4, safetyPhaseMs })
  assert.ok(result.safety.ok && result.liveness.ok, result.liveness.problems.join())
  const afterSafety = result.history.filter((op) => op.invokeUs >= safetyPhaseMs * 1000 && op.op === 'get')
  const written = new Set(result.history.filter((op) => op.op === 'put').map((op) => op.key))
  assert.ok(written.size > 0)
  for (const key of written) {
    assert.ok(
      afterSafety.some((op) => op.key === key && op.outcome === 'fail'),
      `${key}: first read-back rejected`,
    )
    assert.ok(
      afterSafety.some((op) => op.key === key && op.outcome === 'ok'),
      `${key}: never read back after the rejection`,
    )
  }
})

test('an engine invariant that throws stops the run as a safety failure', () => {
  const result = simulate({ engine: probeEngine(newLog(), 'assert'), seed: 1, faults: false, clients: 0 })
  assert.equal(result.safety.ok, false)
  assert.match(result.safety.problems[0]!, /r\d threw in onTimer\(tick\) at .*probe invariant broken/)
})

test('the event budget bounds a run', () => {
  const result = simulate({ engine: sequencerEngine, seed: 1, maxEvents: 500, checkLinearizability: false })
  assert.equal(result.liveness.ok, false)
  assert.match(result.liveness.problems[0]!, /event budget exhausted: 500 events/)
})

test('bad options throw', () => {
  assert.throws(() => simulate({ engine: sequencerEngine, seed: 1, nodes: 0 }), RangeError)
  assert.throws(() => simulate({ engine: sequencerEngine, seed: 1, conflict: 1.5 }), RangeError)
  assert.throws(() => simulate({ engine: sequencerEngine, seed: 1, rttMs: [[0, 1]] }), /rttMs/)
  assert.throws(
    () => simulate({ engine: sequencerEngine, seed: 1, engineConfig: { nope: 1 } }),
    /unknown config/,
  )
})

test('partitions alone lose messages; duplicates alone copy them; the sequencer survives both', () => {
  const quiet = { dropRate: 0, duplicateRate: 0, crashes: false, clockSkew: false }
  const partitioned = simulate({
    engine: sequencerEngine,
    seed: 21,
    faults: { ...quiet, partitions: true, oneWayPartitions: true, faultIntervalMsMean: 100 },
    safetyPhaseMs: 1500,
  })
  assert.ok(partitioned.stats.messagesDropped > 0)
  assert.equal(partitioned.stats.messagesDuplicated, 0)
  assert.ok(partitioned.faultsApplied.some((f) => /one-way partition #\d+ for/.test(f)))
  assert.ok(partitioned.safety.ok && partitioned.liveness.ok, partitioned.liveness.problems.join())
  const duplicated = simulate({
    engine: sequencerEngine,
    seed: 21,
    faults: { ...quiet, partitions: false, oneWayPartitions: false, duplicateRate: 0.2 },
    safetyPhaseMs: 500,
  })
  assert.equal(duplicated.stats.messagesDropped, 0)
  const ratio = duplicated.stats.messagesDuplicated / duplicated.stats.messagesSent
  assert.ok(ratio > 0.1 && ratio < 0.3, `duplicated ${ratio}`)
  assert.ok(duplicated.safety.ok && duplicated.liveness.ok)
})

test('at most a minority is down at once: floor((n-1)/2) of 5 nodes', () => {
  let peak = 0
  for (const seed of [1, 2, 3, 4, 5]) {
    const result = simulate({
      engine: sequencerEngine,
      seed,
      nodes: 5,
      faults: { crashes: true, faultIntervalMsMean: 40, faultDurationMsMax: 400 },
      safetyPhaseMs: 1500,
      checkLinearizability: false,
    })
    const down = new Set<string>()
    for (const line of result.faultsApplied) {
      const crash = / crash (r\d)/.exec(line)
      const restart = / restart (r\d)/.exec(line)
      if (crash !== null) down.add(crash[1]!)
      if (restart !== null) down.delete(restart[1]!)
      peak = Math.max(peak, down.size)
      assert.ok(down.size <= 2, `seed ${seed}: ${[...down]} down at once`)
    }
    assert.equal(down.size, 0, 'everyone restarted in the liveness phase')
    assert.ok(result.safety.ok && result.liveness.ok, `seed ${seed}: ${result.liveness.problems}`)
  }
  assert.equal(peak, 2)
})

test('a client request in flight to a replica that crashes is lost, not handed to its next incarnation', () => {
  // replicas that never answer (clients keep retrying) and note when each incarnation booted and when
  // each request arrived; a 100 ms client link outlasts the 20-60 ms crashes
  const clientOneWayMs = 100
  const arrivals: Array<{ node: NodeId; bootedAtMs: number; arrivedAtMs: number }> = []
  const listener: EngineModule = {
    name: 'listener',
    leadership: 'leaderless',
    description: 'test probe',
    parseConfig: () => null,
    create: (ctx) => {
      const bootedAtMs = ctx.now()
      return {
        start: () => {},
        onMessage: () => {},
        onTimer: () => {},
        onRequest: () => arrivals.push({ node: ctx.self, bootedAtMs, arrivedAtMs: ctx.now() }),
        status: () => ({ role: 'peer', leader: null, epoch: 0, executed: 0 }),
      }
    },
    expectedLatencyMs: () => 0,
  }
  const result = simulate({
    engine: listener,
    seed: 2,
    clientRttMs: 2 * clientOneWayMs,
    safetyPhaseMs: 2000,
    livenessPhaseMs: 100,
    checkLinearizability: false,
    faults: {
      dropRate: 0,
      duplicateRate: 0,
      partitions: false,
      oneWayPartitions: false,
      clockSkew: false,
      crashes: true,
      faultIntervalMsMean: 30,
      faultDurationMsMax: 60,
    },
  })
  assert.ok(result.stats.crashes > 10, `only ${result.stats.crashes} crashes`)
  assert.ok(arrivals.length > 20, `only ${arrivals.length} requests arrived`)
  const sentBeforeBoot = arrivals.filter((a) => a.arrivedAtMs - clientOneWayMs < a.bootedAtMs - 1e-6)
  assert.deepEqual(sentBeforeBoot, [], 'requests sent to an earlier incarnation were delivered')
})
