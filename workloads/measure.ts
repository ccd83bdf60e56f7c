/**
 * Figures computed from a load's commands after the run: the per-second timeline and the achieved
 * conflict rate.
 */
import type { HistoryOp } from '../harness/check/history.ts'
import type { DriverOp } from './driver-spec.ts'

/** One second of the load, counted by when things happened (seconds from the load start). */
export interface TimelineSecond {
  readonly second: number
  /** commands whose intended start fell in this second (open loop: the schedule; closed: the sends) */
  readonly intended: number
  /** commands first sent in this second */
  readonly sent: number
  /** ok answers received in this second */
  readonly completed: number
  /** 'fail' outcomes decided in this second */
  readonly failed: number
  /** 'unknown' outcomes among the commands first sent in this second */
  readonly unknown: number
}

export function throughputTimeline(
  records: readonly DriverOp[],
  startUs: number,
  endUs: number,
): TimelineSecond[] {
  const seconds = Math.max(1, Math.ceil((endUs - startUs) / 1e6))
  const rows = Array.from({ length: seconds }, (_, second) => ({
    second,
    intended: 0,
    sent: 0,
    completed: 0,
    failed: 0,
    unknown: 0,
  }))
  const at = (us: number) => rows[Math.min(seconds - 1, Math.max(0, Math.floor((us - startUs) / 1e6)))]!
  for (const op of records) {
    at(op.intendedUs).intended++
    at(op.invokeUs).sent++
    if (op.outcome === 'ok') at(op.completeUs!).completed++
    else if (op.outcome === 'fail') at(op.completeUs!).failed++
    else at(op.invokeUs).unknown++
  }
  return rows
}

export function timelineToJsonl(rows: readonly TimelineSecond[]): string {
  return rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length > 0 ? '\n' : '')
}

/**
 * The fraction of commands that ran concurrently with a conflicting command: another command on the
 * same key, at least one of the two a put, whose invoke..complete interval overlaps this one's
 * (strictly: touching ends do not overlap). Counted over the commands that may have taken effect
 * (outcome 'ok', or 'unknown', whose interval is open: it may take effect at any later time); 'fail'
 * commands never ran. `counted` selects which commands are in the numerator and denominator (e.g. the
 * measured window); every command can be the conflicting partner. 0 when nothing is counted.
 */
export function achievedConflict(
  history: readonly HistoryOp[],
  counted: (op: HistoryOp) => boolean = () => true,
): number {
  const byKey = new Map<string, HistoryOp[]>()
  for (const op of history) {
    if (op.outcome === 'fail') continue
    const list = byKey.get(op.key)
    if (list === undefined) byKey.set(op.key, [op])
    else list.push(op)
  }
  let total = 0
  let conflicting = 0
  const end = (op: HistoryOp) => op.completeUs ?? Number.POSITIVE_INFINITY
  for (const ops of byKey.values()) {
    ops.sort((a, b) => a.invokeUs - b.invokeUs)
    const n = ops.length
    // overlap with an EARLIER-invoked op: the max end among earlier ops (any, and puts only)
    // overlap with a LATER-invoked op: the earliest invoke among later ops is the next one; for puts,
    // the next put's invoke (suffix scan)
    const nextPutInvoke = new Array<number>(n)
    let upcoming = Number.POSITIVE_INFINITY
    for (let i = n - 1; i >= 0; i--) {
      nextPutInvoke[i] = upcoming
      if (ops[i]!.op === 'put') upcoming = ops[i]!.invokeUs
    }
    let maxEndAny = Number.NEGATIVE_INFINITY
    let maxEndPut = Number.NEGATIVE_INFINITY
    for (let i = 0; i < n; i++) {
      const op = ops[i]!
      if (counted(op)) {
        total++
        const isPut = op.op === 'put'
        const earlier = (isPut ? maxEndAny : maxEndPut) > op.invokeUs
        const nextInvoke = isPut ? (ops[i + 1]?.invokeUs ?? Number.POSITIVE_INFINITY) : nextPutInvoke[i]!
        const later = nextInvoke < end(op)
        if (earlier || later) conflicting++
      }
      maxEndAny = Math.max(maxEndAny, end(op))
      if (op.op === 'put') maxEndPut = Math.max(maxEndPut, end(op))
    }
  }
  return total === 0 ? 0 : conflicting / total
}
