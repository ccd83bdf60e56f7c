/**
 * Shrinks a violating key history by delta debugging (Zeller's ddmin, complement steps only): drop a
 * chunk of ops, keep the smaller history if it still violates, and refine the chunks until no single op
 * can go or the time is up. The result is always a violation; it is 1-minimal when time allowed.
 *
 * Dropping the only writer of a value that a kept get read would turn a stale read into a lone get of a
 * value never written: a violation that hides the real one. So each step also drops the gets orphaned
 * that way. When the decision procedure names a small witness (the zone test does), ddmin starts there.
 */
import type { HistoryOp } from './history.ts'
import { checkKeyHistory, type KeyMethod } from './key-check.ts'

/**
 * Returns the smallest violating sub-history found before `deadlineMs` (a performance.now() value).
 * `ops` must violate (the caller has just decided so); every accepted step re-checks, so the result does.
 */
export function minimiseViolation(
  ops: readonly HistoryOp[],
  deadlineMs: number,
  method: KeyMethod = 'auto',
): HistoryOp[] {
  const originallyWritten = writtenValues(ops)
  const stillViolates = (candidate: readonly HistoryOp[]) =>
    candidate.length > 0 && checkKeyHistory(candidate, deadlineMs, method).verdict === 'violation'

  let current = [...ops]
  const first = checkKeyHistory(ops, deadlineMs, method)
  if (first.verdict === 'violation' && first.witness !== undefined && stillViolates(first.witness)) {
    current = [...first.witness]
  }
  let chunks = 2
  while (current.length >= 2 && performance.now() < deadlineMs) {
    const chunkSize = Math.ceil(current.length / chunks)
    let reduced = false
    for (let start = 0; start < current.length; start += chunkSize) {
      const candidate = dropOrphanedGets(
        [...current.slice(0, start), ...current.slice(start + chunkSize)],
        originallyWritten,
      )
      if (stillViolates(candidate)) {
        current = candidate
        chunks = Math.max(chunks - 1, 2)
        reduced = true
        break
      }
    }
    if (!reduced) {
      if (chunkSize === 1) break
      chunks = Math.min(current.length, chunks * 2)
    }
  }
  return current
}

function writtenValues(ops: readonly HistoryOp[]): Set<string | null> {
  const written = new Set<string | null>()
  for (const op of ops) if (op.op === 'put' && op.outcome !== 'fail') written.add(op.value)
  return written
}

/** Drops ok gets of values that the original history wrote but `ops` no longer does. */
function dropOrphanedGets(ops: HistoryOp[], originallyWritten: Set<string | null>): HistoryOp[] {
  const written = writtenValues(ops)
  return ops.filter(
    (op) =>
      op.op !== 'get' ||
      op.outcome !== 'ok' ||
      op.value === null ||
      written.has(op.value) ||
      !originallyWritten.has(op.value),
  )
}
