import assert from 'node:assert/strict'
import { test } from 'node:test'
import { chooseShaper } from './choose.ts'

test('the kernel shaper is chosen only when the netem probe says netem works', async () => {
  const works = await chooseShaper({ probe: async () => ({ works: true, detail: 'ok' }) })
  assert.equal(works.kind, 'kernel')
  const missing = await chooseShaper({
    probe: async () => ({ works: false, detail: 'Error: Specified qdisc kind is unknown.\nfix: ...' }),
    realtime: false,
  })
  assert.equal(missing.kind, 'relay')
  assert.equal(missing.reason, 'kernel netem unavailable: Error: Specified qdisc kind is unknown.')
})

test('a forced choice skips the probe', async () => {
  const probe = async () => {
    throw new Error('probe must not run')
  }
  assert.equal((await chooseShaper({ prefer: 'relay', probe, realtime: false })).kind, 'relay')
  assert.equal((await chooseShaper({ prefer: 'kernel', probe })).kind, 'kernel')
})
