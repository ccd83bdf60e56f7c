/**
 * The compose launcher's share of a topology run, without docker: which links the host shapes (the
 * client links only), which the containers' sidecars shape (replica to replica, RTT/2 each way), which
 * shaper carries the client links, and that calibration is left to the cells.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { findEngine } from '../engines/registry.ts'
import type { NetworkSpec, ShapedNetwork, Shaper } from '../netem/shaper.ts'
import {
  CellNetwork,
  containerNetwork,
  hostClientShaper,
  planTopologyRun,
  prepareTopologyRun,
} from './topology-run.ts'

const plan = planTopologyRun({
  topology: 'epaxos-3',
  leaderSite: 'CA',
  engine: findEngine('multipaxos'),
  engineName: 'multipaxos',
  engineConfig: {},
})

function recordingShaper(kind: Shaper['kind'], applied: NetworkSpec[]): Shaper {
  return {
    kind,
    apply: async (spec) => {
      applied.push(spec)
      const network: ShapedNetwork = {
        addressFor: (from, to) => `shaped:${from}>${to}`,
        setLink: async () => {},
        partition: async () => {},
        heal: async () => {},
        close: async () => {},
      }
      return network
    },
  }
}

const containers = ['r0', 'r1', 'r2'].map((id, i) => {
  const host = `172.30.9.${10 + i}`
  return { id, host, peer: `${host}:7000`, client: `${host}:8000` }
})

test("scope 'clients': the host shapes only client links; replicas reach each other directly", async () => {
  const applied: NetworkSpec[] = []
  const cell = new CellNetwork(plan, recordingShaper('relay', applied), 'clients')
  const route = await cell.peerAddresses(containers)
  assert.equal(applied.length, 1)
  const links = applied[0]!.links
  // 3 sites, one group each, 2 remote replicas per group, both directions
  assert.equal(links.length, 12)
  for (const l of links) assert.ok(l.from.startsWith('clients@') || l.to.startsWith('clients@'), l.from)
  assert.equal(route('r0', 'r1'), '172.30.9.11:7000', "replica links are the sidecars' job, not the host's")
  const bySite = cell.replicasBySite()
  assert.deepEqual(
    bySite.get('CA')!.map((r) => r.clientUrl),
    ['http://172.30.9.10:8000', 'http://shaped:clients@CA>api@r1', 'http://shaped:clients@CA>api@r2'],
  )
  await cell.close()
})

test("containerNetwork: replica-to-replica links at RTT/2 each way, sites, the run's shaper kind", async () => {
  const applied: NetworkSpec[] = []
  const run = await prepareTopologyRun(
    plan,
    {
      chooseShaper: async () => ({
        shaper: recordingShaper('kernel', applied),
        kind: 'kernel',
        reason: 'test',
        priority: () => null,
      }),
      calibrate: async () => {
        throw new Error('compose runs calibrate in the cells, not before')
      },
    },
    10,
    () => {},
    'compose',
  )
  assert.equal(run.calibration.links.length, 0)
  const cell = new CellNetwork(run.plan, hostClientShaper(run.choice), 'clients')
  const net = containerNetwork(run, cell, 10)
  assert.equal(net.shaper, 'kernel')
  assert.deepEqual(net.sites, { r0: 'CA', r1: 'VA', r2: 'EU' })
  assert.equal(net.links.length, 6)
  const delay = (from: string, to: string) =>
    net.links.find((l) => l.from === from && l.to === to)?.shape.delayMs
  assert.equal(delay('r0', 'r1'), 42.5) // CA-VA 85 ms
  assert.equal(delay('r2', 'r0'), 78) // EU-CA 156 ms
  assert.equal(delay('r1', 'r2'), 45) // VA-EU 90 ms
  // the client links go through the relay on the host even where the sidecars use the kernel shaper
  assert.equal(hostClientShaper(run.choice).kind, 'relay')
  assert.deepEqual(await net.calibrateHost(), [], 'nothing applied yet: nothing to probe')
  assert.equal(applied.length, 0)
})
