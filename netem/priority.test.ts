import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { raiseToRealtime, restoreNormal, withRealtime } from './priority.ts'

/** The scheduling policy of a process from /proc (field 41 of stat: 0 = SCHED_OTHER, 1 = SCHED_FIFO). */
function policy(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[38])
}

test('raiseToRealtime puts a process under SCHED_FIFO when allowed, and restoreNormal takes it back', async () => {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 10000)'], { stdio: 'ignore' })
  try {
    const r = raiseToRealtime(child.pid!)
    if (!r.realtime) {
      // not root and no CAP_SYS_NICE: the answer must say so, and nothing changed
      assert.match(r.detail, /normal priority \(chrt/)
      assert.equal(policy(child.pid!), 0)
      return
    }
    assert.equal(policy(child.pid!), 1)
    restoreNormal(child.pid!)
    assert.equal(policy(child.pid!), 0)
  } finally {
    child.kill('SIGKILL')
  }
})

test('withRealtime restores this process afterwards, and a gone process is reported, not thrown', async () => {
  const { value, priority } = await withRealtime(async () => policy(process.pid))
  assert.equal(value, priority.realtime ? 1 : 0)
  assert.equal(policy(process.pid), 0)
  assert.equal(raiseToRealtime(2 ** 22 + 12345).realtime, false)
})

test('a process raised to real time starts its children under the normal scheduler (SCHED_RESET_ON_FORK)', async () => {
  // inherited SCHED_FIFO let tsx's esbuild service (Go: idle threads spin and yield) hold both cores
  const { value: childPolicy, priority } = await withRealtime(async () => {
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 10000)'], { stdio: 'ignore' })
    try {
      await new Promise((resolve) => child.once('spawn', resolve))
      return policy(child.pid!)
    } finally {
      child.kill('SIGKILL')
    }
  })
  if (!priority.realtime) return // not allowed here: nothing was raised, nothing to inherit
  assert.equal(childPolicy, 0)
})
