import assert from 'node:assert/strict'
import { test } from 'node:test'
import { seededRandom } from './prng.ts'

test('seededRandom: same (seed, id) gives the same stream, another id or seed another; values in [0, 1)', () => {
  const draw = (seed: number, id: string) => {
    const random = seededRandom(seed, id)
    return Array.from({ length: 1000 }, () => random())
  }
  const a = draw(1, 'r0')
  assert.deepEqual(draw(1, 'r0'), a)
  assert.notDeepEqual(draw(1, 'r1'), a)
  assert.notDeepEqual(draw(2, 'r0'), a)
  assert.ok(a.every((x) => x >= 0 && x < 1))
  const mean = a.reduce((s, x) => s + x, 0) / a.length
  assert.ok(Math.abs(mean - 0.5) < 0.05, `mean ${mean}`)
  assert.equal(new Set(a).size, a.length)
})
