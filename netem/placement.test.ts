import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { multiPaxosExpectedLatencyMs } from '../engines/multipaxos/latency.ts'
import {
  latencyModel,
  networkSpec,
  PlacementError,
  placeOnTopology,
  type ReplicaAddresses,
} from './placement.ts'
import { loadTopology, topologyFromObject } from './topology.ts'

const e3 = loadTopology('epaxos-3')

function addresses(n: number): Map<string, ReplicaAddresses> {
  return new Map(
    Array.from({ length: n }, (_, i) => [
      `r${i}`,
      {
        host: `127.0.0.${i + 1}`,
        peer: `127.0.0.${i + 1}:${7000 + i}`,
        client: `127.0.0.${i + 1}:${8000 + i}`,
      },
    ]),
  )
}

describe('placement', () => {
  it('puts one replica per site and one client group per site by default', () => {
    const p = placeOnTopology(e3)
    assert.deepEqual(p.replicas, [
      { id: 'r0', site: 'CA' },
      { id: 'r1', site: 'VA' },
      { id: 'r2', site: 'EU' },
    ])
    assert.deepEqual(
      p.clientGroups.map((g) => [g.name, g.site, g.replica]),
      [
        ['CA', 'CA', 'r0'],
        ['VA', 'VA', 'r1'],
        ['EU', 'EU', 'r2'],
      ],
    )
    assert.equal(p.leader, null)
  })

  it('wraps extra replicas round-robin and gives each its own client group', () => {
    const p = placeOnTopology(e3, { replicas: 5, leaderSite: 'VA' })
    assert.deepEqual(
      p.replicas.map((r) => r.site),
      ['CA', 'VA', 'EU', 'CA', 'VA'],
    )
    assert.deepEqual(
      p.clientGroups.map((g) => g.name),
      ['CA.r0', 'CA.r3', 'VA.r1', 'VA.r4', 'EU'],
    )
    assert.equal(p.leader, 'r1', 'the first replica of the leader site')
  })

  it('sends the clients of a site without a replica to the nearest one', () => {
    const p = placeOnTopology(e3, { replicas: 2 }) // CA, VA; EU is 90 from VA, 156 from CA
    assert.deepEqual(p.clientGroups.at(-1), { name: 'EU', site: 'EU', replica: 'r1' })
  })

  it('rejects an unknown leader site and one without a replica', () => {
    assert.throws(
      () => placeOnTopology(e3, { leaderSite: 'JP' }),
      (e: unknown) => e instanceof PlacementError && /CA, VA, EU/.test(e.fix),
    )
    assert.throws(() => placeOnTopology(e3, { replicas: 2, leaderSite: 'EU' }), /no replica on site EU/)
  })

  it('shapes every cross-site link both ways with RTT/2, and leaves intra-site RTT 0 direct', () => {
    const p = placeOnTopology(loadTopology('epaxos-5'), { replicas: 6 }) // r5 on CA with r0
    const spec = networkSpec(p, addresses(6))
    const shape = (from: string, to: string) => spec.links.find((l) => l.from === from && l.to === to)?.shape
    assert.equal(shape('r0', 'r1')?.delayMs, 59.91 / 2)
    assert.equal(shape('r1', 'r0')?.delayMs, 59.91 / 2)
    assert.equal(shape('r0', 'r1')?.jitterMs, 0.23 / 2)
    assert.equal(shape('r0', 'r5'), undefined, 'same site, intraSiteRttMs 0: direct')
    assert.equal(shape('clients@CA.r0', 'api@r2')?.delayMs, 141.15 / 2)
    assert.equal(shape('api@r2', 'clients@CA.r0')?.delayMs, 141.15 / 2)
    assert.equal(shape('clients@CA.r0', 'api@r5'), undefined)
    // 6 replicas: 15 pairs, of which only r0-r5 share a site -> 14 shaped pairs, both directions
    const replicaLinks = spec.links.filter((l) => /^r\d$/.test(l.from) && /^r\d$/.test(l.to))
    assert.equal(replicaLinks.length, 14 * 2)
    const api = spec.endpoints.find((e) => e.id === 'api@r2')
    assert.equal(api?.listenAddress, '127.0.0.3:8002')
    assert.equal(spec.endpoints.find((e) => e.id === 'r2')?.listenAddress, '127.0.0.3:7002')
  })

  it('shapes links inside a site when intraSiteRttMs is above 0', () => {
    const t = topologyFromObject(
      { name: 'x', description: 'x', source: 'x', sites: [{ name: 'A' }], links: [], intraSiteRttMs: 2 },
      null,
    )
    const spec = networkSpec(placeOnTopology(t, { replicas: 2 }), addresses(2))
    assert.equal(spec.links.find((l) => l.from === 'r0' && l.to === 'r1')?.shape.delayMs, 1)
    assert.equal(spec.links.find((l) => l.from === 'clients@A.r0' && l.to === 'api@r0')?.shape.delayMs, 1)
  })

  it('gives each site the latency model its clients see (Multi-Paxos, leader at CA on epaxos-3)', () => {
    const p = placeOnTopology(e3, { leaderSite: 'CA' })
    const expected = Object.fromEntries(
      p.clientGroups.map((g) => [g.name, multiPaxosExpectedLatencyMs(latencyModel(p, g, p.leader!))]),
    )
    // CA: leader's nearest quorum is VA (85); VA: forward to CA (85) + 85; EU: 156 + 85
    assert.deepEqual(expected, { CA: 85, VA: 170, EU: 241 })
  })
})
