/** The simulator's view of the linearizability checker (harness/check): a verdict and one message. */
import type { History } from '../../harness/check/history.ts'
import { checkHistory } from '../../harness/check/linearizability.ts'

export function checkLinearizable(
  history: History,
  timeBudgetMs: number,
): { verdict: 'linearizable' | 'violation' | 'unknown'; message?: string } {
  const result = checkHistory(history, { timeBudgetMs })
  if (result.verdict === 'violation' && result.violation !== undefined) {
    const ops = result.violation.ops
      .map((op) => {
        const end = op.completeUs === null ? '?' : (op.completeUs / 1000).toFixed(3)
        const shown = op.op === 'put' ? `put ${op.value}` : `get -> ${op.value}`
        return `${op.client}#${op.seq} ${shown} [${(op.invokeUs / 1000).toFixed(3)}, ${end}] ms ${op.outcome}`
      })
      .join('; ')
    return {
      verdict: 'violation',
      message: `key ${result.violation.key}: ${result.violation.message} | ${ops}`,
    }
  }
  if (result.verdict === 'unknown') {
    return { verdict: 'unknown', message: `undecided keys: ${(result.unknownKeys ?? []).join(', ')}` }
  }
  return { verdict: result.verdict }
}
