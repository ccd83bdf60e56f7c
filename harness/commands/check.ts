/**
 * `consensus-bench check <history.jsonl>`: decides whether a recorded client history is linearizable.
 * Exit codes: 0 linearizable, 3 violation, 1 unknown (budget ran out), 2 missing or garbled file.
 */
import Table from 'cli-table3'
import type { Command } from 'commander'
import type { HistoryOp } from '../check/history.ts'
import { readHistoryFile } from '../check/history-file.ts'
import { type CheckResult, checkHistory, defaultTimeBudgetMs } from '../check/linearizability.ts'
import { EXIT, invalidInput } from '../exit-codes.ts'

interface CheckFlags {
  json?: boolean
  budgetMs: string
}

export function register(program: Command): void {
  program
    .command('check')
    .description('check a client history (JSON lines) for linearizability, per key')
    .argument('<history>', 'history file, one op per line (e.g. results/<run>/history.jsonl)')
    .option('--json', 'print the result as JSON')
    .option(
      '--budget-ms <ms>',
      'time budget for the search; undecided keys make the verdict unknown',
      String(defaultTimeBudgetMs),
    )
    .action((path: string, flags: CheckFlags) => {
      const timeBudgetMs = parseBudgetMs(flags.budgetMs)
      const history = readHistoryFile(path)
      const result = checkHistory(history, { timeBudgetMs })
      process.stdout.write(
        flags.json ? JSON.stringify({ file: path, ...result }) + '\n' : formatResult(path, result),
      )
      process.exitCode = exitCodeFor(result)
    })
}

function parseBudgetMs(text: string): number {
  const budgetMs = Number(text)
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(budgetMs)) {
    throw invalidInput(
      '--budget-ms',
      'value',
      `${JSON.stringify(text)} is not a whole number of ms`,
      'e.g. --budget-ms 30000',
    )
  }
  return budgetMs
}

export function exitCodeFor(result: CheckResult): number {
  switch (result.verdict) {
    case 'linearizable':
      return EXIT.ok
    case 'violation':
      return EXIT.violation
    case 'unknown':
      return EXIT.thresholdFailed
  }
}

export function formatResult(path: string, result: CheckResult): string {
  const lines = [
    `${path}: ${result.ops} ops on ${result.keys} keys, checked in ${result.elapsedMs.toFixed(0)} ms`,
    `verdict: ${result.verdict}`,
  ]
  if (result.violation) {
    lines.push(result.violation.message)
    lines.push(`smallest failing history found (${result.violation.ops.length} ops):`)
    lines.push(opsTable(result.violation.ops))
  }
  if (result.unknownKeys) {
    const shown = result.unknownKeys.slice(0, 10).map((k) => JSON.stringify(k))
    const more =
      result.unknownKeys.length > shown.length ? ` and ${result.unknownKeys.length - shown.length} more` : ''
    lines.push(
      `undecided within the budget: ${shown.join(', ')}${more}; a larger --budget-ms may decide them`,
    )
  }
  return lines.join('\n') + '\n'
}

function opsTable(ops: readonly HistoryOp[]): string {
  const table = new Table({
    head: ['op', 'client#seq', 'value', 'invokeUs', 'completeUs', 'outcome'],
    style: { head: [], border: [] },
  })
  const byInvoke = [...ops].sort((a, b) => a.invokeUs - b.invokeUs)
  for (const op of byInvoke) {
    table.push([
      op.op,
      `${op.client}#${op.seq}`,
      JSON.stringify(op.value),
      String(op.invokeUs),
      op.completeUs === null ? '-' : String(op.completeUs),
      op.outcome,
    ])
  }
  return table.toString()
}
