/**
 * `run --realtime`: the replicas and the load driver (this process) under SCHED_FIFO for the load, like
 * the relay (netem/priority.ts). On a loaded host every hop of a command (driver, replica, relay) waits
 * for a core otherwise, and the measured latency is the host's queueing as much as the protocol's. This
 * takes CPU from everything else on the host while the load runs: opt-in. The driver goes back to normal
 * priority when the load ends (the checker after it can run for long); replicas stop soon after anyway.
 * A replica restarted by a fault comes back at normal priority.
 */
import { raiseToRealtime, restoreNormal } from '../netem/priority.ts'
import type { Cluster } from './launchers/types.ts'

export interface RealtimeCell {
  /** what each process got, for the progress line */
  readonly detail: string
  restore(): void
}

export function realtimeCell(cluster: Cluster): RealtimeCell {
  const results = cluster.replicas.map((r) => {
    const pid = r.pid()
    return pid === null ? `${r.id}: not running` : `${r.id}: ${raiseToRealtime(pid).detail}`
  })
  const self = raiseToRealtime(process.pid)
  return {
    detail: [...results, `driver: ${self.detail}`].join('; '),
    restore: () => {
      if (self.realtime) restoreNormal(process.pid)
    },
  }
}
