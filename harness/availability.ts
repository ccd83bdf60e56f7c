/**
 * What the history says about service around each fault, and whether an acknowledged write was lost.
 *
 * - recoveryMsBySite: per client site, from the fault to the first ok completion there of a command
 *   invoked at or after the fault. A command already in flight at the fault is not counted: its reply
 *   may have been on its way (committed before the fault), which says nothing about service after it.
 *   For a fault that hurts nobody this is about one command's latency.
 * - firstCommitAfterMs: the same over every site (the earliest).
 * - opsFailed / opsUnknown: commands invoked from the fault until the last site recovered (or the load
 *   ended) that were refused, or timed out with no answer (they may or may not have executed).
 *
 * Lost writes (`lostWrites`): for every key the read-back after the load read, the latest acknowledged
 * put P that completed before the read began must be visible: the value read is P's, or that of a put
 * not over before P was invoked (a later or concurrent one, acknowledged or not). Anything else (absent,
 * or an older value) is an acknowledged write lost. The linearizability check implies this; it is
 * counted on its own so a report can say "no acknowledged write lost" with the number of keys behind it.
 */
import type { HistoryOp } from './check/history.ts'
import type { FaultAvailability, FaultRecord } from './faults.ts'

export interface SiteOp extends HistoryOp {
  readonly site: string
}

/** Fills each scheduled fault's availability figures from the load's commands (never the read-back). */
export function withAvailability(
  records: readonly FaultRecord[],
  ops: readonly SiteOp[],
  sites: readonly string[],
  loadEndUs: number,
): FaultRecord[] {
  const bySite = new Map<string, SiteOp[]>(sites.map((s) => [s, []]))
  for (const op of ops) bySite.get(op.site)?.push(op)
  return records.map((r) => {
    if (r.kind === 'replica-exit' || r.error !== undefined) return r
    return { ...r, ...availabilityAfter(r.atUs, ops, bySite, loadEndUs) }
  })
}

export function availabilityAfter(
  atUs: number,
  ops: readonly SiteOp[],
  bySite: ReadonlyMap<string, readonly SiteOp[]>,
  loadEndUs: number,
): FaultAvailability {
  const recoveryMsBySite: Record<string, number | null> = {}
  let first: number | null = null
  let lastRecoveredUs = atUs
  let anyNever = false
  for (const [site, siteOps] of bySite) {
    let at: number | null = null
    for (const op of siteOps)
      if (op.outcome === 'ok' && op.invokeUs >= atUs && op.completeUs !== null)
        if (at === null || op.completeUs < at) at = op.completeUs
    recoveryMsBySite[site] = at === null ? null : round((at - atUs) / 1000)
    if (at === null) anyNever = true
    else {
      lastRecoveredUs = Math.max(lastRecoveredUs, at)
      if (first === null || at < first) first = at
    }
  }
  const untilUs = anyNever ? loadEndUs : lastRecoveredUs
  let opsFailed = 0
  let opsUnknown = 0
  for (const op of ops) {
    if (op.invokeUs < atUs || op.invokeUs > untilUs) continue
    if (op.outcome === 'fail') opsFailed++
    else if (op.outcome === 'unknown') opsUnknown++
  }
  return {
    firstCommitAfterMs: first === null ? null : round((first - atUs) / 1000),
    recoveryMsBySite,
    opsFailed,
    opsUnknown,
  }
}

export interface LostWrites {
  /** keys the read-back read that had an acknowledged put before the read */
  readonly keysChecked: number
  /** keys whose read showed neither the latest acknowledged put nor a later one */
  readonly lost: number
  /** the first few, for the summary */
  readonly examples: ReadonlyArray<{ key: string; acknowledged: string; read: string | null }>
}

const EXAMPLES_MAX = 5

/** See the file comment; `readBackClient` names the read-back's client in the history. */
export function lostWrites(history: readonly HistoryOp[], readBackClient = 'readback'): LostWrites {
  const putsByKey = new Map<string, HistoryOp[]>()
  for (const op of history)
    if (op.op === 'put' && op.outcome !== 'fail') {
      const list = putsByKey.get(op.key) ?? []
      list.push(op)
      putsByKey.set(op.key, list)
    }
  let keysChecked = 0
  let lost = 0
  const examples: Array<{ key: string; acknowledged: string; read: string | null }> = []
  for (const read of history) {
    if (read.client !== readBackClient || read.op !== 'get' || read.outcome !== 'ok') continue
    const puts = putsByKey.get(read.key) ?? []
    let latest: HistoryOp | null = null
    for (const p of puts)
      if (p.outcome === 'ok' && p.completeUs !== null && p.completeUs < read.invokeUs)
        if (latest === null || p.invokeUs > latest.invokeUs) latest = p
    if (latest === null) continue
    keysChecked++
    const allowed = new Set(
      puts
        .filter((p) => p === latest || p.completeUs === null || p.completeUs > latest!.invokeUs)
        .map((p) => p.value),
    )
    if (!allowed.has(read.value)) {
      lost++
      if (examples.length < EXAMPLES_MAX)
        examples.push({ key: read.key, acknowledged: latest.value ?? '', read: read.value })
    }
  }
  return { keysChecked, lost, examples }
}

function round(x: number): number {
  return Math.round(x * 10) / 10
}
