import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { adaptiveDeadlineMs, LatencyMean, MAX_BACKOFF_DOUBLINGS } from './adaptive.ts'

describe('adaptive deadlines', () => {
  it('LatencyMean weighs recent samples; reset starts afresh', () => {
    const m = new LatencyMean()
    assert.equal(m.ms, 0)
    m.add(100)
    assert.equal(m.ms, 100)
    m.add(200)
    assert.equal(m.ms, 120)
    assert.equal(m.samples, 2)
    m.reset()
    assert.deepEqual([m.ms, m.samples], [0, 0], 'forgotten: back to no sample')
    m.add(10)
    assert.deepEqual([m.ms, m.samples], [10, 1])
    assert.throws(() => m.add(-1), /latency/)
    assert.throws(() => m.add(Number.NaN), /latency/)
  })

  it('a deadline is factor x the mean, at least the floor, doubling per try up to a bound', () => {
    const m = new LatencyMean()
    assert.equal(adaptiveDeadlineMs(300, 4, m, 0), 300, 'no sample yet: the floor')
    m.add(10)
    assert.equal(adaptiveDeadlineMs(300, 4, m, 0), 300, '4 x 10 ms is below the floor')
    assert.equal(adaptiveDeadlineMs(300, 4, m, 2), 1200, 'the floor doubles too')
    m.reset()
    m.add(1000)
    assert.equal(adaptiveDeadlineMs(300, 4, m, 0), 4000, 'a slow moment: 4 x its mean')
    assert.equal(adaptiveDeadlineMs(300, 4, m, 1), 8000)
    assert.equal(adaptiveDeadlineMs(300, 0, m, 0), 300, 'factor 0: the floor alone')
    assert.equal(
      adaptiveDeadlineMs(300, 4, m, 99),
      adaptiveDeadlineMs(300, 4, m, MAX_BACKOFF_DOUBLINGS),
      'the doubling is bounded',
    )
  })

  it('rejects nonsense', () => {
    const m = new LatencyMean()
    assert.throws(() => adaptiveDeadlineMs(300, 4, m, -1), /tries/)
    assert.throws(() => adaptiveDeadlineMs(-1, 4, m, 0), /floor/)
    assert.throws(() => adaptiveDeadlineMs(300, Number.NaN, m, 0), /factor/)
  })
})
