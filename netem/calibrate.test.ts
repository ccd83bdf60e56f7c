import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'
import { isProcessAlive, tracked } from '../harness/launchers/cleanup.ts'
import { calibrateNetwork } from './calibrate.ts'
import { createRelayShaper, type RelayNetwork } from './relay/index.ts'
import { shape } from './relay/testdata/rig.ts'
import type { NetworkSpec, Shaper } from './shaper.ts'

const startedPids: number[] = []

/** The relay shaper, remembering every relay it started; `extraDelayMs` makes it lie about the shapes. */
function spyShaper(extraDelayMs = 0): Shaper {
  const inner = createRelayShaper({ seed: 3 })
  return {
    kind: inner.kind,
    apply: async (spec) => {
      const skewed: NetworkSpec = {
        endpoints: spec.endpoints,
        links: spec.links.map((l) => ({
          ...l,
          shape: { ...l.shape, delayMs: l.shape.delayMs + extraDelayMs },
        })),
      }
      const network = (await inner.apply(skewed)) as RelayNetwork
      startedPids.push(network.pid)
      return network
    },
  }
}

// three replicas with RTTs 10 / 20 / 30 ms and a client group that does not listen, RTT 16 ms to r0
const spec: NetworkSpec = {
  endpoints: [
    { id: 'r0', site: 'A', host: '127.0.0.1', listenAddress: '127.0.0.1:1' },
    { id: 'r1', site: 'B', host: '127.0.0.2', listenAddress: '127.0.0.2:1' },
    { id: 'r2', site: 'C', host: '127.0.0.3', listenAddress: '127.0.0.3:1' },
    { id: 'clients@A', site: 'A', host: '127.0.0.1', listenAddress: null },
  ],
  links: [
    { from: 'r0', to: 'r1', shape: shape(5) },
    { from: 'r1', to: 'r0', shape: shape(5) },
    { from: 'r0', to: 'r2', shape: shape(8) },
    { from: 'r2', to: 'r0', shape: shape(12) },
    { from: 'r1', to: 'r2', shape: shape(15) },
    { from: 'r2', to: 'r1', shape: shape(15) },
    { from: 'clients@A', to: 'r0', shape: shape(6) },
    { from: 'r0', to: 'clients@A', shape: shape(10) },
  ],
}

after(() => {
  for (const pid of startedPids) assert.equal(isProcessAlive(pid), false, `relay pid ${pid} left running`)
  assert.deepEqual(tracked().pids, [])
})

describe('calibrateNetwork', () => {
  test('measures every link through the relay, near its target', async () => {
    const startedMs = performance.now()
    // the machine is shared and noisy: the tolerance here is generous; `consensus-bench calibrate` is strict
    const result = await calibrateNetwork(spyShaper(), spec, { probesPerLink: 100, toleranceMsMin: 15 })
    const tookMs = performance.now() - startedMs
    assert.equal(result.shaper, 'relay')
    assert.deepEqual(
      result.links.map((l) => [l.from, l.to, l.targetRttMs]),
      [
        ['r0', 'r1', 10],
        ['r1', 'r0', 10],
        ['r0', 'r2', 20],
        ['r2', 'r0', 20],
        ['r1', 'r2', 30],
        ['r2', 'r1', 30],
        ['clients@A', 'r0', 16],
        ['r0', 'clients@A', 16],
      ],
    )
    for (const l of result.links) {
      assert.equal(l.probes, 100)
      // never faster than configured: the relay does not deliver early
      assert.ok(l.measuredRttMsP50 >= l.targetRttMs - 0.1, `${l.from}->${l.to}: p50 ${l.measuredRttMsP50} ms`)
      assert.ok(l.measuredRttMsP99 >= l.measuredRttMsP50)
      assert.ok(
        l.withinTolerance,
        `${l.from}->${l.to}: p50 ${l.measuredRttMsP50} ms, target ${l.targetRttMs}`,
      )
      assert.equal(l.errorMs, l.measuredRttMsP50 - l.targetRttMs)
    }
    // pipelined and in parallel: 103 probes 5 ms apart, plus the relay's start
    assert.ok(tookMs < 30_000, `calibration took ${tookMs} ms`)
  })

  test('flags links whose shaper does not deliver the target', async () => {
    const result = await calibrateNetwork(spyShaper(10), spec, {
      probesPerLink: 20,
      only: [{ from: 'r0', to: 'r1' }],
    })
    assert.equal(result.links.length, 1)
    const [link] = result.links
    assert.equal(link!.withinTolerance, false)
    assert.ok(link!.errorMs >= 20 - 0.1, `errorMs ${link!.errorMs}`)
  })

  test('names an unknown link', async () => {
    await assert.rejects(
      calibrateNetwork(spyShaper(), spec, { only: [{ from: 'r0', to: 'r9' }] }),
      /unknown link r0 -> r9/,
    )
  })
})
