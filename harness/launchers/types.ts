/**
 * What every launcher (local processes now; compose later) gives the harness: handles on running
 * replicas, and a record of every replica exit. The run orchestration only talks to these types.
 */
import type { NodeId } from '../../engines/core/command.ts'
import type { LinkCalibration } from '../../netem/calibrate.ts'
import type { ReplicaLinkControl } from './compose/link-control.ts'

/** GET /health of a replica (engines/host) */
export interface ReplicaHealth {
  readonly id: NodeId
  readonly engine: string
  readonly role: string
  readonly leader: NodeId | null
  readonly epoch: number
  readonly executed: number
  readonly uptimeMs: number
  /** wall-clock ms of the replica's last `elected` event (engines/host); absent from older hosts */
  readonly lastElectedAtMs?: number | null
}

/** A replica process ended. `expected` is true when the harness asked for it (kill, stop). */
export interface ReplicaExit {
  readonly replica: NodeId
  readonly pid: number
  /** microseconds on the run clock */
  readonly atUs: number
  readonly exitCode: number | null
  readonly signal: string | null
  readonly expected: boolean
}

export interface ReplicaHandle {
  readonly id: NodeId
  /** host:port the replica's peers connect to */
  readonly peerAddress: string
  /** host:port of the HTTP client API */
  readonly clientAddress: string
  /** http://host:port */
  readonly clientUrl: string
  /** the current process's PID, or null while it is not running */
  pid(): number | null
  running(): boolean
  /** sends a signal and resolves once the process has exited (SIGSTOP/SIGCONT resolve at once) */
  kill(signal?: NodeJS.Signals): Promise<void>
  /** starts the replica again with the same config, ports and storage; resolves when it listens */
  restart(): Promise<void>
  /** GET /health, or null when it does not answer in time */
  health(timeoutMs?: number): Promise<ReplicaHealth | null>
  /**
   * GET /metrics as parsed JSON (null: the replica has no /metrics of ours, e.g. an external system);
   * rejects when the request fails or times out, the error saying why (launchers/http-json.ts)
   */
  metrics(timeoutMs?: number): Promise<unknown>
}

export interface Cluster {
  readonly launcher: 'local' | 'compose'
  readonly engine: string
  readonly replicas: readonly ReplicaHandle[]
  /** every exit seen so far, in order */
  readonly exits: readonly ReplicaExit[]
  replica(id: NodeId): ReplicaHandle
  /** stops every replica (SIGTERM, then SIGKILL), removes temp dirs; safe to call twice */
  stop(): Promise<void>
  /**
   * links the launcher calibrated itself, through the cluster's own shaped network (compose: the
   * sidecars, in the containers); absent when the run's calibration happened before the launch (local)
   */
  readonly calibration?: readonly LinkCalibration[]
  /** the scheduling the launcher's own shapers got (compose: the sidecars' relays), one line */
  readonly shaperPriority?: string
  /**
   * faults on replica-to-replica links the launcher shapes itself (compose: in the sidecars); absent
   * when the run's shaped network holds them (local)
   */
  readonly linkControl?: ReplicaLinkControl
}
