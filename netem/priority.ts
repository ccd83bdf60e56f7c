/**
 * CPU priority for the processes that keep time for the emulated network (the relay, the calibration's
 * prober). On a loaded host a ready process waits for a core for many milliseconds (measured on the
 * project's 2-core CI box at load 15: calibration medians 17 to 68 ms late under the normal scheduler,
 * under 1.1 ms late under a real-time policy), so the emulated RTTs stop meaning anything. Real-time
 * priority (`chrt`, through relay/realtime.ts) makes a woken process run at once. It needs root or CAP_SYS_NICE; without them the
 * run goes on at normal priority and says so.
 */
import { execFileSync } from 'node:child_process'
import { makeRealtime } from './relay/realtime.ts'

/** for replicas, driver and prober: above every normal process, below the relay (RELAY_PRIORITY) */
export const REALTIME_PRIORITY = 5
/** the relay keeps time for everyone: it preempts the processes whose messages it carries */
export const RELAY_PRIORITY = 10

export interface PriorityResult {
  readonly realtime: boolean
  /** one line for env.json: what was done, or why not */
  readonly detail: string
}

/**
 * for the harness's own load driver in `run --realtime`: one above the replicas, so a replica that keeps a
 * core busy cannot starve the process that ends the load and puts the replicas back to normal priority
 */
export const DRIVER_PRIORITY = REALTIME_PRIORITY + 1

/** Puts every thread of `pid` under SCHED_FIFO at `priority` (relay/realtime.ts); never throws. */
export function raiseToRealtime(pid: number, priority = REALTIME_PRIORITY): PriorityResult {
  const r = makeRealtime(pid, priority)
  return r.applied
    ? { realtime: true, detail: `SCHED_FIFO ${priority}` }
    : { realtime: false, detail: `normal priority (${r.reason})` }
}

/** Back to the normal scheduler (SCHED_OTHER); never throws. */
export function restoreNormal(pid: number): void {
  try {
    execFileSync('chrt', ['--all-tasks', '--other', '--pid', '0', String(pid)], { stdio: 'ignore' })
  } catch {
    // the process may be gone; nothing to restore
  }
}

/**
 * Runs `fn` with this process at real-time priority (a calibration's prober, a load driver), then puts
 * it back. Without the permission `fn` still runs, at normal priority; the result says which.
 */
export async function withRealtime<T>(fn: () => Promise<T>): Promise<{ value: T; priority: PriorityResult }> {
  const priority = raiseToRealtime(process.pid)
  try {
    return { value: await fn(), priority }
  } finally {
    if (priority.realtime) restoreNormal(process.pid)
  }
}
