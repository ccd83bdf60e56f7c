/**
 * Shrinks a violating key history by delta debugging (Zeller's ddmin, complement steps only): drop a
 * chunk of ops, keep the smaller history if it still violates, and refine the chunks until no single op
 * can go or the time is up. The result is always a violation; it is 1-minimal when time allowed.
 *
 * A shrink step may not drop every writer of a value that a kept get read: otherwise a stale read would
 * "minimise" to a lone get of a value never written, a violation that hides the real one.
 */
import type { HistoryOp } from './history.ts'
import { checkKeyHistory } from './search.ts'

/**
 * Returns the smallest violating sub-history found before `deadlineMs` (a performance.now() value).
 * `ops` must violate (the caller has just decided so); every accepted step re-checks, so the result does.
 */
export function minimiseViolation(ops: readonly HistoryOp[], deadlineMs: number): HistoryOp[] {
  const writtenBefore = writtenValues(ops)
  const stillViolates = (candidate: readonly HistoryOp[]) =>
    keepsReadsFrom(candidate, writtenBefore) && checkKeyHistory(candidate, deadlineMs).verdict === 'violation'

  let current = [...ops]
  let chunks = 2
  while (current.length >= 2 && performance.now() < deadlineMs) {
    const chunkSize = Math.ceil(current.length / chunks)
    let reduced = false
    for (let start = 0; start < current.length; start += chunkSize) {
      const candidate = [...current.slice(0, start), ...current.slice(start + chunkSize)]
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

/** Every value a kept get read, and that some put of the original history wrote, is still written. */
function keepsReadsFrom(candidate: readonly HistoryOp[], writtenBefore: Set<string | null>): boolean {
  const written = writtenValues(candidate)
  return candidate.every(
    (op) =>
      op.op !== 'get' ||
      op.outcome !== 'ok' ||
      op.value === null ||
      written.has(op.value) ||
      !writtenBefore.has(op.value),
  )
}
