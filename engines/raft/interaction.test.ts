/**
 * Raft scenarios in the shared interaction language (engines/sim/interaction): golden files under
 * testdata/interaction (REWRITE=1 to regenerate, then review the diff). Plus the Figure 8 scenario
 * replayed with the test-only fault, to show what the commit rule prevents.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { interactionTests, runScript } from '../sim/interaction/index.ts'
import { raftEngine } from './index.ts'

const DIR = new URL('./testdata/interaction', import.meta.url).pathname

interactionTests(raftEngine, DIR)

describe('raft Figure 8 with the test-only fault', () => {
  it("'commit-previous-term-by-counting' commits A from a majority of term-1 copies; a later leader erases it", () => {
    const text = readFileSync(`${DIR}/figure8.txt`, 'utf8').replace(
      'config={"maxEntriesPerAppend":1,',
      'config={"testFault":"commit-previous-term-by-counting","maxEntriesPerAppend":1,',
    )
    assert.ok(
      text.includes('commit-previous-term-by-counting'),
      'the scenario config changed: update this test',
    )
    const { outputs } = runScript(raftEngine, text, 'figure8.txt (with the fault)')
    const all = outputs.flat().join('\n')
    // r0 executes A although only term-1 copies make the majority (the correct engine executes nothing)
    assert.match(all, /r0 exec c1#1:put\(x,A\)/)
    // and the read through the next leader's log does not see it: an executed write was lost
    assert.match(all, /r4 exec c2#1:get\(x\) = null/)
  })
})
