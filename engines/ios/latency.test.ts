import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { LatencyModel } from '../core/engine.ts'
import { iosEngine } from './index.ts'

// EPaxos Fig. 4 three sites: CA-VA 85, VA-EU 90, CA-EU 156 (ms round trips); the master is CA.
const RTT: Record<string, number> = { 'CA-VA': 85, 'EU-VA': 90, 'CA-EU': 156 }
const NODES = ['CA', 'VA', 'EU']

function at(origin: string, master = 'CA'): LatencyModel {
  const rttMs = (a: string, b: string): number => (a === b ? 0 : RTT[[a, b].sort().join('-')]!)
  return { nodes: NODES, rttMs, origin, leader: master, clientRttMs: 3 }
}

const latency = (origin: string, raw: object): number =>
  iosEngine.expectedLatencyMs(at(origin), iosEngine.parseConfig(raw))

describe('ios expectedLatencyMs', () => {
  it('reverse delegation at the master: the master coordinates, one nearest-quorum round trip', () => {
    assert.equal(latency('CA', { delegation: 'reverse' }), 3 + 85)
  })

  it('reverse delegation elsewhere: origin -> master -> origin, then the origin coordinates', () => {
    assert.equal(latency('EU', { delegation: 'reverse' }), 3 + 156 + 90)
  })

  it('rotation: the mean over the coordinators of master -> coordinator -> q2 -> origin', () => {
    // via VA: 85/2 + 85 + 85/2 = 170; via EU: 156/2 + 90 + 156/2 = 246
    assert.equal(latency('CA', {}), 3 + (170 + 246) / 2)
    assert.equal(latency('CA', { rotateAmong: 1 }), 3 + 170)
  })

  it('a larger replication quorum waits for the farther acceptor', () => {
    // q2 = 3: via VA 85/2 + 90 + 85/2 = 175; via EU 78 + 156 + 78 = 312
    assert.equal(latency('CA', { q1: 1, q2: 3 }), 3 + (175 + 312) / 2)
  })

  it('rejects quorums that do not intersect', () => {
    assert.throws(() => latency('CA', { q1: 1, q2: 2 }), /ios\.q1: q1 \+ q2 must exceed n/)
  })
})
