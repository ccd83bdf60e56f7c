import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { pairRttLatencyModel } from '../sim/topology.ts'
import { multipaxosEngine } from './index.ts'
import { nearestQuorumRttMs } from './latency.ts'

function model(
  rtt: Record<string, number>,
  nodes: string[],
  origin: string,
  leader: string,
  clientRttMs = 3,
) {
  return pairRttLatencyModel(rtt, nodes, origin, leader, clientRttMs)
}

const config = multipaxosEngine.parseConfig({})

describe('multipaxos expectedLatencyMs', () => {
  // EPaxos Fig. 4 three sites: CA-VA 85, VA-EU 90, CA-EU 156.
  const threeSites = { 'CA-VA': 85, 'EU-VA': 90, 'CA-EU': 156 }
  const nodes = ['CA', 'VA', 'EU']

  it('at the leader: client RTT + the nearest other acceptor', () => {
    assert.equal(multipaxosEngine.expectedLatencyMs(model(threeSites, nodes, 'CA', 'CA'), config), 3 + 85)
    assert.equal(multipaxosEngine.expectedLatencyMs(model(threeSites, nodes, 'VA', 'VA'), config), 3 + 85)
    assert.equal(multipaxosEngine.expectedLatencyMs(model(threeSites, nodes, 'EU', 'EU'), config), 3 + 90)
  })

  it('at a follower: adds the origin-leader round trip', () => {
    assert.equal(
      multipaxosEngine.expectedLatencyMs(model(threeSites, nodes, 'EU', 'CA'), config),
      3 + 156 + 85,
    )
  })

  it('five nodes: the second-nearest peer completes the majority', () => {
    const rtt: Record<string, number> = {}
    const five = ['a', 'b', 'c', 'd', 'e']
    const fromA = { b: 40, c: 10, d: 70, e: 20 }
    for (const [x, v] of Object.entries(fromA)) rtt[['a', x].sort().join('-')] = v
    for (const x of ['b', 'c', 'd', 'e'])
      for (const y of ['b', 'c', 'd', 'e']) if (x < y) rtt[`${x}-${y}`] = 500
    assert.equal(nearestQuorumRttMs(model(rtt, five, 'a', 'a'), 'a'), 20)
    assert.equal(multipaxosEngine.expectedLatencyMs(model(rtt, five, 'b', 'a', 1), config), 1 + 40 + 20)
  })

  it('a single node needs no peer', () => {
    assert.equal(multipaxosEngine.expectedLatencyMs(model({}, ['solo'], 'solo', 'solo', 7), config), 7)
  })

  it('rejects a leader outside the cluster', () => {
    assert.throws(() => multipaxosEngine.expectedLatencyMs(model(threeSites, nodes, 'CA', 'XX'), config))
  })
})
