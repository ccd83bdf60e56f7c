import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Delegation, rotation } from './delegation.ts'

const NODES = ['r0', 'r1', 'r2', 'r3', 'r4']
const cfg = { delegation: 'rotate' as const, rotateAmong: 0, suspectMs: 100, slowFactor: 4 }

describe('ios delegation', () => {
  it('rotates over the nodes after the master, wrapping around', () => {
    assert.deepEqual(rotation(NODES, 'r3', 0), ['r4', 'r0', 'r1', 'r2'])
    assert.deepEqual(rotation(NODES, 'r3', 2), ['r4', 'r0'])
    const d = new Delegation(cfg, NODES, 'r3')
    assert.deepEqual(
      [0, 1, 2, 3, 4].map(() => d.pick('r1', 0)),
      ['r4', 'r0', 'r1', 'r2', 'r4'],
    )
  })

  it('reverse delegation hands commands back to their origin', () => {
    const d = new Delegation({ ...cfg, delegation: 'reverse' }, NODES, 'r0')
    assert.equal(d.pick('r2', 0), 'r2')
    assert.equal(d.pick('r0', 0), 'r0')
  })

  it('a coordinator that missed its deadline gets nothing until suspectMs passed', () => {
    const d = new Delegation({ ...cfg, rotateAmong: 2 }, NODES, 'r0')
    assert.equal(d.suspect('r1', 0), true)
    assert.equal(d.suspect('r1', 10), false, 'already suspected: not news')
    assert.deepEqual(
      [0, 1, 2].map(() => d.pick('r0', 50)),
      ['r2', 'r2', 'r2'],
    )
    assert.equal(d.pickOther('r2', 'r0', 50), 'r0', 'no other usable coordinator: the master itself')
    assert.equal(d.pick('r0', 200), 'r1', 'back after suspectMs')
  })

  it('a slow coordinator is skipped, and the reverse origin falls back to rotation', () => {
    const d = new Delegation({ ...cfg, delegation: 'reverse' }, NODES, 'r0')
    for (let i = 0; i < 10; i++) {
      d.committed('r1', 100)
      d.committed('r2', 5)
    }
    assert.equal(d.pick('r2', 0), 'r2')
    assert.notEqual(d.pick('r1', 0), 'r1')
    assert.equal(d.usable('r1', 0), false)
  })
})
