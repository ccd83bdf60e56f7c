/** Runs the rig fuzz (testdata/fuzz.ts) over seeds; MULTIPAXOS_FUZZ_SEEDS sets how many. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { fuzzOnce } from './testdata/fuzz.ts'

const SEEDS = Number(process.env.MULTIPAXOS_FUZZ_SEEDS ?? 40)

describe('multipaxos fuzz on the unit rig', () => {
  it(`survives ${SEEDS} fault seeds`, () => {
    const failures = []
    for (let seed = 1; seed <= SEEDS; seed++) {
      const r = fuzzOnce(seed)
      if (r.failure !== null) failures.push(r)
    }
    assert.deepEqual(failures, [])
  })
})
