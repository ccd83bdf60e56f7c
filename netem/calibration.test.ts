import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  type CalibrateNetwork,
  calibratePlacement,
  calibrateTopology,
  calibrationText,
  linksOffTolerance,
  toleranceMs,
  withinTolerance,
} from './calibration.ts'
import { placeOnTopology } from './placement.ts'
import type { NetworkSpec, Shaper } from './shaper.ts'
import { loadTopology } from './topology.ts'

const shaper: Shaper = {
  kind: 'relay',
  apply: () => Promise.reject(new Error('not used: the probing function is a stand-in')),
}

/** A stand-in for the shaper's probing: "measures" each asked link as its target plus `errorMs(link)`. */
function pretend(errorMs: (from: string, to: string) => number, seen: NetworkSpec[] = []): CalibrateNetwork {
  return async (_shaper, spec, options) => {
    seen.push(spec)
    const delay = (f: string, t: string) =>
      spec.links.find((l) => l.from === f && l.to === t)?.shape.delayMs ?? 0
    const links = (options.only ?? spec.links).map(({ from, to }) => {
      const targetRttMs = delay(from, to) + delay(to, from)
      const e = errorMs(from, to)
      return {
        from,
        to,
        targetRttMs,
        measuredRttMsP50: targetRttMs + e,
        measuredRttMsP99: targetRttMs + e + 0.5,
        errorMs: e,
        extra: 1,
      }
    })
    return { links }
  }
}

describe('calibration tables', () => {
  it('tolerance is max(1 ms, 2%)', () => {
    assert.equal(toleranceMs(10), 1)
    assert.equal(toleranceMs(50), 1)
    assert.equal(toleranceMs(156), 3.12)
    const link = {
      from: 'a',
      to: 'b',
      targetRttMs: 100,
      measuredRttMsP50: 102.5,
      measuredRttMsP99: 103,
      errorMs: 2.5,
    }
    assert.equal(withinTolerance(link), false)
    assert.equal(withinTolerance({ ...link, errorMs: -1.9 }), true)
  })

  it('calibrate --topology measures every directed site pair once, named by site, with exactly the documented fields', async () => {
    const table = await calibrateTopology(
      loadTopology('epaxos-5'),
      shaper,
      pretend(() => 0.123456),
      100,
    )
    assert.equal(table.links.length, 20)
    assert.equal(table.shaper, 'relay')
    const caVa = table.links.find((l) => l.from === 'CA' && l.to === 'VA')!
    assert.deepEqual(caVa, {
      from: 'CA',
      to: 'VA',
      targetRttMs: 59.91,
      measuredRttMsP50: 60.033,
      measuredRttMsP99: 60.533,
      errorMs: 0.123,
    })
    assert.equal(linksOffTolerance(table).length, 0)
    assert.match(calibrationText(table), /all 20 links within tolerance/)
  })

  it('flags a link off tolerance', async () => {
    const table = await calibrateTopology(
      loadTopology('epaxos-3'),
      shaper,
      pretend((f, t) => (f === 'r2' && t === 'r0' ? 5 : 0)),
      10,
    )
    assert.deepEqual(
      linksOffTolerance(table).map((l) => `${l.from}->${l.to}`),
      ['EU->CA'],
    )
    assert.match(calibrationText(table), /\nEU +CA .* OFF\n/)
    assert.match(calibrationText(table), /\n1 of 6 links OFF tolerance/)
  })

  it('a run calibrates every shaped link of its network, client links included; lan has none', async () => {
    const seen: NetworkSpec[] = []
    const table = await calibratePlacement(
      placeOnTopology(loadTopology('epaxos-3')),
      shaper,
      pretend(() => 0, seen),
      10,
    )
    // 3 replica pairs + 3 groups x 2 other-site replicas, both directions
    assert.equal(table.links.length, (3 + 6) * 2)
    assert.ok(table.links.some((l) => l.from === 'clients@CA' && l.to === 'api@r2' && l.targetRttMs === 156))
    const lan = await calibratePlacement(
      placeOnTopology(loadTopology('lan'), { replicas: 3 }),
      shaper,
      pretend(() => 0, seen),
      10,
    )
    assert.deepEqual(lan.links, [])
    assert.equal(seen.length, 1, 'nothing to probe on lan: the probing is not even started')
  })
})
