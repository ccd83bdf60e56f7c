import assert from 'node:assert/strict'
import { test } from 'node:test'
import { LatencyRecorder, readHlog, summarizeLatency } from './latency.ts'

test('latency: per site and op, merged overall, percentiles ordered and never above max, hlog round trip', () => {
  const rec = new LatencyRecorder()
  for (let i = 1; i <= 1000; i++) rec.record('r0', 'get', i * 10)
  for (let i = 1; i <= 500; i++) rec.record('r1', 'put', 75_128 + i)
  const all = summarizeLatency(rec.merged())
  assert.ok(all.p50 <= all.p90 && all.p90 <= all.p99 && all.p99 <= all.p999 && all.p999 <= all.max)
  assert.ok(Math.abs(all.max - 75_628) <= 76, `max ${all.max} within HDR resolution of 75628`)
  assert.equal(rec.merged('r0').totalCount, 1000)
  assert.equal(rec.merged(undefined, 'put').totalCount, 500)
  const r0 = summarizeLatency(rec.merged('r0'))
  assert.ok(Math.abs(r0.p50 - 5000) <= 5, `p50 ${r0.p50}`)
  const back = readHlog(rec.toHlog(Date.now(), 0, 10))
  assert.deepEqual([...back.keys()].sort(), ['r0/get', 'r1/put'])
  assert.equal(back.get('r0/get')?.totalCount, 1000)
  const decoded = back.get('r1/put')!
  assert.equal(decoded.totalCount, 500)
  assert.equal(decoded.getValueAtPercentile(50), rec.merged('r1').getValueAtPercentile(50))
  // the encoded form keeps buckets, not samples: max comes back as its bucket's top
  assert.ok(Math.abs(decoded.maxValue - rec.merged('r1').maxValue) <= 76)
})
