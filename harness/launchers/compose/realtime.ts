/**
 * Real-time priority for the process that keeps time in a sidecar (its relay), set from the host as
 * the local launcher sets it for its relay (netem/priority.ts): on a busy host a relay at normal priority delivers late by as much as the run queue is long (measured here at
 * load 19: container links 22 to 60 ms over target at normal priority).
 *
 * The harness does it from outside because the container has no `chrt` and no CAP_SYS_NICE, and must
 * not need them. On cgroup v1 kernels with real-time group scheduling (a `cpu.rt_runtime_us` file), the
 * docker daemon gives its containers' cgroups no real-time budget unless it was started with
 * `--cpu-rt-runtime`, so SCHED_FIFO is refused even to root: then the process is moved to the root cpu
 * cgroup (the budget the local launcher's relay uses) and raised there. Best effort: whatever happens
 * is returned as one line for the results, never thrown.
 */
import { existsSync, writeFileSync } from 'node:fs'
import { makeRealtime } from '../../../netem/relay/realtime.ts'
import { runArgv } from './docker.ts'

const ROOT_CPU_CGROUP = '/sys/fs/cgroup/cpu'

/** Host PIDs of a container's processes whose command line contains `needle` (docker top). */
export async function containerPids(container: string, needle: string): Promise<number[]> {
  const out = await runArgv(['docker', 'top', container, '-eo', 'pid,args'])
  if (out.code !== 0) return []
  return out.stdout
    .split('\n')
    .slice(1)
    .filter((line) => line.includes(needle) && !line.includes('docker-init'))
    .map((line) => Number(line.trim().split(/\s+/)[0]))
    .filter((pid) => Number.isInteger(pid) && pid > 0)
}

/** SCHED_FIFO at `priority` for every thread of a container's process `pid` (a host PID). */
export function raiseContainerProcess(pid: number, priority: number): string {
  const first = makeRealtime(pid, priority)
  if (first.applied) return `SCHED_FIFO ${priority}`
  const budget = `${ROOT_CPU_CGROUP}/cpu.rt_runtime_us`
  if (!existsSync(budget)) return `normal priority (${first.reason})`
  try {
    writeFileSync(`${ROOT_CPU_CGROUP}/cgroup.procs`, String(pid))
  } catch (err: unknown) {
    return `normal priority (${first.reason}; moving it to the root cpu cgroup failed: ${(err as Error).message})`
  }
  const second = makeRealtime(pid, priority)
  return second.applied
    ? `SCHED_FIFO ${priority} (in the root cpu cgroup: the container's has no real-time budget)`
    : `normal priority (${second.reason})`
}
