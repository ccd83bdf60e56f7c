import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { LatencyModel } from '../core/engine.ts'
import { pairRttLatencyModel } from '../sim/topology.ts'
import { raftEngine } from './index.ts'

// EPaxos Fig. 4 three sites: CA-VA 85, VA-EU 90, CA-EU 156.
const RTT: Record<string, number> = { 'CA-VA': 85, 'EU-VA': 90, 'CA-EU': 156 }
const NODES = ['CA', 'VA', 'EU']

function model(origin: string, leader: string, clientRttMs = 2): LatencyModel {
  return pairRttLatencyModel(RTT, NODES, origin, leader, clientRttMs)
}

const config = raftEngine.parseConfig({})

describe('raft expectedLatencyMs (leader-based model)', () => {
  it('at the leader: client RTT + the leader to its nearest majority', () => {
    assert.equal(raftEngine.expectedLatencyMs(model('VA', 'VA'), config), 2 + 85)
    assert.equal(raftEngine.expectedLatencyMs(model('EU', 'EU'), config), 2 + 90)
  })

  it('at a follower: adds the origin-leader round trip (forward, then the commit index back)', () => {
    assert.equal(raftEngine.expectedLatencyMs(model('EU', 'CA'), config), 2 + 156 + 85)
    assert.equal(raftEngine.expectedLatencyMs(model('CA', 'VA'), config), 2 + 85 + 85)
  })

  it('rejects an origin outside the cluster', () => {
    assert.throws(() => raftEngine.expectedLatencyMs(model('XX', 'CA'), config), RangeError)
  })
})

describe('raft config', () => {
  it('defaults, and strict parsing that names the field', () => {
    assert.equal(config.preVote, false)
    assert.equal(config.testFault, 'none')
    assert.throws(() => raftEngine.parseConfig({ electionTimeoutMs: 5 }), /raft\.electionTimeoutMs: unknown/)
    assert.throws(
      () => raftEngine.parseConfig({ electionTimeoutMsMin: 900, electionTimeoutMsMax: 800 }),
      /raft\.electionTimeoutMsMin/,
    )
    assert.throws(() => raftEngine.parseConfig({ heartbeatIntervalMs: 600 }), /raft\.heartbeatIntervalMs/)
    assert.equal(raftEngine.parseConfig({ initialLeader: null }).initialLeader, null)
  })

  it('checkQuorum: on by default, a boolean, and only with heartbeats at most half the minimum timeout', () => {
    assert.equal(config.checkQuorum, true)
    assert.throws(() => raftEngine.parseConfig({ checkQuorum: 1 }), /raft\.checkQuorum: .*true or false/)
    const tooSlow = { heartbeatIntervalMs: 300, electionTimeoutMsMin: 500 }
    assert.throws(() => raftEngine.parseConfig(tooSlow), /raft\.heartbeatIntervalMs: .*checkQuorum: false/)
    assert.equal(raftEngine.parseConfig({ ...tooSlow, checkQuorum: false }).checkQuorum, false)
  })

  it('snapshotEveryEntries: on by default, 0 turns compaction off, negative or fractional is rejected', () => {
    assert.ok(config.snapshotEveryEntries > 0)
    assert.equal(raftEngine.parseConfig({ snapshotEveryEntries: 0 }).snapshotEveryEntries, 0)
    for (const bad of [-1, 2.5, '20'])
      assert.throws(() => raftEngine.parseConfig({ snapshotEveryEntries: bad }), /raft\.snapshotEveryEntries/)
  })
})
