import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { LatencyModel } from '../core/engine.ts'
import { pairRttLatencyModel } from '../sim/topology.ts'
import { epaxosEngine, epaxosSlowPathLatencyMs } from './index.ts'

function model(rtt: Record<string, number>, nodes: string[], origin: string, clientRttMs = 3): LatencyModel {
  // leaderless: the leader field is ignored; give a node that is not the origin to show it
  return pairRttLatencyModel(rtt, nodes, origin, nodes.find((n) => n !== origin)!, clientRttMs)
}

const config = epaxosEngine.parseConfig({})

describe('epaxos expectedLatencyMs', () => {
  // EPaxos Fig. 4 three sites: CA-VA 85, VA-EU 90, CA-EU 156.
  const threeSites = { 'CA-VA': 85, 'EU-VA': 90, 'CA-EU': 156 }
  const nodes = ['CA', 'VA', 'EU']

  it('fast path: the client RTT plus one round trip to the origin’s nearest fast quorum (2 of 3)', () => {
    assert.equal(epaxosEngine.expectedLatencyMs(model(threeSites, nodes, 'CA'), config), 3 + 85)
    assert.equal(epaxosEngine.expectedLatencyMs(model(threeSites, nodes, 'VA'), config), 3 + 85)
    assert.equal(epaxosEngine.expectedLatencyMs(model(threeSites, nodes, 'EU'), config), 3 + 90)
  })

  it('slow path: plus a Paxos-Accept round trip to the nearest slow quorum', () => {
    assert.equal(epaxosSlowPathLatencyMs(model(threeSites, nodes, 'CA')), 3 + 85 + 85)
    assert.equal(epaxosSlowPathLatencyMs(model(threeSites, nodes, 'EU')), 3 + 90 + 90)
  })

  it('five nodes: the fast quorum is 3 (F=2: 2 + floor(3/2)), the slow quorum 3', () => {
    const rtt = {
      'a-b': 10,
      'a-c': 20,
      'a-d': 30,
      'a-e': 40,
      'b-c': 1,
      'b-d': 1,
      'b-e': 1,
      'c-d': 1,
      'c-e': 1,
      'd-e': 1,
    }
    const m = model(rtt, ['a', 'b', 'c', 'd', 'e'], 'a', 0)
    assert.equal(epaxosEngine.expectedLatencyMs(m, config), 20)
    assert.equal(epaxosSlowPathLatencyMs(m), 20 + 20)
  })

  it('one node: only the client round trip; an origin outside the cluster is an error', () => {
    assert.equal(epaxosEngine.expectedLatencyMs(model({}, ['a'], 'a', 7), config), 7)
    assert.throws(() => epaxosEngine.expectedLatencyMs(model(threeSites, nodes, 'XX'), config), /origin XX/)
  })
})

describe('epaxos config', () => {
  it('has units, rejects unknown fields and a retransmit not below the recovery timeout, naming the field', () => {
    assert.throws(() => epaxosEngine.parseConfig({ thrify: true }), /epaxos\.thrify: unknown config field/)
    assert.throws(
      () => epaxosEngine.parseConfig({ retransmitMs: 900, recoveryTimeoutMs: 500 }),
      /epaxos\.retransmitMs: retransmitMs must be below recoveryTimeoutMs/,
    )
    assert.throws(() => epaxosEngine.parseConfig({ testFault: 'other' }), /epaxos\.testFault/)
    assert.equal(epaxosEngine.parseConfig({ thrifty: true }).thrifty, true)
  })
})
