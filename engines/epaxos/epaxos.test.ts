/**
 * EPaxos against the shared conformance suite (simulator: fault seeds, crash storms, determinism,
 * purity), the proof that the suite catches the test-only fault, and that the simulated faults really
 * drive command leaders' instances through explicit prepare.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { conformanceSuite, describeFailures, runConformanceSeeds, runSeeds } from '../conformance.case.ts'
import type { EngineEvent } from '../core/engine.ts'
import { CRASH_STORM } from '../sim/faults.ts'
import { simulate } from '../sim/simulator.ts'
import { epaxosEngine } from './index.ts'

conformanceSuite(epaxosEngine)

describe('the conformance suite catches the test-only fault', () => {
  it("testFault 'fast-path-one-short' (fast path with one PreAcceptOK too few) fails on safety", () => {
    const failures = runConformanceSeeds(epaxosEngine, {
      seeds: 50,
      engineConfig: { testFault: 'fast-path-one-short' },
    })
    assert.ok(
      failures.some((f) => f.kind === 'safety'),
      `no seed found a safety failure\n${describeFailures(failures)}`,
    )
  })
})

describe('epaxos in the simulator', () => {
  it('crash storms crash command leaders mid-protocol: explicit prepares run and every command completes', () => {
    let started = 0
    let crashes = 0
    let slow = 0
    for (const seed of [1, 2, 3, 4, 5]) {
      const r = simulate({ engine: epaxosEngine, seed, faults: CRASH_STORM, checkLinearizability: false })
      assert.deepEqual([...r.safety.problems, ...r.liveness.problems], [], `seed ${seed}`)
      started += r.stats.engineEvents.recovery ?? 0
      slow += r.stats.engineEvents['slow-path'] ?? 0
      crashes += r.stats.crashes
    }
    assert.ok(started > 0, 'no explicit prepare in five crash-storm seeds')
    assert.ok(crashes > 0 && slow > 0, 'crash storms crashed nothing, or nothing took the slow path')
  })

  it('five replicas, crash storms: TryPreAccepts run, are taken and refused, break cycles, and stay safe', () => {
    let sent = 0
    let taken = 0
    let refused = 0
    let noFastQuorum = 0
    // counts the recoveries that the cycle breaking sent to PreAccept again (the simulator counts
    // events by type only)
    const counting: typeof epaxosEngine = {
      ...epaxosEngine,
      create: (ctx) =>
        epaxosEngine.create(
          new Proxy(ctx, {
            get: (target, prop, receiver) =>
              prop === 'emit'
                ? (event: EngineEvent) => {
                    if (event.type === 'recovery' && event.detail?.startsWith('no fast quorum'))
                      noFastQuorum++
                    target.emit(event)
                  }
                : Reflect.get(target, prop, receiver),
          }),
        ),
    }
    for (const seed of [7, 17, 18, 19]) {
      const r = simulate({
        engine: counting,
        seed,
        nodes: 5,
        faults: CRASH_STORM,
        trace: (line) => {
          if (line.includes('"type":"try-preaccept"')) sent++
          if (line.includes('"type":"try-preaccept-reply"')) {
            if (line.includes('"ok":true')) taken++
            else refused++
          }
        },
      })
      assert.deepEqual([...r.safety.problems, ...r.liveness.problems], [], `seed ${seed}`)
    }
    assert.ok(
      sent > 0 && taken > 0 && refused > 0 && noFastQuorum > 0,
      `try-preaccepts ${sent}, taken ${taken}, refused ${refused}, cycle breaks ${noFastQuorum}`,
    )
  })

  it('a fault-free run with conflicts takes both paths; without conflicts, only the fast path', () => {
    const mixed = simulate({ engine: epaxosEngine, seed: 3, faults: false, conflict: 0.9 })
    assert.ok((mixed.stats.engineEvents['fast-path'] ?? 0) > 0)
    assert.ok((mixed.stats.engineEvents['slow-path'] ?? 0) > 0)
    const none = simulate({ engine: epaxosEngine, seed: 3, faults: false, conflict: 0 })
    assert.ok((none.stats.engineEvents['fast-path'] ?? 0) > 0)
    assert.equal(none.stats.engineEvents['slow-path'] ?? 0, 0)
    assert.equal(none.stats.engineEvents.recovery ?? 0, 0)
  })

  it('five replicas (optimized fast quorum 3 of 5), thrifty mode, tight limits, one replica', () => {
    const five = runSeeds(epaxosEngine, [1, 2, 3, 4, 5, 6], { nodes: 5 })
    assert.deepEqual(five, [], describeFailures(five))
    const fiveStorm = runSeeds(epaxosEngine, [1, 2, 3], { nodes: 5, sim: { faults: CRASH_STORM } })
    assert.deepEqual(fiveStorm, [], describeFailures(fiveStorm))
    const thrifty = runSeeds(epaxosEngine, [1, 2, 3, 4, 5, 6], { engineConfig: { thrifty: true } })
    assert.deepEqual(thrifty, [], describeFailures(thrifty))
    const tight = runSeeds(epaxosEngine, [1, 2, 3, 4], {
      engineConfig: { maxInflightInstances: 1, maxPendingCommands: 2, maxRecoveries: 1 },
      sim: { clients: 12, conflict: 0.9 },
    })
    assert.deepEqual(tight, [], describeFailures(tight))
    const one = runSeeds(epaxosEngine, [1, 2], { nodes: 1 })
    assert.deepEqual(one, [], describeFailures(one))
  })
})
