import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Rng } from './rng.ts'

const draws = (rng: Rng, n: number): number[] => Array.from({ length: n }, () => rng.next())

test('the same seed and stream give the same sequence', () => {
  assert.deepEqual(draws(new Rng(42, 'network'), 100), draws(new Rng(42, 'network'), 100))
})

test('different seeds and different streams give different sequences', () => {
  const base = draws(new Rng(42, 'network'), 20)
  assert.notDeepEqual(draws(new Rng(43, 'network'), 20), base)
  assert.notDeepEqual(draws(new Rng(42, 'clients'), 20), base)
  // the high half of a large seed matters too
  assert.notDeepEqual(draws(new Rng(42 + 2 ** 32, 'network'), 20), base)
})

test('a fork is a named stream of the same seed, independent of the parent state', () => {
  const parent = new Rng(7, 'a')
  const before = draws(parent.fork('b'), 10)
  draws(parent, 50)
  assert.deepEqual(draws(parent.fork('b'), 10), before)
  assert.deepEqual(draws(new Rng(7, 'a/b'), 10), before)
})

test('values stay in range and are roughly uniform', () => {
  const rng = new Rng(1)
  const buckets = new Array<number>(10).fill(0)
  for (let i = 0; i < 100_000; i++) {
    const x = rng.next()
    assert.ok(x >= 0 && x < 1)
    buckets[Math.floor(x * 10)]!++
  }
  for (const count of buckets) assert.ok(count > 9_500 && count < 10_500, `bucket count ${count}`)
  for (let i = 0; i < 1000; i++) {
    const k = rng.int(7)
    assert.ok(Number.isInteger(k) && k >= 0 && k < 7)
    const y = rng.between(2, 20)
    assert.ok(y >= 2 && y < 20)
  }
  const mean = Array.from({ length: 20_000 }, () => rng.exponential(5)).reduce((a, b) => a + b) / 20_000
  assert.ok(Math.abs(mean - 5) < 0.25, `exponential mean ${mean}`)
})

test('bad arguments throw', () => {
  assert.throws(() => new Rng(1.5), RangeError)
  assert.throws(() => new Rng(1).int(0), RangeError)
  assert.throws(() => new Rng(1).pick([]), RangeError)
})
