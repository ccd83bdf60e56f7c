/**
 * VR's latency bound is the leader model; checked here against the formula and against the engine
 * itself in the simulator (fault-free, fixed RTTs, one client), which shows the eager Commit gives a
 * backup origin one origin-primary round trip and no more.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { LatencyModel } from '../core/engine.ts'
import { simulate } from '../sim/simulator.ts'
import { initialPrimary, vrEngine } from './index.ts'

// r0-r1 20 ms, r0-r2 60 ms, r1-r2 50 ms
const RTT_MS = [
  [0, 20, 60],
  [20, 0, 50],
  [60, 50, 0],
]
const NODES = ['r0', 'r1', 'r2']

function model(origin: string, leader: string): LatencyModel {
  const index = (n: string): number => NODES.indexOf(n)
  return {
    nodes: NODES,
    rttMs: (a, b) => RTT_MS[index(a)]![index(b)]!,
    origin,
    leader,
    clientRttMs: 1,
  }
}

function simulatedMedianMs(initialView: number): number {
  const result = simulate({
    engine: vrEngine,
    seed: 1,
    faults: false,
    rttMs: RTT_MS,
    clientRttMs: 1,
    clients: 1, // c0, attached to r0
    engineConfig: { initialView },
  })
  assert.equal(result.linearizability.verdict, 'linearizable')
  const p50 = result.stats.latencyMsP50
  assert.ok(p50 !== undefined, 'no latency measured')
  return p50
}

describe('vr expectedLatencyMs', () => {
  const config = vrEngine.parseConfig({})

  it('at the primary: client RTT + the RTT to the nearest backup (f = 1)', () => {
    assert.equal(vrEngine.expectedLatencyMs(model('r0', 'r0'), config), 1 + 20)
    assert.equal(vrEngine.expectedLatencyMs(model('r2', 'r2'), config), 1 + 50)
  })

  it('at a backup: plus the origin-primary round trip', () => {
    assert.equal(vrEngine.expectedLatencyMs(model('r0', 'r1'), config), 1 + 20 + 20)
    assert.equal(vrEngine.expectedLatencyMs(model('r2', 'r0'), config), 1 + 60 + 20)
  })

  it('initialView places the primary over the sorted node list', () => {
    assert.equal(initialPrimary(vrEngine.parseConfig({ initialView: 4 }), ['r2', 'r0', 'r1']), 'r1')
    assert.equal(initialPrimary(config, ['b', 'a']), 'a')
  })

  it('the simulated engine meets the bound at the primary and at a backup', () => {
    // view 0: r0 is the primary and the client's origin
    const atPrimary = simulatedMedianMs(0)
    assert.ok(Math.abs(atPrimary - 21) < 2, `at the primary: median ${atPrimary} ms, expected 21`)
    // view 1: r1 leads, the client still sends to r0
    const atBackup = simulatedMedianMs(1)
    assert.ok(Math.abs(atBackup - 41) < 2, `at a backup: median ${atBackup} ms, expected 41`)
  })
})

describe('vr on the EPaxos Fig. 4 sites (simulated, clients at every site)', () => {
  // CA-VA 85 ms, VA-EU 90 ms, CA-EU 156 ms; r0 = CA (the primary of view 0), r1 = VA, r2 = EU
  const sites = [
    [0, 85, 156],
    [85, 0, 90],
    [156, 90, 0],
  ]
  const names = ['r0', 'r1', 'r2']
  const wan = (origin: string): LatencyModel => ({
    nodes: names,
    rttMs: (a, b) => sites[names.indexOf(a)]![names.indexOf(b)]!,
    origin,
    leader: 'r0',
    clientRttMs: 1,
  })

  it('the median per site is within 5% (or 3 ms) of expectedLatencyMs', () => {
    const result = simulate({
      engine: vrEngine,
      seed: 3,
      faults: false,
      rttMs: sites,
      clientRttMs: 1,
      clients: 6, // c<i> sends to r<i mod 3>: two clients per site
      clientTimeoutMs: 5000, // above the slowest round trip, so no command is retried elsewhere
    })
    assert.equal(result.linearizability.verdict, 'linearizable')
    const config = vrEngine.parseConfig({})
    for (const [site, origin] of names.entries()) {
      const latencies = result.history
        .filter((op) => op.outcome === 'ok' && Number(op.client.slice(1)) % 3 === site)
        .map((op) => (op.completeUs! - op.invokeUs) / 1000)
        .sort((a, b) => a - b)
      assert.ok(latencies.length > 10, `${origin}: only ${latencies.length} commands`)
      const median = latencies[Math.floor(latencies.length / 2)]!
      const expected = vrEngine.expectedLatencyMs(wan(origin), config)
      const tolerance = Math.max(3, expected * 0.05)
      assert.ok(
        Math.abs(median - expected) <= tolerance,
        `${origin}: median ${median} ms, expected ${expected} ms (tolerance ${tolerance})`,
      )
    }
  })
})
