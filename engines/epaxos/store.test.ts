/**
 * The dependency walk of the instance store: interference (same key, at least one write), the stop at
 * a committed write (which covers its column below it), no-ops covering nothing, and durability.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Command } from '../core/command.ts'
import { SimStorage } from '../sim/storage.ts'
import { defaultBallot, InstanceStore } from './store.ts'

let seq = 0
const put = (key: string): Command => ({ id: { client: 'c', seq: ++seq }, op: 'put', key, value: `v${seq}` })
const get = (key: string): Command => ({ id: { client: 'c', seq: ++seq }, op: 'get', key })

function preaccept(store: InstanceStore, id: string, cmd: Command): readonly string[] {
  const attrs = store.attributes(id, cmd)
  const ballot = defaultBallot(id)
  store.record({ id, status: 'preaccepted', cmd, ...attrs, ballot, vballot: ballot, unchanged: true })
  return attrs.deps
}

describe('InstanceStore.attributes', () => {
  it('reads depend on writes only, writes on everything on the key; other keys never', () => {
    const store = InstanceStore.load(new SimStorage())
    assert.deepEqual(preaccept(store, 'r0.0', put('x')), [])
    assert.deepEqual(preaccept(store, 'r0.1', get('x')), ['r0.0'])
    assert.deepEqual(preaccept(store, 'r1.0', get('x')), ['r0.0'])
    assert.deepEqual(preaccept(store, 'r2.0', put('y')), [])
    assert.deepEqual(preaccept(store, 'r1.1', put('x')), ['r0.0', 'r0.1', 'r1.0'])
    const attrs = store.attributes('r2.1', get('x'))
    assert.deepEqual(attrs.deps, ['r0.0', 'r1.1'])
    assert.equal(attrs.seq, 4, 'above the seq of every interfering instance')
  })

  it('the walk stops after a committed write (it covers its column below), never after an uncommitted one', () => {
    const store = InstanceStore.load(new SimStorage())
    preaccept(store, 'r0.0', put('x'))
    preaccept(store, 'r0.1', get('x'))
    preaccept(store, 'r0.2', put('x'))
    assert.deepEqual(store.attributes('r1.0', put('x')).deps, ['r0.0', 'r0.1', 'r0.2'])
    store.commit('r0.2', store.get('r0.2')!.cmd, store.get('r0.2')!.seq, store.get('r0.2')!.deps)
    assert.deepEqual(store.attributes('r1.0', put('x')).deps, ['r0.2'])
    // an uncommitted write above it may still become a no-op: the walk goes past it
    preaccept(store, 'r0.3', get('x'))
    preaccept(store, 'r0.4', put('x'))
    assert.deepEqual(store.attributes('r1.0', put('x')).deps, ['r0.2', 'r0.3', 'r0.4'])
    // recovered as a no-op: it interferes with nothing any more
    store.commit('r0.4', null, 0, [])
    assert.deepEqual(store.attributes('r1.0', put('x')).deps, ['r0.2', 'r0.3'])
  })

  it('is durable: a reloaded store gives the same attributes; a committed instance never changes', () => {
    const storage = new SimStorage()
    const store = InstanceStore.load(storage)
    preaccept(store, 'r0.0', put('x'))
    preaccept(store, 'r1.0', get('x'))
    store.commit('r1.0', store.get('r1.0')!.cmd, 2, ['r0.0'])
    const cmd = put('x')
    const reloaded = InstanceStore.load(storage)
    assert.deepEqual(reloaded.attributes('r2.0', cmd), store.attributes('r2.0', cmd))
    assert.equal(reloaded.get('r1.0')!.status, 'committed')
    assert.throws(() => reloaded.commit('r1.0', null, 0, []), /agreement violated/)
    assert.equal(reloaded.commit('r1.0', store.get('r1.0')!.cmd, 2, ['r0.0']), false)
  })
})

describe('InstanceStore.tryPreAcceptConflicts', () => {
  const ids = (store: InstanceStore, id: string, cmd: Command, deps: string[]) =>
    store.tryPreAcceptConflicts(id, cmd, deps).map((r) => r.id)

  it('names interfering instances the deps do not reach and that do not reach the instance', () => {
    const store = InstanceStore.load(new SimStorage())
    preaccept(store, 'r1.0', put('x'))
    preaccept(store, 'r1.1', get('y'))
    preaccept(store, 'r2.0', get('x'))
    const cmd = put('x')
    assert.deepEqual(ids(store, 'r0.0', cmd, []), ['r1.0', 'r2.0'], 'other keys never conflict')
    assert.deepEqual(ids(store, 'r0.0', cmd, ['r1.0']), ['r2.0'])
    assert.deepEqual(ids(store, 'r0.0', get('x'), []), ['r1.0'], 'reads commute')
    // committed with the instance in its deps: ordered after it, no conflict; uncommitted: not yet known
    store.record({ ...store.get('r2.0')!, deps: ['r0.0'] })
    assert.deepEqual(ids(store, 'r0.0', cmd, ['r1.0']), ['r2.0'])
    store.commit('r2.0', store.get('r2.0')!.cmd, 2, ['r0.0'])
    assert.deepEqual(ids(store, 'r0.0', cmd, ['r1.0']), [])
    // a committed write of r0 numbered above r0.0 in its deps covers r0.0 as well
    preaccept(store, 'r2.1', get('x'))
    store.commit('r2.1', store.get('r2.1')!.cmd, 3, ['r0.1'])
    assert.deepEqual(ids(store, 'r0.0', cmd, ['r1.0']), ['r2.1'], 'r0.1 is not known here')
    // once r0.1 is known here as a committed write, r2.1 reaches r0.0 through it (r0.1 itself is
    // checked like any other instance: here its deps lack r0.0)
    preaccept(store, 'r0.1', put('x'))
    store.commit('r0.1', store.get('r0.1')!.cmd, 3, [])
    assert.deepEqual(ids(store, 'r0.0', cmd, ['r1.0']), ['r0.1'])
  })

  it('a committed write in the deps covers its leader instances below it on the key, an uncommitted one does not', () => {
    const store = InstanceStore.load(new SimStorage())
    preaccept(store, 'r1.0', get('x'))
    preaccept(store, 'r1.1', put('x'))
    const cmd = put('x')
    assert.deepEqual(ids(store, 'r0.0', cmd, ['r1.1']), ['r1.0'])
    store.commit('r1.1', store.get('r1.1')!.cmd, 2, ['r1.0'])
    assert.deepEqual(ids(store, 'r0.0', cmd, ['r1.1']), [])
    // the walk stopped at r1.1 and pruned r1.0 from the index; the scan still finds it
    assert.deepEqual(ids(store, 'r0.0', cmd, []), ['r1.0', 'r1.1'])
  })
})
