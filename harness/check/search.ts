/**
 * Linearizability of ONE key's history against a register (initial value null), by the Wing & Gong
 * search with Lowe's memoisation, as Porcupine does it: walk a time-ordered list of call and return
 * entries, linearize any call that precedes the first pending return, backtrack on a return whose op is
 * not linearized yet, and never revisit a (set of linearized ops, register value) pair.
 *
 * Before the search the history is reduced without changing its verdict (each step is argued below):
 * failed ops and unanswered gets are dropped, unanswered puts whose value nobody read are dropped, and an
 * unanswered put that is the only writer of its value gets the earliest completion of its readers.
 */
import type { HistoryOp } from './history.ts'

export type KeySearchResult =
  | { readonly verdict: 'linearizable' }
  | { readonly verdict: 'violation'; readonly message: string }
  | { readonly verdict: 'unknown' }

/** How many search steps run between two looks at the clock. */
const stepsPerClockCheck = 1024

/** An op reduced to what the search needs; values are interned per key (0 = null). */
interface SearchOp {
  readonly source: HistoryOp
  readonly isPut: boolean
  readonly valueId: number
  readonly invokeUs: number
  /** Infinity: an unanswered put that may take effect at any time after invocation, or never */
  readonly completeUs: number
}

/** Two timestamps: an op precedes another iff it completed strictly before the other was invoked. */
export function precedes(a: { completeUs: number }, b: { invokeUs: number }): boolean {
  return a.completeUs < b.invokeUs
}

/**
 * Decides one key's history. `deadlineMs` is a performance.now() value; past it the answer is 'unknown'.
 * All ops must be on the same key (the caller partitions; P-compositionality makes that sound).
 */
export function checkKeyHistory(ops: readonly HistoryOp[], deadlineMs: number): KeySearchResult {
  const unwritten = readOfUnwrittenValue(ops)
  if (unwritten !== undefined) {
    return {
      verdict: 'violation',
      message:
        `get ${unwritten.client}#${unwritten.seq} on key ${JSON.stringify(unwritten.key)} read ` +
        `${JSON.stringify(unwritten.value)}, a value no put wrote (or only puts that failed)`,
    }
  }
  const values = new ValueTable()
  const prepared = prepareOps(ops, values)
  return search(prepared, values, deadlineMs)
}

/** An ok get of a non-null value that no put which may have taken effect wrote: decided without search. */
function readOfUnwrittenValue(ops: readonly HistoryOp[]): HistoryOp | undefined {
  const written = new Set<string | null>()
  for (const op of ops) if (op.op === 'put' && op.outcome !== 'fail') written.add(op.value)
  return ops.find(
    (op) => op.op === 'get' && op.outcome === 'ok' && op.value !== null && !written.has(op.value),
  )
}

/** The value id every put whose value no get read shares (null is 0, read values are 1, 2, ...) */
const unreadValueId = -1

class ValueTable {
  private readonly ids = new Map<string, number>()
  private readonly names: Array<string | null> = [null]
  get size(): number {
    return this.names.length
  }
  id(value: string | null): number {
    if (value === null) return 0
    let id = this.ids.get(value)
    if (id === undefined) {
      id = this.names.length
      this.ids.set(value, id)
      this.names.push(value)
    }
    return id
  }
  name(id: number): string | null {
    if (id === unreadValueId) return '(a value no get read)'
    const name = this.names[id]
    if (name === undefined) throw new Error(`no value with id ${id}`)
    return name
  }
}

function prepareOps(ops: readonly HistoryOp[], values: ValueTable): SearchOp[] {
  const readIds = new Set<number>()
  const writersPerValue = new Map<number, number>()
  /** the earliest completion of an ok get that read each value: a unique writer precedes all its reads */
  const firstReadCompleteUs = new Map<number, number>()
  for (const op of ops) {
    if (op.outcome === 'fail') continue
    const valueId = values.id(op.value)
    if (op.op === 'put') {
      writersPerValue.set(valueId, (writersPerValue.get(valueId) ?? 0) + 1)
    } else if (op.outcome === 'ok') {
      readIds.add(valueId)
      const completeUs = requireCompletion(op)
      firstReadCompleteUs.set(valueId, Math.min(firstReadCompleteUs.get(valueId) ?? Infinity, completeUs))
    }
  }

  const prepared: SearchOp[] = []
  for (const op of ops) {
    // A failed op never took effect; an unanswered get constrains nothing (it may be dropped).
    if (op.outcome === 'fail') continue
    if (op.op === 'get' && op.outcome === 'unknown') continue
    const valueId = values.id(op.value)
    if (op.outcome === 'ok') {
      const isPut = op.op === 'put'
      // Values no get read are all alike to the search: one id makes more configurations coincide.
      const searchValueId = isPut && !readIds.has(valueId) ? unreadValueId : valueId
      prepared.push({
        source: op,
        isPut,
        valueId: searchValueId,
        invokeUs: op.invokeUs,
        completeUs: requireCompletion(op),
      })
      continue
    }
    // An unanswered put whose value no get read can always be left out: in any linearization that
    // includes it, the ops between it and the next put are gets of its value, and there are none.
    if (!readIds.has(valueId)) continue
    // The only writer of a (non-null) value must take effect before every get that read it, so it must
    // be linearized before the earliest such get completes: a real-time bound like a completion.
    const uniqueWriter = valueId !== 0 && writersPerValue.get(valueId) === 1
    const completeUs = uniqueWriter ? (firstReadCompleteUs.get(valueId) ?? Infinity) : Infinity
    prepared.push({ source: op, isPut: true, valueId, invokeUs: op.invokeUs, completeUs })
  }
  return prepared
}

function requireCompletion(op: HistoryOp): number {
  if (op.completeUs === null) {
    throw new Error(`op ${op.client}#${op.seq} has outcome 'ok' but completeUs null`)
  }
  if (op.completeUs < op.invokeUs) {
    throw new Error(
      `op ${op.client}#${op.seq} completes (${op.completeUs}) before it is invoked (${op.invokeUs})`,
    )
  }
  return op.completeUs
}

function search(unordered: SearchOp[], values: ValueTable, deadlineMs: number): KeySearchResult {
  // Index ops so the linearized set is compact to encode: ops that must be linearized (finite
  // completion) first, in invocation order, then the optional ones (unanswered puts, usually few).
  const mandatory = unordered.filter((o) => o.completeUs !== Infinity)
  const optional = unordered.filter((o) => o.completeUs === Infinity)
  const byInvoke = (a: SearchOp, b: SearchOp) => a.invokeUs - b.invokeUs || a.completeUs - b.completeUs
  mandatory.sort(byInvoke)
  optional.sort(byInvoke)
  const ops = [...mandatory, ...optional]
  const n = ops.length
  const m = mandatory.length
  if (m === 0) return { verdict: 'linearizable' }

  // Entries: call of op i is 2i, return of op i is 2i+1 (mandatory ops only), head sentinel is 2n.
  // Time order; at equal times calls come first, so touching intervals count as concurrent.
  const entries: number[] = []
  for (let i = 0; i < n; i++) {
    entries.push(2 * i)
    if (i < m) entries.push(2 * i + 1)
  }
  const entryTime = (e: number) => {
    const op = ops[e >> 1]!
    return e & 1 ? op.completeUs : op.invokeUs
  }
  entries.sort((a, b) => entryTime(a) - entryTime(b) || (a & 1) - (b & 1) || a - b)
  const head = 2 * n
  const next = new Int32Array(2 * n + 1).fill(-1)
  const prev = new Int32Array(2 * n + 1).fill(-1)
  let last = head
  for (const e of entries) {
    next[last] = e
    prev[e] = last
    last = e
  }

  // Dancing links: unlink call then return; relink in the reverse order.
  const unlink = (e: number) => {
    const p = prev[e]!
    const q = next[e]!
    next[p] = q
    if (q !== -1) prev[q] = p
  }
  const relink = (e: number) => {
    const p = prev[e]!
    const q = next[e]!
    next[p] = e
    if (q !== -1) prev[q] = e
  }
  // Per value (index valueId + 1): how many ops not yet linearized read it, and write it.
  const pendingReads = new Int32Array(values.size + 1)
  const pendingWrites = new Int32Array(values.size + 1)
  for (const op of ops) {
    if (op.isPut) pendingWrites[op.valueId + 1]!++
    else pendingReads[op.valueId + 1]!++
  }
  const lift = (i: number) => {
    unlink(2 * i)
    if (i < m) unlink(2 * i + 1)
    const op = ops[i]!
    if (op.isPut) pendingWrites[op.valueId + 1]!--
    else pendingReads[op.valueId + 1]!--
  }
  const unlift = (i: number) => {
    if (i < m) relink(2 * i + 1)
    relink(2 * i)
    const op = ops[i]!
    if (op.isPut) pendingWrites[op.valueId + 1]!++
    else pendingReads[op.valueId + 1]!++
  }
  /**
   * A put may go next only if no pending get still needs the current value, or the value may be
   * written again later: otherwise that get could never be linearized, so the branch is dead.
   */
  const mayOverwrite = (): boolean => pendingReads[state + 1] === 0 || pendingWrites[state + 1]! > 0

  // The linearized set: a prefix [0, prefixEnd) of the mandatory ops plus a few beyond it.
  const linearized = new Uint8Array(n)
  let prefixEnd = 0
  let mandatoryDone = 0
  const setLinearized = (i: number) => {
    linearized[i] = 1
    if (i < m) {
      mandatoryDone++
      while (prefixEnd < m && linearized[prefixEnd] === 1) prefixEnd++
    }
  }
  const clearLinearized = (i: number) => {
    linearized[i] = 0
    if (i < m) {
      mandatoryDone--
      if (i < prefixEnd) prefixEnd = i
    }
  }
  const cacheKey = (state: number): string => {
    let key = state + ':' + prefixEnd
    let beyond = mandatoryDone - prefixEnd
    for (let j = prefixEnd + 1; beyond > 0; j++) {
      if (linearized[j] === 1) {
        key += String.fromCharCode((j - prefixEnd) & 0xffff, (j - prefixEnd) >>> 16)
        beyond--
      }
    }
    if (m < n) {
      key += '|'
      for (let j = m; j < n; j++) if (linearized[j] === 1) key += String.fromCharCode(j & 0xffff, j >>> 16)
    }
    return key
  }

  const visited = new Set<string>()
  const stackOp = new Int32Array(n)
  const stackState = new Int32Array(n)
  /** 1: a get taken greedily (no alternative to try when backtracking past it) */
  const stackForced = new Uint8Array(n)
  let depth = 0
  let state = 0
  let steps = 0
  // for the message: the deepest point reached and the op whose completion stopped it
  let deepest = -1
  let blockedOp = -1
  let blockedState = 0
  const noChoiceLeft = -2

  /** Linearizes op i next, unless that configuration was explored before (then it failed): false. */
  const tryPush = (i: number, nextState: number, forced: boolean): boolean => {
    setLinearized(i)
    const key = cacheKey(nextState)
    if (visited.has(key)) {
      clearLinearized(i)
      return false
    }
    visited.add(key)
    lift(i)
    stackOp[depth] = i
    stackState[depth] = state
    stackForced[depth] = forced ? 1 : 0
    depth++
    state = nextState
    return true
  }

  /**
   * Takes every get that may go next and reads the register's current value. No choice is lost: any
   * linearization of the remaining ops can be rearranged to start with such a get (no remaining op must
   * precede it, and it changes nothing). This turns a search over every interleaving of concurrent gets
   * into one over the order of concurrent puts. false: it reached an explored (failed) configuration.
   */
  const takeGreedyGets = (): boolean => {
    let e = next[head]!
    while (e !== -1 && (e & 1) === 0) {
      const op = ops[e >> 1]!
      if (!op.isPut && op.valueId === state) {
        if (!tryPush(e >> 1, state, true)) return false
        e = next[head]!
      } else {
        e = next[e]!
      }
    }
    return true
  }

  /** The current configuration failed: undo back to the last free choice and resume after it. */
  const backtrack = (): number => {
    while (depth > 0) {
      depth--
      const i = stackOp[depth]!
      state = stackState[depth]!
      unlift(i)
      clearLinearized(i)
      if (stackForced[depth] === 0) return next[2 * i]!
    }
    return noChoiceLeft
  }

  const violation = (): KeySearchResult => ({
    verdict: 'violation',
    message: describeBlock(ops, values, m, deepest, blockedOp, blockedState),
  })

  let entry = takeGreedyGets() ? next[head]! : noChoiceLeft
  while (mandatoryDone < m) {
    if (entry === noChoiceLeft) return violation()
    if (++steps % stepsPerClockCheck === 0 && performance.now() > deadlineMs) return { verdict: 'unknown' }
    if (entry !== -1 && (entry & 1) === 0) {
      // A call before the first pending return: its op may go next. Gets that could go were taken.
      const i = entry >> 1
      const op = ops[i]!
      if (op.isPut && mayOverwrite() && tryPush(i, op.valueId, false)) {
        entry = takeGreedyGets() ? next[head]! : backtrack()
      } else {
        entry = next[entry]!
      }
      continue
    }
    // A return entry: its op had to be linearized by now and was not, so this configuration fails.
    if (entry === -1) throw new Error('search reached the end of the list with mandatory ops left')
    if (depth > deepest) {
      deepest = depth
      blockedOp = entry >> 1
      blockedState = state
    }
    entry = backtrack()
  }
  return { verdict: 'linearizable' }
}

function describeBlock(
  ops: SearchOp[],
  values: ValueTable,
  mandatoryCount: number,
  deepest: number,
  blockedOp: number,
  blockedState: number,
): string {
  const searchOp = ops[blockedOp]!
  const op = searchOp.source
  const held = JSON.stringify(values.name(blockedState))
  const what =
    op.op === 'get'
      ? `get ${op.client}#${op.seq} read ${JSON.stringify(op.value)}`
      : `put ${op.client}#${op.seq} of ${JSON.stringify(op.value)}`
  return (
    `no order of the ${mandatoryCount} ops that must take effect on key ${JSON.stringify(op.key)} respects ` +
    `both real time and register semantics; the deepest attempt placed ${deepest} of them, then reached ` +
    `the deadline (${searchOp.completeUs}us) of ${what} without being able to place it (the register held ${held})`
  )
}
