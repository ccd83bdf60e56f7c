/**
 * Linearizability of ONE key's prepared history against a register (initial value null), by the Wing &
 * Gong search with Lowe's memoisation, as Porcupine does it: walk a time-ordered list of call and return
 * entries, linearize any call that precedes the first pending return, backtrack on a return whose op is
 * not linearized yet, and never revisit a (set of linearized ops, register value) pair. Two register
 * facts prune it (argued in place): gets that can go next are taken without branching, and a put may
 * not overwrite a value some pending get still has to read.
 */
import type { KeyVerdict, PreparedOp, ValueTable } from './prepare.ts'

/** How many search steps run between two looks at the clock. */
const stepsPerClockCheck = 1024
/** A bound on memory: past this many remembered configurations the answer is 'unknown'. */
export const maxVisitedConfigurations = 2_000_000

export function searchKey(unordered: PreparedOp[], values: ValueTable, deadlineMs: number): KeyVerdict {
  // Index ops so the linearized set is compact to encode: ops that must be linearized (finite
  // completion) first, in invocation order, then the optional ones (unanswered puts, usually few).
  const mandatory = unordered.filter((o) => o.completeUs !== Infinity)
  const optional = unordered.filter((o) => o.completeUs === Infinity)
  const byInvoke = (a: PreparedOp, b: PreparedOp) => a.invokeUs - b.invokeUs || a.completeUs - b.completeUs
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
  // Per value (index valueId + 1): how many ops not yet linearized read it, and write it; and its
  // readers by completion and writers by invocation, with a cursor at the first one not linearized.
  const pendingReads = new Int32Array(values.size + 1)
  const pendingWrites = new Int32Array(values.size + 1)
  const readersByComplete: number[][] = Array.from({ length: values.size + 1 }, () => [])
  const writersByInvoke: number[][] = Array.from({ length: values.size + 1 }, () => [])
  for (const [i, op] of ops.entries()) {
    if (op.isPut) {
      pendingWrites[op.valueId + 1]!++
      writersByInvoke[op.valueId + 1]!.push(i)
    } else {
      pendingReads[op.valueId + 1]!++
      readersByComplete[op.valueId + 1]!.push(i)
    }
  }
  for (const list of readersByComplete) list.sort((a, b) => ops[a]!.completeUs - ops[b]!.completeUs)
  for (const list of writersByInvoke) list.sort((a, b) => ops[a]!.invokeUs - ops[b]!.invokeUs)
  /** each op's position in its value's list, so undoing it can move the cursor back */
  const positionInList = new Int32Array(n)
  for (const list of [...readersByComplete, ...writersByInvoke]) {
    for (const [position, i] of list.entries()) positionInList[i] = position
  }
  const readerCursor = new Int32Array(values.size + 1)
  const writerCursor = new Int32Array(values.size + 1)
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
    const v = op.valueId + 1
    if (op.isPut) {
      pendingWrites[v]!++
      writerCursor[v] = Math.min(writerCursor[v]!, positionInList[i]!)
    } else {
      pendingReads[v]!++
      readerCursor[v] = Math.min(readerCursor[v]!, positionInList[i]!)
    }
  }
  /** The first op of `list` not linearized, from the cursor on (which it advances). */
  const firstPending = (list: number[], cursors: Int32Array, v: number): PreparedOp => {
    let position = cursors[v]!
    while (linearized[list[position]!] === 1) position++
    cursors[v] = position
    return ops[list[position]!]!
  }
  /**
   * A put may go next only if every pending get of the current value can still be served by a later put
   * of it: one invoked no later than the earliest such get completes. Otherwise that get could never be
   * linearized, so the branch is dead. With unique values this means: not before all reads are done.
   */
  const mayOverwrite = (): boolean => {
    const v = state + 1
    if (pendingReads[v] === 0) return true
    if (pendingWrites[v] === 0) return false
    const reader = firstPending(readersByComplete[v]!, readerCursor, v)
    const writer = firstPending(writersByInvoke[v]!, writerCursor, v)
    return writer.invokeUs <= reader.completeUs
  }

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

  const violation = (): KeyVerdict => ({
    verdict: 'violation',
    message: describeBlock(ops, values, m, deepest, blockedOp, blockedState),
  })

  let entry = takeGreedyGets() ? next[head]! : noChoiceLeft
  while (mandatoryDone < m) {
    if (entry === noChoiceLeft) return violation()
    if (++steps % stepsPerClockCheck === 0) {
      if (performance.now() > deadlineMs || visited.size > maxVisitedConfigurations)
        return { verdict: 'unknown' }
    }
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
  ops: PreparedOp[],
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
    `no order of the ${mandatoryCount} ops that must take effect respects ` +
    `both real time and register semantics; the deepest attempt placed ${deepest} of them, then reached ` +
    `the deadline (${searchOp.completeUs}us) of ${what} without being able to place it (the register held ${held})`
  )
}
