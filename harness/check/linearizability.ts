/**
 * The linearizability checker (DESIGN.md "Correctness"): every key is an independent register (initial
 * value null), so the history is split per key (P-compositionality: a history is linearizable iff each
 * key's sub-history is) and each key is decided on its own (key-check.ts: the polynomial zone test of
 * zones.ts when every read value has one writer, else the memoised Wing & Gong / Lowe search of
 * search.ts), within one shared time budget. Answers Jepsen-style: linearizable, violation (with the smallest
 * failing key history found), or unknown (the budget ran out before some key was decided).
 */
import type { History, HistoryOp } from './history.ts'
import { checkKeyHistory, type KeyMethod } from './key-check.ts'
import { minimiseViolation } from './minimise.ts'

export type CheckVerdict = 'linearizable' | 'violation' | 'unknown'

export interface CheckResult {
  verdict: CheckVerdict
  keys: number
  ops: number
  elapsedMs: number
  /** for 'violation': the smallest failing history of one key (minimised), and a human message */
  violation?: { key: string; ops: HistoryOp[]; message: string }
  /** for 'unknown': keys whose search ran out of budget */
  unknownKeys?: string[]
}

export interface CheckOptions {
  /** total time for deciding every key; keys not decided in time are 'unknown' (default 10 s) */
  timeBudgetMs?: number
  /** extra time for shrinking a violating key history (default 2 s) */
  minimiseBudgetMs?: number
  /** 'search' forces the memoised search even where the zone test applies (tests, benchmarks) */
  method?: KeyMethod
}

export const defaultTimeBudgetMs = 10_000
export const defaultMinimiseBudgetMs = 2_000

export function checkHistory(history: History, options: CheckOptions = {}): CheckResult {
  const startMs = performance.now()
  const timeBudgetMs = options.timeBudgetMs ?? defaultTimeBudgetMs
  const minimiseBudgetMs = options.minimiseBudgetMs ?? defaultMinimiseBudgetMs
  const method = options.method ?? 'auto'
  if (!(timeBudgetMs >= 0)) throw new Error(`timeBudgetMs must be >= 0, got ${timeBudgetMs}`)
  const deadlineMs = startMs + timeBudgetMs

  const byKey = partitionByKey(history)
  // Small keys first: they finish fast and hand their unused share of the budget to the big ones.
  const keys = [...byKey.keys()].sort((a, b) => byKey.get(a)!.length - byKey.get(b)!.length)
  const unknownKeys: string[] = []
  const result = (verdict: CheckVerdict): CheckResult => ({
    verdict,
    keys: byKey.size,
    ops: history.length,
    elapsedMs: performance.now() - startMs,
  })

  for (const [index, key] of keys.entries()) {
    const ops = byKey.get(key)!
    const nowMs = performance.now()
    const keyDeadlineMs = nowMs + Math.max(0, deadlineMs - nowMs) / (keys.length - index)
    const outcome = checkKeyHistory(ops, keyDeadlineMs, method)
    if (outcome.verdict === 'unknown') {
      unknownKeys.push(key)
      continue
    }
    if (outcome.verdict === 'violation') {
      const minimised = minimiseViolation(ops, performance.now() + minimiseBudgetMs, method)
      const final = checkKeyHistory(minimised, Infinity, method)
      if (final.verdict !== 'violation') throw new Error('minimised history is no longer a violation')
      const message = `key ${JSON.stringify(key)}: ${final.message}`
      return { ...result('violation'), violation: { key, ops: minimised, message } }
    }
  }
  if (unknownKeys.length > 0) return { ...result('unknown'), unknownKeys }
  return result('linearizable')
}

function partitionByKey(history: History): Map<string, HistoryOp[]> {
  const byKey = new Map<string, HistoryOp[]>()
  for (const op of history) {
    let ops = byKey.get(op.key)
    if (ops === undefined) {
      ops = []
      byKey.set(op.key, ops)
    }
    ops.push(op)
  }
  return byKey
}
