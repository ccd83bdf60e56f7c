/**
 * Per-key execution order across replicas, checked as it happens.
 *
 * Every replica incarnation (a restart rebuilds the KV state machine by re-execution, so each
 * incarnation is its own sequence) must execute, per key, the same writes in the same order, and each
 * read after the same number of writes. Reads of one key may be ordered differently among themselves
 * (they commute: protocols that order only conflicting commands, like EPaxos, need not agree on it).
 * So every incarnation's per-key sequence is, up to reordering of adjacent reads, a prefix of one
 * canonical sequence; at the end every replica must hold all of it.
 *
 * The check is incremental: each execution is compared with the canonical sequence at once, so a
 * divergence is reported at the event that caused it.
 *
 * Snapshots (log compaction): a snapshot taken by an incarnation (`snapshotTaken`) is remembered with
 * that incarnation's per-key sequences at that moment, keyed by the snapshot's content (snapshots are
 * canonical plain data: equal states, equal snapshots). Installing one (`installed`, from a message or
 * from storage at a restart) replaces the incarnation's sequences with the remembered ones, which were
 * themselves checked against the canonical sequence; so the incarnation goes on from the snapshot's
 * prefix. An install must be of a state some incarnation took, and must not lose a command this
 * incarnation already executed (a state machine never goes back).
 */

import type { NodeId } from '../core/command.ts'
import { type Command, commandIdKey } from '../core/command.ts'
import type { KvSnapshot } from '../core/kv.ts'

interface CanonicalKey {
  /** the writes to this key, in the agreed order */
  readonly writes: string[]
  /** read id -> how many writes precede it, and who first executed it */
  readonly readPositions: Map<string, { writesBefore: number; by: string }>
  /** who first executed each position (for messages) */
  readonly writeFirstBy: string[]
}

export interface IncarnationOrder {
  readonly node: NodeId
  readonly incarnation: number
  /** key -> command ids ('client#seq') in the order this incarnation executed them */
  readonly keys: Map<string, string[]>
  /** key -> writes executed */
  readonly writesExecuted: Map<string, number>
  readonly ids: Set<string>
  executed: number
}

/** An incarnation's sequences when it took a snapshot. */
interface TakenState {
  readonly by: string
  readonly keys: Map<string, string[]>
  readonly writesExecuted: Map<string, number>
  readonly ids: Set<string>
  readonly executed: number
}

export class ExecutionOrderLog {
  private readonly canonical = new Map<string, CanonicalKey>()
  /** snapshot content (JSON) -> the sequences of the incarnation that took it first */
  private readonly taken = new Map<string, TakenState>()
  private readonly incarnations: IncarnationOrder[] = []
  private readonly current = new Map<NodeId, IncarnationOrder>()
  /** distinct command ids executed anywhere */
  private readonly everExecuted = new Set<string>()

  /** A new (empty) sequence for a node's incarnation: call at boot and at each restart. */
  beginIncarnation(node: NodeId, incarnation: number): void {
    const order: IncarnationOrder = {
      node,
      incarnation,
      keys: new Map(),
      writesExecuted: new Map(),
      ids: new Set(),
      executed: 0,
    }
    this.incarnations.push(order)
    this.current.set(node, order)
  }

  /** Records a (non-duplicate) execution; returns a problem description when it diverges, else null. */
  record(node: NodeId, cmd: Command): string | null {
    const order = this.current.get(node)
    if (order === undefined) throw new Error(`execution at ${node} before its incarnation began`)
    const id = commandIdKey(cmd.id)
    const who = `${node}#${order.incarnation}`
    let canon = this.canonical.get(cmd.key)
    if (canon === undefined) {
      canon = { writes: [], readPositions: new Map(), writeFirstBy: [] }
      this.canonical.set(cmd.key, canon)
    }
    let seq = order.keys.get(cmd.key)
    if (seq === undefined) {
      seq = []
      order.keys.set(cmd.key, seq)
    }
    if (order.ids.has(id)) return `${who} executed ${id} twice`
    order.ids.add(id)
    seq.push(id)
    order.executed++
    this.everExecuted.add(id)
    const writesBefore = order.writesExecuted.get(cmd.key) ?? 0
    if (cmd.op === 'put') {
      order.writesExecuted.set(cmd.key, writesBefore + 1)
      const agreed = canon.writes[writesBefore]
      if (agreed === undefined) {
        canon.writes.push(id)
        canon.writeFirstBy.push(who)
        return null
      }
      if (agreed !== id) {
        return (
          `execution order diverged on key ${cmd.key}: ${who} executed write ${id} as write #${writesBefore + 1}, ` +
          `but ${canon.writeFirstBy[writesBefore]} executed ${agreed} there`
        )
      }
      return null
    }
    const agreedPosition = canon.readPositions.get(id)
    if (agreedPosition === undefined) {
      canon.readPositions.set(id, { writesBefore, by: who })
      return null
    }
    if (agreedPosition.writesBefore !== writesBefore) {
      return (
        `execution order diverged on key ${cmd.key}: ${who} executed read ${id} after ${writesBefore} writes, ` +
        `${agreedPosition.by} after ${agreedPosition.writesBefore}`
      )
    }
    return null
  }

  /** A node's current incarnation took a snapshot of its state machine; returns a problem or null. */
  snapshotTaken(node: NodeId, snap: KvSnapshot): string | null {
    const order = this.currentOf(node)
    const who = `${node}#${order.incarnation}`
    if (snap.applied !== order.executed)
      return `${who} took a snapshot of ${snap.applied} executed commands, but executed ${order.executed}`
    const content = JSON.stringify(snap)
    if (!this.taken.has(content))
      this.taken.set(content, {
        by: who,
        keys: new Map([...order.keys].map(([k, ids]) => [k, [...ids]])),
        writesExecuted: new Map(order.writesExecuted),
        ids: new Set(order.ids),
        executed: order.executed,
      })
    return null
  }

  /**
   * A node's current incarnation replaced its state machine with a snapshot: from here on its sequences
   * are those of the incarnation that took it. Returns a problem or null.
   */
  installed(node: NodeId, snap: KvSnapshot): string | null {
    const order = this.currentOf(node)
    const who = `${node}#${order.incarnation}`
    const state = this.taken.get(JSON.stringify(snap))
    if (state === undefined)
      return `${who} installed a snapshot no replica took (${snap.applied} commands, ${snap.data.length} keys)`
    const lost = [...order.ids].filter((id) => !state.ids.has(id))
    if (lost.length > 0)
      return (
        `${who} installed a snapshot (taken by ${state.by}) without ${lost.length} command(s) it had executed: ` +
        `${lost.slice(0, 5).join(', ')} (its state went back)`
      )
    order.keys.clear()
    for (const [k, ids] of state.keys) order.keys.set(k, [...ids])
    order.writesExecuted.clear()
    for (const [k, n] of state.writesExecuted) order.writesExecuted.set(k, n)
    order.ids.clear()
    for (const id of state.ids) order.ids.add(id)
    order.executed = state.executed
    return null
  }

  private currentOf(node: NodeId): IncarnationOrder {
    const order = this.current.get(node)
    if (order === undefined) throw new Error(`snapshot at ${node} before its incarnation began`)
    return order
  }

  /** How many distinct commands were executed anywhere (by any incarnation). */
  get distinctExecuted(): number {
    return this.everExecuted.size
  }

  /** Commands executed by a node's current incarnation. */
  executedBy(node: NodeId): number {
    return this.current.get(node)?.executed ?? 0
  }

  /**
   * Every current incarnation holds every command executed anywhere. An incarnation's commands are a
   * subset of all commands ever executed, so equal counts mean equal sets; with the prefix check
   * already passed, per-key sequences are then equal (up to the order of adjacent reads).
   */
  converged(nodes: readonly NodeId[]): boolean {
    return nodes.every((n) => this.executedBy(n) === this.everExecuted.size)
  }

  /** What the current incarnations miss, for liveness messages. */
  lagging(nodes: readonly NodeId[]): string[] {
    return nodes
      .filter((n) => this.executedBy(n) !== this.everExecuted.size)
      .map(
        (n) =>
          `${n} executed ${this.executedBy(n)} of the ${this.everExecuted.size} commands executed anywhere`,
      )
  }

  /** Commands some incarnation executed that no current incarnation holds. */
  heldByNone(nodes: readonly NodeId[]): string[] {
    const current = nodes.map((n) => this.current.get(n)).filter((o) => o !== undefined)
    return [...this.everExecuted].filter((id) => !current.some((o) => o.ids.has(id)))
  }

  /** Every incarnation's per-key sequence, as plain data. */
  snapshot(): ExecutionOrder[] {
    return this.incarnations.map((o) => ({
      node: o.node,
      incarnation: o.incarnation,
      keys: Object.fromEntries([...o.keys.entries()].map(([k, ids]) => [k, [...ids]])),
    }))
  }
}

export interface ExecutionOrder {
  readonly node: NodeId
  readonly incarnation: number
  /** key -> command ids ('client#seq') in execution order */
  readonly keys: Readonly<Record<string, readonly string[]>>
}
