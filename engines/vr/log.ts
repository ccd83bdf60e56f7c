/**
 * The replica state VR keeps across a restart, and how it is written (README "Durability"): view,
 * status, last normal view (one key), the log (one key per op) and the commit-number.
 *
 * In 'durable' mode every change is written in the handler that makes it, so it is on disk before that
 * handler's messages leave (the host groups a handler's writes). In 'volatile' mode (the paper's VRR)
 * nothing but a boot marker is written: a restarted replica knows it lost its state and recovers it from
 * its peers (sec. 4.3).
 */
import { commandIdKey } from '../core/command.ts'
import type { Storage } from '../core/engine.ts'
import type { Op } from './messages.ts'

export type VrStatus = 'normal' | 'view-change' | 'recovering'

interface StoredMeta {
  readonly view: number
  readonly status: 'normal' | 'view-change'
  readonly lastNormalView: number
}

const KEY_BOOTED = 'vr/booted'
const KEY_META = 'vr/meta'
const KEY_COMMIT = 'vr/commit'
const OP_PREFIX = 'vr/op/'

function opKey(opNumber: number): string {
  return `${OP_PREFIX}${String(opNumber).padStart(12, '0')}`
}

/** Same commands in the same order (a client command id names one command). */
export function sameOp(a: Op, b: Op): boolean {
  if (a.commands.length !== b.commands.length) return false
  return a.commands.every((cmd, i) => commandIdKey(cmd.id) === commandIdKey(b.commands[i]!.id))
}

/** What start() found in storage. */
export type BootKind = 'first-boot' | 'restored' | 'state-lost'

export class VrLog {
  view = 0
  status: VrStatus = 'normal'
  lastNormalView = 0
  commitNumber = 0
  private readonly entries: Op[] = []

  private constructor(
    private readonly storage: Storage,
    private readonly durable: boolean,
  ) {}

  /** Loads what survived; a first boot writes the boot marker (and, when durable, the initial view). */
  static load(storage: Storage, durable: boolean, initialView: number): { log: VrLog; boot: BootKind } {
    const log = new VrLog(storage, durable)
    const meta = durable ? storage.get<StoredMeta>(KEY_META) : undefined
    if (meta !== undefined) {
      log.view = meta.view
      log.status = meta.status
      log.lastNormalView = meta.lastNormalView
      for (const [, op] of storage.scan<Op>(OP_PREFIX)) log.entries.push(op)
      log.commitNumber = Math.min(storage.get<number>(KEY_COMMIT) ?? 0, log.entries.length)
      return { log, boot: 'restored' }
    }
    if (storage.get<boolean>(KEY_BOOTED) === true) {
      log.status = 'recovering'
      return { log, boot: 'state-lost' }
    }
    storage.put(KEY_BOOTED, true)
    log.setView(initialView, 'normal')
    return { log, boot: 'first-boot' }
  }

  get opNumber(): number {
    return this.entries.length
  }

  /** op n (1-based), or undefined */
  op(opNumber: number): Op | undefined {
    return this.entries[opNumber - 1]
  }

  /** ops fromOpNumber+1 .. toOpNumber, as a fresh array */
  slice(fromOpNumber: number, toOpNumber = this.entries.length): Op[] {
    return this.entries.slice(fromOpNumber, toOpNumber)
  }

  /** Enters `view` with `status`; normal status also makes it the last normal view. */
  setView(view: number, status: 'normal' | 'view-change'): void {
    if (view < this.view) throw new Error(`internal: view ${view} below current ${this.view}`)
    this.view = view
    this.status = status
    if (status === 'normal') this.lastNormalView = view
    this.persistMeta()
  }

  /** A recovering replica (volatile) adopts what its peers told it; nothing is written. */
  adoptRecovered(view: number, ops: readonly Op[], commitNumber: number): void {
    this.view = view
    this.status = 'normal'
    this.lastNormalView = view
    this.entries.length = 0
    this.entries.push(...ops)
    this.commitNumber = Math.min(commitNumber, ops.length)
  }

  append(op: Op): void {
    this.entries.push(op)
    if (this.durable) this.storage.put(opKey(this.entries.length), op)
  }

  /** Drops every op above opNumber (never a committed one). */
  truncate(opNumber: number): void {
    if (opNumber < this.commitNumber) throw new Error(`internal: truncating committed op ${opNumber + 1}`)
    this.truncateUnchecked(opNumber)
  }

  /**
   * Replaces the ops after `fromOpNumber` with `ops` (a new view's log). The caller knows ops up to
   * fromOpNumber are committed here, so they are the new view's too. The first `executed` ops are
   * committed and must be unchanged: one that differs means the protocol broke.
   */
  replaceSuffix(fromOpNumber: number, ops: readonly Op[], executed: number): void {
    if (fromOpNumber > this.entries.length || fromOpNumber > this.commitNumber)
      throw new Error(`internal: new log from op ${fromOpNumber + 1} leaves a hole or an uncommitted prefix`)
    const length = fromOpNumber + ops.length
    if (length < executed) throw new Error(`safety: new log of ${length} ops drops executed ops`)
    this.overwrite(fromOpNumber, ops, executed)
    this.truncateUnchecked(length)
  }

  /**
   * Committed ops from a peer (state transfer while our log may hold other, uncommitted ops at those
   * positions, from an older view): they overwrite ours, the ops above them stay, and the
   * commit-number moves to the last of them.
   */
  installCommitted(fromOpNumber: number, ops: readonly Op[], executed: number): void {
    if (fromOpNumber > this.commitNumber) throw new Error('internal: committed ops leave a hole')
    this.overwrite(fromOpNumber, ops, executed)
    this.setCommitNumber(Math.max(this.commitNumber, fromOpNumber + ops.length))
  }

  private overwrite(fromOpNumber: number, ops: readonly Op[], executed: number): void {
    for (let i = 0; i < ops.length; i++) {
      const position = fromOpNumber + i // 0-based index of op fromOpNumber + i + 1
      const mine = this.entries[position]
      if (mine !== undefined && sameOp(mine, ops[i]!)) continue
      if (position < executed) throw new Error(`safety: executed op ${position + 1} differs in new log`)
      this.entries[position] = ops[i]!
      if (this.durable) this.storage.put(opKey(position + 1), ops[i])
    }
  }

  setCommitNumber(commitNumber: number): void {
    if (commitNumber < this.commitNumber) throw new Error('internal: commit-number moved back')
    if (commitNumber > this.entries.length)
      throw new Error(`internal: commit-number ${commitNumber} beyond op-number ${this.entries.length}`)
    if (commitNumber === this.commitNumber) return
    this.commitNumber = commitNumber
    if (this.durable) this.storage.put(KEY_COMMIT, commitNumber)
  }

  assertInvariants(): void {
    if (this.commitNumber > this.entries.length) throw new Error('invariant: commit-number beyond the log')
    if (this.lastNormalView > this.view) throw new Error('invariant: last normal view above view')
    if (this.status === 'normal' && this.lastNormalView !== this.view)
      throw new Error('invariant: normal status outside the last normal view')
  }

  private truncateUnchecked(opNumber: number): void {
    while (this.entries.length > opNumber) {
      if (this.durable) this.storage.delete(opKey(this.entries.length))
      this.entries.pop()
    }
  }

  private persistMeta(): void {
    if (!this.durable || this.status === 'recovering') return
    const meta: StoredMeta = { view: this.view, status: this.status, lastNormalView: this.lastNormalView }
    this.storage.put(KEY_META, meta)
  }
}
