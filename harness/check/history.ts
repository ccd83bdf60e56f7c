/**
 * The client history every simulated and real run records, and the checker reads.
 *
 * One entry per client command. Times are microseconds on one clock (the driver's or the simulator's).
 * - outcome 'ok': the command completed at completeUs; for a get, `value` is what it read.
 * - outcome 'fail': the command definitely did not take effect (rejected before execution).
 * - outcome 'unknown': no answer (timeout, crash): it may or may not have taken effect, at any time
 *   after invokeUs. completeUs is null.
 */
export interface HistoryOp {
  readonly client: string
  readonly seq: number
  readonly key: string
  readonly op: 'get' | 'put'
  /** put: the value written; get with outcome 'ok': the value read (null = key absent) */
  readonly value: string | null
  readonly invokeUs: number
  readonly completeUs: number | null
  readonly outcome: 'ok' | 'fail' | 'unknown'
}

export type History = readonly HistoryOp[]

/** Serialises a history as JSON lines (one op per line), the form written into results. */
export function historyToJsonl(history: History): string {
  return history.map((op) => JSON.stringify(op)).join('\n') + (history.length > 0 ? '\n' : '')
}

export function historyFromJsonl(text: string): HistoryOp[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as HistoryOp)
}
