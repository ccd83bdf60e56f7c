import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { Rng } from '../../engines/core/runtime/rng.ts'
import { MIN_RETRANSMIT_MS, sampleJitterMs, sampleLossDelayMs } from './jitter.ts'
import { shape } from './testdata/rig.ts'

function moments(values: number[]): { mean: number; sd: number; min: number; max: number } {
  const mean = values.reduce((a, b) => a + b, 0) / values.length
  const sd = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length)
  return { mean, sd, min: Math.min(...values), max: Math.max(...values) }
}

describe('jitter', () => {
  for (const distribution of ['normal', 'uniform', 'pareto', 'paretonormal'] as const) {
    test(`${distribution}: mean 0 and the configured spread`, () => {
      const rng = new Rng(11, distribution)
      const s = shape(50, { jitterMs: 4, jitterDistribution: distribution })
      const m = moments(Array.from({ length: 40_000 }, () => sampleJitterMs(rng, s)))
      assert.ok(Math.abs(m.mean) < 0.1, `mean ${m.mean}`)
      if (distribution === 'uniform') {
        // uniform over [-4, 4]: sd 4/sqrt(3), never outside the range
        assert.ok(Math.abs(m.sd - 4 / Math.sqrt(3)) < 0.1, `sd ${m.sd}`)
        assert.ok(m.min >= -4 && m.max <= 4)
      } else {
        // pareto (shape 3) has an infinite fourth moment: its sample sd converges slowly
        const slack = distribution === 'normal' ? 0.2 : 0.8
        assert.ok(Math.abs(m.sd - 4) < slack, `sd ${m.sd}`)
      }
      // pareto's tail is on the right: long delays happen, early deliveries stay bounded
      if (distribution === 'pareto') assert.ok(m.max > 4 * -m.min, `min ${m.min} max ${m.max}`)
    })
  }

  test('no jitter draws nothing', () => {
    const rng = new Rng(1)
    assert.equal(sampleJitterMs(rng, shape(10)), 0)
  })
})

describe('loss as a retransmission delay', () => {
  test('no loss, no delay', () => {
    assert.equal(sampleLossDelayMs(new Rng(1), 0, 1000, 100), 0)
  })

  test('a lost chunk waits 2 x RTT (at least 10 ms) per loss, at the per-segment rate', () => {
    const rng = new Rng(5)
    const draws = Array.from({ length: 20_000 }, () => sampleLossDelayMs(rng, 0.1, 100, 80))
    for (const d of draws) assert.equal(d % 160, 0, `a loss delay of ${d} ms is not a multiple of 2 x RTT`)
    const lostShare = draws.filter((d) => d > 0).length / draws.length
    assert.ok(Math.abs(lostShare - 0.1) < 0.01, `one-segment chunks lost ${lostShare}`)
    // a ten-segment chunk is hit when any of its segments is: 1 - 0.9^10
    const big = Array.from({ length: 20_000 }, () => sampleLossDelayMs(rng, 0.1, 1448 * 10, 80))
    const bigShare = big.filter((d) => d > 0).length / big.length
    assert.ok(Math.abs(bigShare - (1 - 0.9 ** 10)) < 0.02, `ten-segment chunks lost ${bigShare}`)
    assert.equal(sampleLossDelayMs(new Rng(1), 0.999, 10, 0.5), 8 * MIN_RETRANSMIT_MS)
  })
})
