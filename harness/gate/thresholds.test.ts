import assert from 'node:assert/strict'
import { test } from 'node:test'
import { describeLimit, parseThresholdFlag, parseThresholdsObject, ThresholdError } from './thresholds.ts'

test("k6's syntax: metric, tag filter, aggregation, comparison; % makes a limit relative to the baseline", () => {
  assert.deepEqual(parseThresholdFlag('p(99)<250'), {
    source: 'p(99)<250',
    metric: 'latency',
    tags: {},
    aggregation: { kind: 'percentile', p: 99 },
    op: '<',
    limit: 250,
    relative: false,
  })
  const tagged = parseThresholdFlag('latency{engine:epaxos,site:EU}: p(99.9) <= 300')
  assert.deepEqual(tagged.tags, { engine: 'epaxos', site: 'EU' })
  assert.deepEqual(tagged.aggregation, { kind: 'percentile', p: 99.9 })
  assert.equal(tagged.op, '<=')
  assert.equal(parseThresholdFlag('{engine:raft}: med<5').metric, 'latency')
  assert.deepEqual(parseThresholdFlag('med<5').aggregation, { kind: 'percentile', p: 50 })
  const tput = parseThresholdFlag('throughput>1000')
  assert.equal(tput.metric, 'throughput')
  assert.equal(tput.limit, 1000)
  assert.equal(parseThresholdFlag('throughput{site:CA}: rate>10').metric, 'throughput')
  const rel = parseThresholdFlag('p(99)<+10%')
  assert.ok(rel.relative && Math.abs(rel.limit - 1.1) < 1e-12)
  const down = parseThresholdFlag('throughput>-5%')
  assert.ok(down.relative && Math.abs(down.limit - 0.95) < 1e-12)
  assert.equal(describeLimit(down), '> -5% of baseline')
  assert.equal(parseThresholdFlag('ops{bench:codec}: ops>-10%').tags.bench, 'codec')
})

test('a k6 thresholds object gives one threshold per expression', () => {
  const list = parseThresholdsObject(
    { 'latency{site:EU}': ['p(99)<250', 'p(99)<+10%'], throughput: 'rate>100' },
    't.json',
  )
  assert.deepEqual(
    list.map((t) => [t.metric, t.source]),
    [
      ['latency', 'latency{site:EU}: p(99)<250'],
      ['latency', 'latency{site:EU}: p(99)<+10%'],
      ['throughput', 'throughput: rate>100'],
    ],
  )
  assert.throws(
    () => parseThresholdsObject({ latency: [{ threshold: 'p(99)<1', abortOnFail: true }] }, 't.json'),
    ThresholdError,
  )
})

test('bad thresholds name the problem and the fix', () => {
  const problem = (text: string): ThresholdError => {
    try {
      parseThresholdFlag(text)
    } catch (err: unknown) {
      assert.ok(err instanceof ThresholdError, String(err))
      return err
    }
    assert.fail(`'${text}' parsed`)
  }
  assert.match(problem('p99<250').fix, /p\(99\)<250/)
  assert.match(problem('p(99)==250').problem, /cannot be decided/)
  assert.match(problem('p(0)<250').problem, /not a percentile/)
  assert.match(problem('throughput: p(99)<5').problem, /does not apply to throughput/)
  assert.match(problem('latency{bench:x}: p(99)<5').problem, /no tag 'bench'/)
  assert.match(problem('throughput{op:get}: rate>5').problem, /no tag 'op'/)
  assert.match(problem('latency{site}: p(99)<5').problem, /not key:value/)
  assert.match(problem('cpu: p(99)<5').problem, /unknown metric/)
  assert.match(problem('p(99)<-100%').problem, /leave nothing/)
  assert.match(problem('p(99)<+10').problem, /has a sign but no %/)
})
