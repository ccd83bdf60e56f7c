import assert from 'node:assert/strict'
import { test } from 'node:test'
import { parseSeeds } from './seeds.ts'

test('ranges, lists and both', () => {
  assert.deepEqual(parseSeeds('1-5'), [1, 2, 3, 4, 5])
  assert.deepEqual(parseSeeds('1,5,9'), [1, 5, 9])
  assert.deepEqual(parseSeeds('1-3, 17'), [1, 2, 3, 17])
  assert.equal(parseSeeds('1-1000').length, 1000)
})

test('bad specs say what is wrong', () => {
  assert.throws(() => parseSeeds('5-1'), /a <= b/)
  assert.throws(() => parseSeeds('x'), /neither a seed/)
  assert.throws(() => parseSeeds('1,,2'), /neither a seed/)
  assert.throws(() => parseSeeds('-3'), /neither a seed/)
  assert.throws(() => parseSeeds('0-99999999999'), /more than/)
})
