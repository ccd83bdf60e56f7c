/**
 * Real-time scheduling for the relay process, best effort (Linux, root or CAP_SYS_NICE, util-linux
 * `chrt`). The kernel's netem runs in softirq context, ahead of every user process; a relay on a busy
 * machine instead waits for a CPU like everyone else, and that wait lands on every delivery. SCHED_FIFO
 * gives it the CPU as soon as it wakes. Its polling is capped (scheduler.ts), and the kernel keeps 5% of
 * each CPU for normal tasks (sched_rt_runtime_us), so it cannot lock the machine up.
 */
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'

export interface RealtimeResult {
  readonly priority: number
  readonly applied: boolean
  /** why not, when not applied */
  readonly reason: string | null
}

/**
 * Every thread of `pid` to SCHED_FIFO at `priority` (1-99); says what happened instead of throwing.
 * With SCHED_RESET_ON_FORK (`chrt -R`): what those threads start later (child processes, new threads)
 * begins under the normal scheduler. Inheriting it was seen to lock up the 2-core CI box: a test process
 * raised for a calibration started a relay under tsx, whose esbuild service (Go) inherited SCHED_FIFO;
 * Go's idle threads spin and yield, and sched_yield under SCHED_FIFO yields only to real-time threads,
 * so esbuild and its parent held both cores at 95% for minutes (load 38) and replicas elsewhere did not
 * start within 30 s. A process that needs real time is raised by its own PID, as the relay is.
 */
export function makeRealtime(pid: number, priority: number): RealtimeResult {
  if (!Number.isInteger(priority) || priority < 1 || priority > 99)
    throw new RangeError(`realtimePriority must be an integer in 1..99, got ${priority}`)
  try {
    // threads, not the process: on Linux a policy set by PID applies to that one thread
    for (const tid of readdirSync(`/proc/${pid}/task`))
      execFileSync('chrt', ['-f', '-R', '-p', String(priority), tid], { stdio: ['ignore', 'ignore', 'pipe'] })
    return { priority, applied: true, reason: null }
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim()
    const reason = stderr || (err instanceof Error ? err.message : String(err))
    return { priority, applied: false, reason: `chrt -f -R -p ${priority}: ${reason}` }
  }
}

/** The scheduling policy of each thread of `pid` (0 normal, 1 FIFO, 2 RR), from /proc: for tests. */
export function threadPolicies(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).map((tid) => {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8')
    // fields after the parenthesised command name; policy is field 41 (the 39th after it)
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return Number(fields[38])
  })
}
