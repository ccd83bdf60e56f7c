/**
 * The replicated key-value state machine. The runtime owns it; an engine decides the order and calls
 * `ctx.execute`, which lands here.
 *
 * At-most-once execution: a command id (client, seq) executes at most once, even when a client retries
 * it through another replica and it is agreed twice. The dedupe is by exact id (not "seq <= last seq"),
 * because protocols that order only conflicting commands (EPaxos, Fast Paxos per key) may execute one
 * client's commands on different keys in different orders at different replicas; a watermark rule
 * would then skip a command at one replica and apply it at another.
 *
 * Memory: per client, the seqs at or below a contiguous watermark are summarised by the watermark; only
 * seqs above a hole (a command the client abandoned and that was never agreed) are kept one by one.
 *
 * Snapshots (log compaction): `snapshot()` returns the whole state, data and client sessions, as plain
 * data in a canonical order (keys and clients sorted), so two replicas in the same state produce equal
 * snapshots; `install()` replaces the state with one. The sessions travel with the data, so a command
 * executed before the snapshot is still a duplicate after an install (at-most-once survives compaction).
 */
import type { Command, Result } from './command.ts'

interface ClientSession {
  /** every seq in 1..watermark has been executed */
  watermark: number
  /** executed seqs above the watermark */
  above: Set<number>
  lastSeq: number
  lastResult: Result
}

export interface ApplyOutcome {
  readonly result: Result
  /** true when this command id had already been executed: the state did not change */
  readonly duplicate: boolean
}

/** One client's session in a snapshot: [client, watermark, seqs above it (ascending), lastSeq, lastResult]. */
export type KvSessionSnapshot = [string, number, number[], number, Result]

/** The whole state machine as plain data (msgpack-able), in a canonical order. */
export interface KvSnapshot {
  /** [key, value], keys ascending */
  readonly data: Array<[string, string]>
  /** clients ascending */
  readonly sessions: KvSessionSnapshot[]
  /** commands executed (not counting duplicates) up to the snapshot */
  readonly applied: number
}

const byFirst = (a: [string, ...unknown[]], b: [string, ...unknown[]]): number =>
  a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0

export class KvStateMachine {
  private readonly data = new Map<string, string>()
  private readonly sessions = new Map<string, ClientSession>()
  private appliedCount = 0

  apply(cmd: Command): ApplyOutcome {
    const session = this.session(cmd.id.client)
    const seq = cmd.id.seq
    if (!Number.isInteger(seq) || seq < 1)
      throw new RangeError(`command seq must be a positive integer, got ${seq}`)
    if (seq <= session.watermark || session.above.has(seq)) {
      const result = seq === session.lastSeq ? session.lastResult : { value: null }
      return { result, duplicate: true }
    }
    let result: Result
    if (cmd.op === 'put') {
      this.data.set(cmd.key, cmd.value)
      result = { value: null }
    } else {
      result = { value: this.data.get(cmd.key) ?? null }
    }
    this.markExecuted(session, seq)
    if (seq > session.lastSeq) {
      session.lastSeq = seq
      session.lastResult = result
    }
    this.appliedCount++
    return { result, duplicate: false }
  }

  /** Whether a command id has been executed here. */
  hasExecuted(client: string, seq: number): boolean {
    const session = this.sessions.get(client)
    return session !== undefined && (seq <= session.watermark || session.above.has(seq))
  }

  read(key: string): string | null {
    return this.data.get(key) ?? null
  }

  get size(): number {
    return this.data.size
  }

  /** Commands executed (not counting duplicates). */
  get applied(): number {
    return this.appliedCount
  }

  /** The whole state (data and sessions) as plain data; equal states give equal snapshots. */
  snapshot(): KvSnapshot {
    const data: Array<[string, string]> = [...this.data.entries()].sort(byFirst)
    const sessions: KvSessionSnapshot[] = [...this.sessions.entries()]
      .map(
        ([client, s]): KvSessionSnapshot => [
          client,
          s.watermark,
          [...s.above].sort((a, b) => a - b),
          s.lastSeq,
          { ...s.lastResult },
        ],
      )
      .sort(byFirst)
    return { data, sessions, applied: this.appliedCount }
  }

  /** Replaces the whole state with a snapshot's (taken here or at another replica). */
  install(snap: KvSnapshot): void {
    if (!Array.isArray(snap.data) || !Array.isArray(snap.sessions) || !Number.isInteger(snap.applied))
      throw new TypeError('install: not a KV snapshot')
    this.data.clear()
    this.sessions.clear()
    for (const [key, value] of snap.data) this.data.set(key, value)
    for (const [client, watermark, above, lastSeq, lastResult] of snap.sessions) {
      if (above.some((seq) => seq <= watermark + 1))
        throw new RangeError(`install: session of ${client} holds a seq at or next to its watermark`)
      this.sessions.set(client, { watermark, above: new Set(above), lastSeq, lastResult: { ...lastResult } })
    }
    this.appliedCount = snap.applied
  }

  private session(client: string): ClientSession {
    let session = this.sessions.get(client)
    if (session === undefined) {
      session = { watermark: 0, above: new Set(), lastSeq: 0, lastResult: { value: null } }
      this.sessions.set(client, session)
    }
    return session
  }

  private markExecuted(session: ClientSession, seq: number): void {
    if (seq === session.watermark + 1) {
      session.watermark = seq
      while (session.above.delete(session.watermark + 1)) session.watermark++
    } else {
      session.above.add(seq)
    }
  }
}
