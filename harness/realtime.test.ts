import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { DRIVER_PRIORITY, REALTIME_PRIORITY } from '../netem/priority.ts'
import type { Cluster } from './launchers/types.ts'
import { realtimeCell } from './realtime.ts'

/** Scheduling policy and real-time priority of a process from /proc (stat fields 41 and 40). */
function sched(pid: number): { policy: number; rtPriority: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return { policy: Number(fields[38]), rtPriority: Number(fields[37]) }
}

test('realtimeCell: the driver runs above the replicas, and restore puts all of them back to normal', (t) => {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 10000)'], { stdio: 'ignore' })
  try {
    const cluster = { replicas: [{ id: 'r0', pid: () => child.pid! }] } as unknown as Cluster
    const cell = realtimeCell(cluster)
    if (!cell.detail.includes('SCHED_FIFO')) {
      // not root and no CAP_SYS_NICE: nothing changed, and the detail says so
      assert.match(cell.detail, /normal priority/)
      cell.restore()
      t.skip('needs root or CAP_SYS_NICE')
      return
    }
    assert.deepEqual(sched(child.pid!), { policy: 1, rtPriority: REALTIME_PRIORITY })
    assert.deepEqual(sched(process.pid), { policy: 1, rtPriority: DRIVER_PRIORITY })
    assert.ok(DRIVER_PRIORITY > REALTIME_PRIORITY)
    cell.restore()
    assert.equal(sched(child.pid!).policy, 0)
    assert.equal(sched(process.pid).policy, 0)
  } finally {
    child.kill('SIGKILL')
  }
})
