import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { MAX_BACKOFF_DOUBLINGS } from '../core/adaptive.ts'
import { Delegation, rotation } from './delegation.ts'

const NODES = ['r0', 'r1', 'r2', 'r3', 'r4']
const cfg = {
  delegation: 'rotate' as const,
  rotateAmong: 0,
  coordinatorTimeoutMs: 400,
  coordinatorTimeoutMsMax: 100_000,
  suspectMs: 100,
  slowFactor: 4,
}

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

  it('a slot deadline follows the commit latency of the moment, never below coordinatorTimeoutMs, doubling per move', () => {
    const d = new Delegation(cfg, NODES, 'r0')
    assert.equal(d.deadlineMs(0), 400, 'no commit seen yet: the configured floor')
    for (let i = 0; i < 20; i++) d.committed('r1', 20)
    assert.equal(d.deadlineMs(0), 400, '4 x 20 ms is below the floor')
    // a host slowed down as a whole: every coordinator commits in about 900 ms
    for (let i = 0; i < 40; i++) d.committed(`r${1 + (i % 4)}`, 900)
    assert.ok(Math.abs(d.deadlineMs(0) - 3600) < 1, `${d.deadlineMs(0)}: 4 x the mean of the moment`)
    assert.ok(Math.abs(d.deadlineMs(1) - 7200) < 1, 'a slot moved once waits twice as long')
    assert.equal(d.deadlineMs(99), d.deadlineMs(MAX_BACKOFF_DOUBLINGS), 'the doubling is bounded')
    // a mean pushed up by slots that waited out a partition: the ceiling bounds the wait all the same
    const capped = new Delegation({ ...cfg, coordinatorTimeoutMsMax: 5000 }, NODES, 'r0')
    for (let i = 0; i < 40; i++) capped.committed(`r${1 + (i % 4)}`, 900)
    assert.ok(Math.abs(capped.deadlineMs(0) - 3600) < 1, 'below the ceiling: as before')
    assert.equal(capped.deadlineMs(1), 5000, '7200 ms capped at coordinatorTimeoutMsMax')
  })

  it('slowness is judged against the median coordinator, not the best one', () => {
    const d = new Delegation(cfg, NODES, 'r0')
    const means = { r1: 20, r2: 90, r3: 100, r4: 500 }
    for (let i = 0; i < 10; i++) for (const [node, ms] of Object.entries(means)) d.committed(node, ms)
    // against the best (20 ms) r2, r3 and r4 would all be over 4x; against the median (90 ms) only r4 is
    assert.deepEqual(
      Object.keys(means).map((n) => d.usable(n, 0)),
      [true, true, true, false],
    )
  })
})
