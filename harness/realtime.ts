/**
 * `run --realtime`: the replicas and the load driver (this process) under SCHED_FIFO for the load, like
 * the relay (netem/priority.ts). On a loaded host every hop of a command (driver, replica, relay) waits
 * for a core otherwise, and the measured latency is the host's queueing as much as the protocol's. This
 * takes CPU from everything else on the host while the load runs: opt-in. The driver runs one priority
 * above the replicas: a replica that keeps a core busy at SCHED_FIFO (which never time-slices between
 * equals) once starved a same-priority driver, and the load ran 6 minutes past its end. When the load
 * ends, the driver and the replicas go back to normal priority (the read-back and the checker after it
 * can run for long). A replica restarted by a fault comes back at normal priority.
 */
import { DRIVER_PRIORITY, raiseToRealtime, restoreNormal } from '../netem/priority.ts'
import type { Cluster } from './launchers/types.ts'

export interface RealtimeCell {
  /** what each process got, for the progress line */
  readonly detail: string
  restore(): void
}

export function realtimeCell(cluster: Cluster): RealtimeCell {
  const raised: number[] = []
  const results = cluster.replicas.map((r) => {
    const pid = r.pid()
    if (pid === null) return `${r.id}: not running`
    const result = raiseToRealtime(pid)
    if (result.realtime) raised.push(pid)
    return `${r.id}: ${result.detail}`
  })
  const self = raiseToRealtime(process.pid, DRIVER_PRIORITY)
  return {
    detail: [...results, `driver: ${self.detail}`].join('; '),
    restore: () => {
      for (const pid of raised) restoreNormal(pid)
      if (self.realtime) restoreNormal(process.pid)
    },
  }
}
