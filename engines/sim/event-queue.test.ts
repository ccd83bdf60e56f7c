import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Rng } from '../core/runtime/rng.ts'
import { EventQueue } from './event-queue.ts'

test('pops in (time, insertion order), matching a sorted reference', () => {
  const rng = new Rng(3)
  const queue = new EventQueue<number>(10_000)
  const reference: Array<{ time: number; id: number }> = []
  let id = 0
  const popped: number[] = []
  const expected: number[] = []
  for (let round = 0; round < 2000; round++) {
    if (rng.chance(0.6) || queue.size === 0) {
      const time = rng.int(50) // many ties
      queue.push(time, id)
      reference.push({ time, id })
      id++
    } else {
      reference.sort((a, b) => a.time - b.time || a.id - b.id)
      expected.push(reference.shift()!.id)
      popped.push(queue.pop()!.item)
    }
  }
  assert.deepEqual(popped, expected)
})

test('the capacity bounds the queue', () => {
  const queue = new EventQueue<string>(2)
  queue.push(1, 'a')
  queue.push(1, 'b')
  assert.throws(() => queue.push(1, 'c'), /full/)
  assert.equal(queue.pop()?.item, 'a')
  assert.equal(queue.peekTimeUs(), 1)
  assert.throws(() => queue.push(Number.NaN, 'x'), RangeError)
})
