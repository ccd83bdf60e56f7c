/**
 * The durable instance space of one replica (SOSP'13 section 4.1: "each replica maintains ... the
 * instances of every replica"), and the per-key conflict index that computes dependencies.
 *
 * Every mutation writes through to storage in the same handler, so it is durable before any message
 * the handler sends (persist, then send: a PreAcceptOK never leaves before its PreAccept is on disk,
 * efficient/epaxos #28). A committed record never changes again (asserted).
 *
 * Dependencies (section 4.3, interference = same key and at least one write). For a command C on key k
 * this replica walks, per command leader q, q's instances on k from the highest number down, adds each
 * one that interferes with C, and stops after the first write on k it knows committed. That write covers
 * the rest of q's column: its committed deps contain (by the same walk at q, which knows all of its own
 * instances) every earlier instance of q on k, or a committed write that covers them, so a path in the
 * dependency graph leads from C to each of them. The walk stops only at a *committed* write because an
 * uncommitted one may still become a no-op in recovery, and a no-op covers nothing. Entries below a
 * committed write are pruned from the index (the walk never reaches them again).
 */
import { type Ballot, compareBallots } from '../core/ballot.ts'
import { type Command, isWrite, type NodeId, sameCommandId } from '../core/command.ts'
import type { Storage } from '../core/engine.ts'
import { compareInstanceIds, parseInstanceId } from './instance-id.ts'
import type { InstanceReport, InstanceStatus } from './messages.ts'

const PREFIX = 'ep/i/'

export interface InstanceRecord {
  readonly id: string
  /** 'none': only a promise is known (a Prepare arrived for an instance never seen) */
  readonly status: InstanceStatus | 'none'
  readonly cmd: Command | null
  readonly seq: number
  readonly deps: readonly string[]
  /** the highest ballot promised for this instance */
  readonly ballot: Ballot
  /** the ballot at which the attributes were recorded */
  readonly vballot: Ballot
  /** preaccepted at the default ballot with exactly the command leader's attributes */
  readonly unchanged: boolean
}

export interface Attributes {
  readonly seq: number
  readonly deps: readonly string[]
}

/** The ballot the command leader uses for its own instance: round 0, owned by the leader. */
export function defaultBallot(id: string): Ballot {
  return { round: 0, node: parseInstanceId(id).leader }
}

export function sortedDeps(deps: Iterable<string>): string[] {
  return [...new Set(deps)].sort(compareInstanceIds)
}

export function sameDeps(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false
  const set = new Set(a)
  return b.every((d) => set.has(d))
}

export function sameCommand(a: Command | null, b: Command | null): boolean {
  if (a === null || b === null) return a === b
  if (!sameCommandId(a.id, b.id) || a.op !== b.op || a.key !== b.key) return false
  return a.op === 'get' || (b.op === 'put' && a.value === b.value)
}

export class InstanceStore {
  private readonly records = new Map<string, InstanceRecord>()
  /** key -> command leader -> instance numbers on that key (ascending), above the last committed write */
  private readonly index = new Map<string, Map<NodeId, number[]>>()
  /** per command leader, the highest instance number recorded here */
  private readonly maxByLeader = new Map<NodeId, number>()
  private committedCount = 0

  private constructor(private readonly storage: Storage) {}

  static load(storage: Storage): InstanceStore {
    const store = new InstanceStore(storage)
    for (const [, rec] of storage.scan<InstanceRecord>(PREFIX)) store.install(rec)
    return store
  }

  get(id: string): InstanceRecord | undefined {
    return this.records.get(id)
  }

  all(): IterableIterator<InstanceRecord> {
    return this.records.values()
  }

  get committed(): number {
    return this.committedCount
  }

  maxNumber(leader: NodeId): number {
    return this.maxByLeader.get(leader) ?? -1
  }

  /** The promised ballot (the default ballot for an instance never seen). */
  promised(id: string): Ballot {
    return this.records.get(id)?.ballot ?? defaultBallot(id)
  }

  /** What a recovering replica is told about this instance (null: nothing but maybe a promise). */
  report(id: string): InstanceReport | null {
    const rec = this.records.get(id)
    if (rec === undefined || rec.status === 'none') return null
    const { status, cmd, seq, deps, vballot, unchanged } = rec
    return { status, cmd, seq, deps, vballot, unchanged }
  }

  /** Raises the promise for an instance (durably); never lowers it. */
  promise(id: string, ballot: Ballot): void {
    const rec = this.records.get(id)
    if (rec !== undefined && compareBallots(ballot, rec.ballot) <= 0) return
    const base: InstanceRecord = rec ?? {
      id,
      status: 'none',
      cmd: null,
      seq: 0,
      deps: [],
      ballot,
      vballot: defaultBallot(id),
      unchanged: false,
    }
    this.write({ ...base, ballot })
  }

  /** Records preaccepted or accepted attributes (durably). Never called on a committed instance. */
  record(rec: InstanceRecord): void {
    if (rec.status === 'committed') throw new Error(`internal: record() used to commit ${rec.id}`)
    const old = this.records.get(rec.id)
    if (old?.status === 'committed') throw new Error(`internal: committed instance ${rec.id} rewritten`)
    if (old !== undefined && compareBallots(rec.ballot, old.ballot) < 0)
      throw new Error(`internal: ${rec.id} recorded below its promise`)
    this.write(rec)
  }

  /** Commits an instance (durably). Returns false when it was already committed with these attributes. */
  commit(id: string, cmd: Command | null, seq: number, deps: readonly string[]): boolean {
    const old = this.records.get(id)
    if (old?.status === 'committed') {
      if (!sameCommand(old.cmd, cmd) || old.seq !== seq || !sameDeps(old.deps, deps))
        throw new Error(`agreement violated: ${id} committed twice with different attributes`)
      return false
    }
    this.write({
      id,
      status: 'committed',
      cmd,
      seq,
      deps: sortedDeps(deps),
      ballot: old?.ballot ?? defaultBallot(id),
      vballot: old?.vballot ?? defaultBallot(id),
      unchanged: false,
    })
    return true
  }

  /**
   * The attributes this replica gives command `cmd` of instance `id`: at least `base` (the leader's),
   * plus every interfering instance the per-leader walk finds (see the file comment), with seq above
   * theirs.
   */
  attributes(
    id: string,
    cmd: Command,
    base: Attributes = { seq: 0, deps: [] },
  ): { seq: number; deps: string[] } {
    const deps = new Set(base.deps)
    let seq = Math.max(base.seq, 1)
    const columns = this.index.get(cmd.key)
    for (const [leader, numbers] of columns ?? []) {
      for (let i = numbers.length - 1; i >= 0; i--) {
        const other = this.records.get(`${leader}.${numbers[i]}`)!
        if (other.id === id || other.cmd === null) continue
        if (isWrite(cmd) || isWrite(other.cmd)) {
          deps.add(other.id)
          seq = Math.max(seq, other.seq + 1)
        }
        if (isWrite(other.cmd) && other.status === 'committed') break
      }
    }
    deps.delete(id)
    return { seq, deps: sortedDeps(deps) }
  }

  /**
   * TryPreAccept's check (tech report, explicit prepare): every instance known here that interferes
   * with `cmd` and is ordered with instance `id` neither way, if `id` committed with `deps`. Ordered
   * means: `deps` reaches it (it is in `deps`, or a write of its leader on the key with a higher number
   * is in `deps` and committed here, whose committed deps cover the rest of that leader's column), or it
   * is committed here with `id` in its deps (or a committed write of `id`'s leader above `id`, which
   * covers `id`). Scans every record (not the pruned index: an instance below a committed write that
   * only reaches `id` is not covered). TryPreAccept is rare, so the scan's cost does not matter.
   */
  tryPreAcceptConflicts(id: string, cmd: Command, deps: readonly string[]): InstanceRecord[] {
    const inDeps = new Set(deps)
    const covers = (from: readonly string[], target: string): boolean => {
      const t = parseInstanceId(target)
      return from.some((x) => {
        if (x === target) return true
        const p = parseInstanceId(x)
        return p.leader === t.leader && p.n > t.n && this.isCommittedWriteOn(x, cmd.key)
      })
    }
    const out: InstanceRecord[] = []
    for (const rec of this.records.values()) {
      if (rec.id === id || rec.cmd === null || rec.status === 'none' || rec.cmd.key !== cmd.key) continue
      if (!isWrite(cmd) && !isWrite(rec.cmd)) continue
      if (inDeps.has(rec.id) || covers(deps, rec.id)) continue
      if (rec.status === 'committed' && covers(rec.deps, id)) continue
      out.push(rec)
    }
    return out
  }

  private isCommittedWriteOn(id: string, key: string): boolean {
    return this.isCommittedWrite(id) && this.records.get(id)!.cmd!.key === key
  }

  private write(rec: InstanceRecord): void {
    this.storage.put(PREFIX + rec.id, rec)
    this.install(rec)
  }

  private install(rec: InstanceRecord): void {
    const old = this.records.get(rec.id)
    if (old?.status !== 'committed' && rec.status === 'committed') this.committedCount++
    this.records.set(rec.id, rec)
    const { leader, n } = parseInstanceId(rec.id)
    if (n > this.maxNumber(leader)) this.maxByLeader.set(leader, n)
    if (old?.cmd != null && rec.cmd === null) this.unindex(old.cmd.key, leader, n)
    if (rec.cmd === null) return
    const numbers = this.column(rec.cmd.key, leader)
    const covered = numbers.some((m) => m > n && this.isCommittedWrite(`${leader}.${m}`))
    if (!covered && !numbers.includes(n)) {
      numbers.push(n)
      numbers.sort((a, b) => a - b)
    }
    // everything below a committed write is covered by it: the walk never goes there again
    if (rec.status === 'committed' && isWrite(rec.cmd)) {
      const at = numbers.indexOf(n)
      if (at > 0) numbers.splice(0, at)
    }
  }

  private isCommittedWrite(id: string): boolean {
    const rec = this.records.get(id)
    return rec !== undefined && rec.status === 'committed' && rec.cmd !== null && isWrite(rec.cmd)
  }

  private column(key: string, leader: NodeId): number[] {
    let columns = this.index.get(key)
    if (columns === undefined) {
      columns = new Map()
      this.index.set(key, columns)
    }
    let numbers = columns.get(leader)
    if (numbers === undefined) {
      numbers = []
      columns.set(leader, numbers)
    }
    return numbers
  }

  private unindex(key: string, leader: NodeId, n: number): void {
    const numbers = this.index.get(key)?.get(leader)
    const at = numbers?.indexOf(n) ?? -1
    if (at >= 0) numbers!.splice(at, 1)
  }
}
