/**
 * Faults scheduled into a real run (harness/fault-spec.ts says what can be scheduled), and the record of
 * every fault that happened, scheduled or not.
 *
 * Each fault runs as its own task from the load's start (the timeline's second 0): at its time, never
 * before it, it is injected (kill, SIGSTOP, a partition or slower links through the cell's shaper), and
 * its end (restart, SIGCONT, heal, the old delay back) follows after its duration, or as soon as the
 * load ends, so the read-back after the load always meets a healed network. Every step is an event with
 * its time on the run clock.
 *
 * `kill-leader` asks every running replica's /health who leads, kills the one most of them name, and
 * watches the survivors' /health until one names a different leader: the takeover time. The figures
 * the history gives (first commit after, per site) are filled in once the run is over (availability.ts).
 */
import type { NodeId } from '../engines/core/command.ts'
import type { LinkShape, PartitionMode } from '../netem/shaper.ts'
import type { RunClock } from '../workloads/clock.ts'
import { describeFault, type FaultSpec } from './fault-spec.ts'
import type { Cluster, ReplicaExit } from './launchers/types.ts'

export type { FaultSpec } from './fault-spec.ts'

export type KillSignal = 'SIGKILL' | 'SIGTERM'

/** One step of a fault: `kill -9 r1`, `restart r1`, `heal`, ... at a time on the run clock. */
export interface FaultEvent {
  readonly atUs: number
  readonly what: string
}

/** What the history says about service around one fault (availability.ts). */
export interface FaultAvailability {
  /** from the fault to the completion of the first command invoked after it, any site */
  readonly firstCommitAfterMs: number | null
  /** per client site: from the fault to the first ok completion there of a command invoked after it */
  readonly recoveryMsBySite: Readonly<Record<string, number | null>>
  /** commands invoked from the fault until the last site recovered (or the load ended) that failed */
  readonly opsFailed: number
  /** ... whose outcome is unknown (timed out: they may or may not have executed) */
  readonly opsUnknown: number
}

interface ScheduledFields {
  /** when the fault began, microseconds on the run clock */
  readonly atUs: number
  /** when it ended (restart, heal, resume), or null when it lasted to the end of the run */
  readonly endUs: number | null
  /** the fault as scheduled, in words */
  readonly description: string
  readonly events: readonly FaultEvent[]
  readonly error?: string
}

export type FaultRecord =
  | (ScheduledFields &
      Partial<FaultAvailability> & {
        readonly kind: 'kill-leader' | 'kill'
        readonly replica: NodeId | null
        readonly signal: KillSignal
        /** the leader the replicas named before the kill */
        readonly leaderBefore: NodeId | null
        /** the first leader a survivor named after the kill, and how long that took */
        readonly newLeader: NodeId | null
        readonly newLeaderAfterMs: number | null
        readonly firstCommitAfterMs: number | null
      })
  | (ScheduledFields &
      Partial<FaultAvailability> & {
        readonly kind: 'partition' | 'slow' | 'pause'
        /** the replicas it acted on (a partition: side A, then side B) */
        readonly replicas: readonly NodeId[]
        readonly leaderBefore: NodeId | null
      })
  | {
      /** a replica exited without the harness asking */
      readonly kind: 'replica-exit'
      readonly atUs: number
      readonly replica: NodeId
      readonly exitCode: number | null
      readonly signal: string | null
    }

export type ScheduledFaultRecord = Exclude<FaultRecord, { kind: 'replica-exit' }>

/** What partitions and slow links act on: the cell's shaped network (harness/topology-run.ts). */
export interface FaultNetwork {
  partition(from: string, to: string, mode: PartitionMode): Promise<void>
  heal(from: string, to: string): Promise<void>
  setLink(from: string, to: string, shape: LinkShape): Promise<void>
  /** the shaped links that touch a replica (its peer links and its client API's), with their shapes */
  linksOf(replica: NodeId): ReadonlyArray<{ from: string; to: string; shape: LinkShape }>
}

const HEALTH_POLL_MS = 10
const LEADER_WAIT_MS = 30_000
/** longer than any run: a fault with no end lasts until the load ends */
const UNTIL_THE_END_MS = 2 ** 31 - 1

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

async function watchForNewLeader(
  cluster: Cluster,
  old: NodeId | null,
  clock: RunClock,
  sinceUs: number,
  stop: AbortSignal,
) {
  const deadline = Date.now() + LEADER_WAIT_MS
  while (Date.now() < deadline && !stop.aborted) {
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

interface FaultEnv {
  readonly cluster: Cluster
  readonly network: FaultNetwork | null
  readonly clock: RunClock
  /** aborts when the load is over: pending ends (restart, heal, resume) happen at once */
  readonly ended: AbortSignal
}

/** Sleeps the fault's duration (cut short when the load ends); undefined: it lasts to the end of the run. */
async function lasting(ms: number | undefined, env: FaultEnv): Promise<boolean> {
  if (ms === undefined) return false
  await sleep(ms, env.ended)
  return true
}

async function injectKill(
  spec: Extract<FaultSpec, { kind: 'kill' | 'kill-leader' }>,
  env: FaultEnv,
): Promise<ScheduledFaultRecord> {
  const { cluster, clock } = env
  const signal = spec.signal ?? 'SIGKILL'
  const description = describeFault(spec)
  const leaderBefore = await currentLeader(cluster)
  const target = spec.kind === 'kill' ? spec.replica : leaderBefore
  const base = { kind: spec.kind, replica: target, signal, leaderBefore, description }
  if (target === null || !cluster.replicas.some((r) => r.id === target && r.running())) {
    return {
      ...base,
      atUs: clock.nowUs(),
      endUs: null,
      events: [],
      newLeader: null,
      newLeaderAfterMs: null,
      firstCommitAfterMs: null,
      error: target === null ? 'no replica named a leader' : `replica ${target} is not running`,
    } satisfies ScheduledFaultRecord
  }
  const atUs = clock.nowUs()
  const events: FaultEvent[] = [
    { atUs, what: `${signal === 'SIGKILL' ? 'kill -9' : 'kill -TERM'} ${target}` },
  ]
  await cluster.replica(target).kill(signal)
  const restart = (async () => {
    if (!(await lasting(spec.restartAfterMs, env))) return null
    const startUs = clock.nowUs()
    try {
      await cluster.replica(target).restart()
    } catch (err: unknown) {
      // killed again while it started, or it could not start: the run goes on without it
      events.push({
        atUs: startUs,
        what: `restart ${target} failed: ${(err as Error).message.split('\n')[0]}`,
      })
      return null
    }
    events.push({ atUs: startUs, what: `restart ${target}` })
    return startUs
  })()
  const watch =
    target === leaderBefore
      ? await watchForNewLeader(cluster, target, clock, atUs, env.ended)
      : { newLeader: leaderBefore, newLeaderAfterMs: null }
  const endUs = await restart
  return {
    ...base,
    atUs,
    endUs,
    events,
    ...watch,
    firstCommitAfterMs: null,
  } satisfies ScheduledFaultRecord
}

async function injectOther(
  spec: Extract<FaultSpec, { kind: 'partition' | 'slow' | 'pause' }>,
  env: FaultEnv,
): Promise<ScheduledFaultRecord> {
  const { cluster, clock, network } = env
  const description = describeFault(spec)
  const leaderBefore = await currentLeader(cluster)
  const events: FaultEvent[] = []
  const failed = (replicas: NodeId[], error: string): ScheduledFaultRecord => ({
    kind: spec.kind,
    replicas,
    leaderBefore,
    description,
    atUs: clock.nowUs(),
    endUs: null,
    events,
    error,
  })
  const names = spec.kind === 'partition' ? spec.sides.flat() : [spec.replica]
  if (names.includes('leader') && leaderBefore === null) return failed([], 'no replica named a leader')
  const ref = (r: string): NodeId => (r === 'leader' ? leaderBefore! : r)
  if (spec.kind === 'pause') {
    const target = ref(spec.replica)
    const handle = cluster.replicas.find((r) => r.id === target)
    if (handle === undefined || !handle.running()) return failed([target], `replica ${target} is not running`)
    const atUs = clock.nowUs()
    await handle.kill('SIGSTOP')
    events.push({ atUs, what: `pause ${target} (SIGSTOP)` })
    await lasting(spec.forMs, env)
    const endUs = clock.nowUs()
    if (handle.running()) await handle.kill('SIGCONT')
    events.push({ atUs: endUs, what: `resume ${target} (SIGCONT)` })
    return { kind: 'pause', replicas: [target], leaderBefore, description, atUs, endUs, events }
  }
  if (network === null) return failed([], `a ${spec.kind} needs the shaped network of a topology run`)
  if (spec.kind === 'slow') {
    const target = ref(spec.replica)
    const links = network.linksOf(target)
    const atUs = clock.nowUs()
    try {
      for (const l of links)
        await network.setLink(l.from, l.to, { ...l.shape, delayMs: l.shape.delayMs + spec.delayMs })
    } catch (err: unknown) {
      return failed([target], (err as Error).message)
    }
    events.push({ atUs, what: `slow ${target}: +${spec.delayMs} ms on ${links.length} links` })
    if (!(await lasting(spec.forMs, env)))
      return { kind: 'slow', replicas: [target], leaderBefore, description, atUs, endUs: null, events }
    const endUs = clock.nowUs()
    for (const l of links) await network.setLink(l.from, l.to, l.shape)
    events.push({ atUs: endUs, what: `${target}: links back to their delays` })
    return { kind: 'slow', replicas: [target], leaderBefore, description, atUs, endUs, events }
  }
  // partition: every directed peer link from side A to side B (and back unless one-way)
  const a = [...new Set(spec.sides[0].map(ref))]
  const b =
    spec.sides[1] !== undefined
      ? [...new Set(spec.sides[1].map(ref))]
      : cluster.replicas.map((r) => r.id).filter((id) => !a.includes(id))
  const cuts: Array<[string, string]> = []
  for (const x of a)
    for (const y of b) if (x !== y) cuts.push([x, y], ...(spec.oneWay ? [] : [[y, x] as [string, string]]))
  const atUs = clock.nowUs()
  try {
    for (const [from, to] of cuts) await network.partition(from, to, spec.mode)
  } catch (err: unknown) {
    return failed([...a, ...b], (err as Error).message)
  }
  const arrow = spec.oneWay ? '->' : '<->'
  events.push({ atUs, what: `partition {${a.join(',')}} ${arrow} {${b.join(',')}} (${spec.mode})` })
  // a partition with no heal time still heals when the load ends: the read-back needs the network
  await lasting(spec.healAfterMs ?? UNTIL_THE_END_MS, env)
  const endUs = clock.nowUs()
  for (const [from, to] of cuts) await network.heal(from, to)
  events.push({ atUs: endUs, what: 'heal' })
  return {
    kind: 'partition',
    replicas: [...a, ...b],
    leaderBefore,
    description,
    atUs,
    endUs: spec.healAfterMs !== undefined ? endUs : null,
    events,
  }
}

function notInjected(spec: FaultSpec, atUs: number, error: string): ScheduledFaultRecord {
  const base = { atUs, endUs: null, description: describeFault(spec), events: [], error }
  return spec.kind === 'kill' || spec.kind === 'kill-leader'
    ? {
        ...base,
        kind: spec.kind,
        replica: spec.kind === 'kill' ? spec.replica : null,
        signal: spec.signal ?? 'SIGKILL',
        leaderBefore: null,
        newLeader: null,
        newLeaderAfterMs: null,
        firstCommitAfterMs: null,
      }
    : { ...base, kind: spec.kind, replicas: [], leaderBefore: null }
}

/** A running schedule: `end()` when the load is over ends every fault still on, then `done` resolves. */
export interface RunningSchedule {
  readonly done: Promise<ScheduledFaultRecord[]>
  end(): void
}

/**
 * Runs the schedule relative to `loadStartUs` on the run clock: the load's start, which is also the
 * timeline's second 0 and summary.json `loadStartUs` (harness/run.ts), so a fault due at N ms is injected
 * N ms or a little later (never earlier) after that second 0. Each fault runs on its own (so a
 * kill-leader that watches for a takeover does not delay the next fault). A fault not yet due when the
 * load ends (a load cut short by maxOps) is recorded as not injected; `stop` (an interrupt) drops it.
 */
export function runFaultSchedule(
  specs: readonly FaultSpec[],
  cluster: Cluster,
  clock: RunClock,
  loadStartUs: number,
  stop?: AbortSignal,
  network: FaultNetwork | null = null,
  progress: (line: string) => void = () => {},
): RunningSchedule {
  const ended = new AbortController()
  stop?.addEventListener('abort', () => ended.abort(), { once: true })
  const env: FaultEnv = { cluster, network, clock, ended: ended.signal }
  const tasks = specs.map(async (spec): Promise<ScheduledFaultRecord | null> => {
    await sleepUntil(loadStartUs + spec.atMs * 1000, clock, ended.signal)
    if (stop?.aborted === true) return null
    if (ended.signal.aborted) return notInjected(spec, clock.nowUs(), 'the load ended before its time')
    progress(`fault: ${describeFault(spec)}`)
    try {
      return await (spec.kind === 'kill' || spec.kind === 'kill-leader'
        ? injectKill(spec, env)
        : injectOther(spec, env))
    } catch (err: unknown) {
      // a fault that fails is recorded; it never takes the run down
      return notInjected(spec, clock.nowUs(), (err as Error).message)
    }
  })
  return {
    done: Promise.all(tasks).then((records) =>
      records.filter((r): r is ScheduledFaultRecord => r !== null).sort((x, y) => x.atUs - y.atUs),
    ),
    end: () => ended.abort(),
  }
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

/**
 * Sleeps until `dueUs` on the run clock (or the signal aborts). A timer may fire up to a millisecond
 * before its time as the run clock reads it (Node counts timers in whole milliseconds of its loop's
 * cached time; the run clock is hrtime), which put a fault due at 3000 ms at 2999.x ms, in the
 * timeline's second 2: so this sleeps again until the clock has reached the time.
 */
export async function sleepUntil(dueUs: number, clock: RunClock, signal?: AbortSignal): Promise<void> {
  for (let leftUs = dueUs - clock.nowUs(); leftUs > 0 && signal?.aborted !== true; ) {
    await sleep(Math.max(1, Math.ceil(leftUs / 1000)), signal)
    leftUs = dueUs - clock.nowUs()
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) return resolve()
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

/** The events of every fault, in time order (a replica exit is one event). */
export function faultEvents(faults: readonly FaultRecord[]): FaultEvent[] {
  return faults
    .flatMap((f) =>
      f.kind === 'replica-exit'
        ? [{ atUs: f.atUs, what: `${f.replica} exited (code ${f.exitCode}, signal ${f.signal})` }]
        : f.error !== undefined
          ? [{ atUs: f.atUs, what: `${f.description}: not injected (${f.error})` }]
          : f.events,
    )
    .sort((a, b) => a.atUs - b.atUs)
}

/** Timeline rows with the fault events of each second (`events`: `"1.503 s: kill -9 r1"`). */
export function withFaultEvents<Row extends { readonly second: number }>(
  rows: readonly Row[],
  faults: readonly FaultRecord[],
  loadStartUs: number,
): Array<Row & { events?: string[] }> {
  const out: Array<Row & { events?: string[] }> = rows.map((r) => ({ ...r }))
  if (out.length === 0) return out
  for (const e of faultEvents(faults)) {
    const sec = (e.atUs - loadStartUs) / 1e6
    const row = out[Math.min(out.length - 1, Math.max(0, Math.floor(sec)))]!
    row.events = [...(row.events ?? []), `${sec.toFixed(3)} s: ${e.what}`]
  }
  return out
}
