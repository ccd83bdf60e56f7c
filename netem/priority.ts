/**
 * CPU priority for the processes that keep time for the emulated network (the relay, the calibration's
 * prober). On a loaded host a ready process waits for a core for many milliseconds (measured on the
 * project's 2-core CI box at load 15: calibration medians 17 to 68 ms late under the normal scheduler,
 * under 1.1 ms late with SCHED_RR), so the emulated RTTs stop meaning anything. Real-time round-robin
 * priority (`chrt -r`) makes a woken relay run at once. It needs root or CAP_SYS_NICE; without them the
 * run goes on at normal priority and says so.
 */
import { execFileSync } from 'node:child_process'

/** low among real-time priorities (1..99): above every normal process, below kernel helpers */
export const REALTIME_PRIORITY = 5

export interface PriorityResult {
  readonly realtime: boolean
  /** one line for env.json: what was done, or why not */
  readonly detail: string
}

/** Puts every thread of `pid` under SCHED_RR at REALTIME_PRIORITY; never throws. */
export function raiseToRealtime(pid: number): PriorityResult {
  try {
    execFileSync('chrt', ['--all-tasks', '--rr', '--pid', String(REALTIME_PRIORITY), String(pid)], {
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    return { realtime: true, detail: `SCHED_RR ${REALTIME_PRIORITY} (chrt)` }
  } catch (err: unknown) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim()
    return { realtime: false, detail: `normal priority: chrt failed (${stderr || (err as Error).message})` }
  }
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
