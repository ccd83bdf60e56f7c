/**
 * Decides one key's history: a quick test for reads of values nobody wrote, then the polynomial zone
 * test when every read value has a single writer (the usual case: workloads write unique values), and
 * the memoised search otherwise.
 */
import type { HistoryOp } from './history.ts'
import { type KeyVerdict, prepareOps, readOfUnwrittenValue, ValueTable } from './prepare.ts'
import { searchKey } from './search.ts'
import { checkByZones, zonesApply } from './zones.ts'

/** 'auto' picks zones when they apply; 'search' forces the search (for tests and benchmarks). */
export type KeyMethod = 'auto' | 'search'

/**
 * `deadlineMs` is a performance.now() value; past it the search answers 'unknown'. All ops must be on
 * one key (the caller partitions; P-compositionality makes that sound).
 */
export function checkKeyHistory(
  ops: readonly HistoryOp[],
  deadlineMs: number,
  method: KeyMethod = 'auto',
): KeyVerdict {
  const unwritten = readOfUnwrittenValue(ops)
  if (unwritten !== undefined) {
    return {
      verdict: 'violation',
      message:
        `get ${unwritten.client}#${unwritten.seq} read ${JSON.stringify(unwritten.value)}, ` +
        'a value no put wrote (or only puts that failed)',
      witness: [unwritten],
    }
  }
  const values = new ValueTable()
  const prepared = prepareOps(ops, values)
  if (method === 'auto' && zonesApply(prepared)) return checkByZones(prepared)
  return searchKey(prepared, values, deadlineMs)
}
