/**
 * The check-quorum suite for leader-based engines (Raft thesis sec. 6.2, etcd's CheckQuorum), on the
 * simulator: at `cutAtMs` every link INTO the node that then leads is cut, one way, and not healed
 * before the safety phase ends. The leader still reaches its followers, so they keep hearing it.
 *
 * - With check-quorum on, the leader must notice that no majority answers, step down, and let the others
 *   elect a leader: some client command completes within `boundMs` of the cut, and commands still
 *   complete in the last second before the phase ends (the deposed leader does not keep disrupting).
 * - With it off (`offConfig`), the same cut must stall: no command completes from 100 ms after the cut
 *   to the end of the phase (what was in flight at the cut may finish in those 100 ms). This shows the
 *   first test can fail.
 *
 * Fault-free otherwise (no random faults), 3 replicas, 3 clients; the liveness phase heals the cut and
 * the run is judged as usual (safety, linearizability, convergence), so a fix that broke something else
 * fails here too. Each engine test derives `boundMs` from its timeouts and says how.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { EngineModule } from './core/engine.ts'
import { type SimResult, simulate } from './sim/simulator.ts'

// biome-ignore lint/suspicious/noExplicitAny: any engine
type AnyEngineModule = EngineModule<any, any>

export interface CheckQuorumCaseOptions {
  /** the config with check-quorum on (the defaults, or with preVote...) */
  readonly engineConfig: Record<string, unknown>
  /** the same with check-quorum off */
  readonly offConfig: Record<string, unknown>
  /** a command must complete within this long after the cut (ms of simulated time) */
  readonly boundMs: number
  readonly seeds: readonly number[]
  /** when the cut starts; default 1000 (the initial leader is settled by then) */
  readonly cutAtMs?: number
}

const US_PER_MS = 1000
/** what was in flight when the cut started may still complete within this long */
const IN_FLIGHT_MS = 100
/** the window at the end of the phase in which commands must still complete */
const TAIL_MS = 1000

export interface InboundCutOutcome {
  readonly result: SimResult
  /** ms from the cut to the first command completed after IN_FLIGHT_MS; null: none before the phase ended */
  readonly firstCommitAfterCutMs: number | null
  /** commands completed in the last TAIL_MS of the safety phase */
  readonly tailCommits: number
}

/** One run with the leader's inbound links cut at cutAtMs, until the safety phase ends. */
export function runInboundCut(
  module: AnyEngineModule,
  engineConfig: Record<string, unknown>,
  seed: number,
  cutAtMs: number,
  safetyPhaseMs: number,
): InboundCutOutcome {
  const result = simulate({
    engine: module,
    engineConfig,
    seed,
    faults: false,
    clients: 3,
    safetyPhaseMs,
    inboundCuts: [{ atMs: cutAtMs, into: 'leader' }],
  })
  const done = (from: number, to: number) =>
    result.history
      .filter((op) => op.outcome === 'ok' && op.completeUs !== null)
      .map((op) => op.completeUs! / US_PER_MS)
      .filter((ms) => ms >= from && ms < to)
  const after = done(cutAtMs + IN_FLIGHT_MS, safetyPhaseMs)
  return {
    result,
    firstCommitAfterCutMs: after.length === 0 ? null : Math.min(...after) - cutAtMs,
    tailCommits: done(safetyPhaseMs - TAIL_MS, safetyPhaseMs).length,
  }
}

export function checkQuorumCase(module: AnyEngineModule, options: CheckQuorumCaseOptions): void {
  const cutAtMs = options.cutAtMs ?? 1000
  const safetyPhaseMs = cutAtMs + options.boundMs + TAIL_MS
  const label = JSON.stringify(options.engineConfig)
  const judged = (outcome: InboundCutOutcome, seed: number) => {
    const { result } = outcome
    assert.ok(
      result.faultsApplied.some((f) => f.includes('inbound cut #')),
      `seed ${seed}: nobody led at ${cutAtMs} ms`,
    )
    assert.ok(result.safety.ok, `seed ${seed}: ${result.safety.problems.join('; ')}`)
    assert.notEqual(result.linearizability.verdict, 'violation', `seed ${seed}`)
    assert.ok(result.liveness.ok, `seed ${seed}: ${result.liveness.problems.join('; ')}`)
  }

  describe(`check-quorum: ${module.name} ${label}, the leader's inbound links cut and not healed`, () => {
    it(`a new leader commits within ${options.boundMs} ms of the cut, and commands keep committing`, () => {
      for (const seed of options.seeds) {
        const outcome = runInboundCut(module, options.engineConfig, seed, cutAtMs, safetyPhaseMs)
        judged(outcome, seed)
        const first = outcome.firstCommitAfterCutMs
        assert.ok(
          first !== null && first <= options.boundMs,
          `seed ${seed}: first command after the cut at ${first} ms`,
        )
        assert.ok(outcome.tailCommits > 0, `seed ${seed}: nothing committed in the last ${TAIL_MS} ms`)
        const events = outcome.result.stats.engineEvents
        assert.ok((events['stepped-down'] ?? 0) >= 1, `seed ${seed}: the cut leader never stepped down`)
        assert.ok((events.elected ?? 0) >= 2, `seed ${seed}: no second leader`)
      }
    })

    it('with check-quorum off the same cut stalls (nothing commits until it heals)', () => {
      for (const seed of options.seeds) {
        const outcome = runInboundCut(module, options.offConfig, seed, cutAtMs, safetyPhaseMs)
        judged(outcome, seed)
        assert.equal(outcome.firstCommitAfterCutMs, null, `seed ${seed}`)
        assert.equal(outcome.tailCommits, 0, `seed ${seed}`)
      }
    })
  })
}
