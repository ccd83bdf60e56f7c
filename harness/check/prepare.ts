/**
 * Reduces one key's history to what a decision procedure needs, without changing its verdict (each
 * step is argued where it happens): failed ops and unanswered gets are dropped, unanswered puts whose
 * value nobody read are dropped, and an unanswered put that is the only writer of its value gets the
 * earliest completion of its readers as a deadline. Values are interned to small integers.
 */
import type { HistoryOp } from './history.ts'

export type KeyVerdict =
  | { readonly verdict: 'linearizable' }
  | {
      readonly verdict: 'violation'
      readonly message: string
      /** a small sub-history that is already a violation, when the method can tell (zones can) */
      readonly witness?: readonly HistoryOp[]
    }
  | { readonly verdict: 'unknown' }

/**
 * An op reduced to what the decision needs; values are interned per key (0 = null). Real time: an op
 * precedes another iff it completed strictly before the other was invoked (touching intervals overlap).
 */
export interface PreparedOp {
  readonly source: HistoryOp
  readonly isPut: boolean
  readonly valueId: number
  readonly invokeUs: number
  /** Infinity: an unanswered put that may take effect at any time after invocation, or never */
  readonly completeUs: number
}

/** An ok get of a non-null value that no put which may have taken effect wrote: decided without search. */
export function readOfUnwrittenValue(ops: readonly HistoryOp[]): HistoryOp | undefined {
  const written = new Set<string | null>()
  for (const op of ops) if (op.op === 'put' && op.outcome !== 'fail') written.add(op.value)
  return ops.find(
    (op) => op.op === 'get' && op.outcome === 'ok' && op.value !== null && !written.has(op.value),
  )
}

/** The value id every put whose value no get read shares (null is 0, read values are 1, 2, ...) */
export const unreadValueId = -1

export class ValueTable {
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

export function prepareOps(ops: readonly HistoryOp[], values: ValueTable): PreparedOp[] {
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

  const prepared: PreparedOp[] = []
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

/** "get c1#4 read \"x\"", "put c2#7 of \"y\"": how messages name an op. */
export function describeOp(op: HistoryOp): string {
  return op.op === 'get'
    ? `get ${op.client}#${op.seq} read ${JSON.stringify(op.value)}`
    : `put ${op.client}#${op.seq} of ${JSON.stringify(op.value)}`
}
