/**
 * A naive reference for the checker's tests: for a whole (multi-key) history of a handful of ops, try
 * every choice of which unanswered puts took effect and every order of the chosen ops that respects real
 * time, replaying each against a key-value map. No partitioning, no memoisation, no reductions.
 * Exponential: meant for histories of up to about 7 ops.
 */
import type { History, HistoryOp } from './history.ts'

export const bruteForceMaxOps = 9

export function bruteForceLinearizable(history: History): boolean {
  if (history.length > bruteForceMaxOps) {
    throw new Error(`brute force is for at most ${bruteForceMaxOps} ops, got ${history.length}`)
  }
  // Failed ops never took effect; unanswered gets returned nothing to check.
  const mandatory = history.filter((op) => op.outcome === 'ok')
  const optional = history.filter((op) => op.outcome === 'unknown' && op.op === 'put')
  for (let mask = 0; mask < 1 << optional.length; mask++) {
    const chosen = [...mandatory, ...optional.filter((_, i) => (mask >> i) & 1)]
    if (someOrderWorks(chosen, new Map())) return true
  }
  return false
}

function completion(op: HistoryOp): number {
  return op.completeUs ?? Infinity
}

/** Depth-first over orders: `remaining` ops may go next unless another remaining op completed first. */
function someOrderWorks(remaining: HistoryOp[], store: Map<string, string | null>): boolean {
  if (remaining.length === 0) return true
  for (const [i, op] of remaining.entries()) {
    const mustWait = remaining.some((other) => other !== op && completion(other) < op.invokeUs)
    if (mustWait) continue
    const current = store.has(op.key) ? store.get(op.key)! : null
    if (op.op === 'get' && current !== op.value) continue
    const after = new Map(store)
    if (op.op === 'put') after.set(op.key, op.value)
    const rest = remaining.filter((_, j) => j !== i)
    if (someOrderWorks(rest, after)) return true
  }
  return false
}
