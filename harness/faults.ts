/**
 * Faults scheduled into a real run, and the record of every fault that happened (scheduled or not).
 *
 * `kill-leader` asks every running replica's /health who leads, kills the one most of them name, and
 * then watches the survivors' /health until one names a different leader: the takeover time. The time
 * to the first commit after the kill is filled in from the history once the run is over.
 */
import type { NodeId } from '../engines/core/command.ts'
import type { RunClock } from '../workloads/clock.ts'
import type { HistoryOp } from './check/history.ts'
import type { Cluster, ReplicaExit } from './launchers/types.ts'

export type KillSignal = 'SIGKILL' | 'SIGTERM'

export type FaultSpec =
  | { readonly atMs: number; readonly kind: 'kill-leader'; readonly signal?: KillSignal | undefined }
  | {
      readonly atMs: number
      readonly kind: 'kill'
      readonly replica: NodeId
      readonly signal?: KillSignal | undefined
    }

export type FaultRecord =
  | {
      readonly kind: 'kill-leader' | 'kill'
      /** when the signal was sent, microseconds on the run clock */
      readonly atUs: number
      readonly replica: NodeId | null
      readonly signal: KillSignal
      /** the leader the replicas named before the kill */
      readonly leaderBefore: NodeId | null
      /** the first leader a survivor named after the kill, and how long that took */
      readonly newLeader: NodeId | null
      readonly newLeaderAfterMs: number | null
      /** from the kill to the completion of the first command invoked after it */
      readonly firstCommitAfterMs: number | null
      readonly error?: string
    }
  | {
      /** a replica exited without the harness asking */
      readonly kind: 'replica-exit'
      readonly atUs: number
      readonly replica: NodeId
      readonly exitCode: number | null
      readonly signal: string | null
    }

const HEALTH_POLL_MS = 10
const LEADER_WAIT_MS = 30_000

/** The leader most running replicas name, or null when none names one. */
export async function currentLeader(cluster: Cluster, timeoutMs = 500): Promise<NodeId | null> {
  const running = cluster.replicas.filter((r) => r.running())
  const healths = await Promise.all(running.map((r) => r.health(timeoutMs)))
  const votes = new Map<NodeId, number>()
  for (const h of healths) if (h?.leader != null) votes.set(h.leader, (votes.get(h.leader) ?? 0) + 1)
  let best: NodeId | null = null
  let bestVotes = 0
  for (const [id, n] of votes) {
    if (n > bestVotes) {
      best = id
      bestVotes = n
    }
  }
  return best
}

/** Waits until every running replica names the same running leader; returns it, or null on timeout. */
export async function waitForAgreedLeader(cluster: Cluster, timeoutMs: number): Promise<NodeId | null> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const running = cluster.replicas.filter((r) => r.running())
    const healths = await Promise.all(running.map((r) => r.health(500)))
    const leaders = new Set(healths.map((h) => h?.leader ?? null))
    const [only] = leaders
    if (leaders.size === 1 && only != null && running.some((r) => r.id === only)) return only
    await sleep(50)
  }
  return null
}

async function watchForNewLeader(cluster: Cluster, old: NodeId | null, clock: RunClock, sinceUs: number) {
  const deadline = Date.now() + LEADER_WAIT_MS
  while (Date.now() < deadline) {
    const survivors = cluster.replicas.filter((r) => r.running() && r.id !== old)
    const healths = await Promise.all(survivors.map((r) => r.health(200)))
    const named = healths.find((h) => h?.leader != null && h.leader !== old)
    if (named?.leader != null) {
      return { newLeader: named.leader, newLeaderAfterMs: (clock.nowUs() - sinceUs) / 1000 }
    }
    await sleep(HEALTH_POLL_MS)
  }
  return { newLeader: null, newLeaderAfterMs: null }
}

async function inject(spec: FaultSpec, cluster: Cluster, clock: RunClock): Promise<FaultRecord> {
  const signal = spec.signal ?? 'SIGKILL'
  const leaderBefore = await currentLeader(cluster)
  const target = spec.kind === 'kill' ? spec.replica : leaderBefore
  if (target === null || !cluster.replicas.some((r) => r.id === target && r.running())) {
    return {
      kind: spec.kind,
      atUs: clock.nowUs(),
      replica: target,
      signal,
      leaderBefore,
      newLeader: null,
      newLeaderAfterMs: null,
      firstCommitAfterMs: null,
      error: target === null ? 'no replica named a leader' : `replica ${target} is not running`,
    }
  }
  const atUs = clock.nowUs()
  await cluster.replica(target).kill(signal)
  const watch =
    target === leaderBefore
      ? await watchForNewLeader(cluster, target, clock, atUs)
      : { newLeader: leaderBefore, newLeaderAfterMs: null }
  return { kind: spec.kind, atUs, replica: target, signal, leaderBefore, ...watch, firstCommitAfterMs: null }
}

/**
 * Runs the schedule relative to `startUs` on the run clock. Resolves with one record per spec once every
 * fault has been injected and observed; stops early (skipping later faults) when `signal` aborts.
 */
export async function runFaultSchedule(
  specs: readonly FaultSpec[],
  cluster: Cluster,
  clock: RunClock,
  startUs: number,
  signal?: AbortSignal,
): Promise<FaultRecord[]> {
  const ordered = [...specs].sort((a, b) => a.atMs - b.atMs)
  const out: FaultRecord[] = []
  for (const spec of ordered) {
    const waitMs = (startUs + spec.atMs * 1000 - clock.nowUs()) / 1000
    if (waitMs > 0) await sleep(waitMs, signal)
    if (signal?.aborted === true) break
    out.push(await inject(spec, cluster, clock))
  }
  return out
}

/** Unexpected exits become fault records; exits the harness asked for are not faults. */
export function exitFaults(exits: readonly ReplicaExit[]): FaultRecord[] {
  return exits
    .filter((e) => !e.expected)
    .map((e) => ({
      kind: 'replica-exit',
      atUs: e.atUs,
      replica: e.replica,
      exitCode: e.exitCode,
      signal: e.signal,
    }))
}

/** Fills in firstCommitAfterMs: the first ok command invoked after the kill, measured from the kill. */
export function withFirstCommit(
  records: readonly FaultRecord[],
  history: readonly HistoryOp[],
): FaultRecord[] {
  return records.map((r) => {
    if (r.kind === 'replica-exit' || r.error !== undefined) return r
    let first: number | null = null
    for (const op of history) {
      if (op.outcome === 'ok' && op.invokeUs >= r.atUs && op.completeUs !== null) {
        if (first === null || op.completeUs < first) first = op.completeUs
      }
    }
    return { ...r, firstCommitAfterMs: first === null ? null : (first - r.atUs) / 1000 }
  })
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms)
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer)
        resolve()
      },
      { once: true },
    )
  })
}
