/**
 * Reads a history file (JSON lines, one HistoryOp a line, as historyToJsonl writes it) and validates
 * every line, so a garbled file is reported by line and field instead of failing deep in the checker.
 */
import { readFileSync } from 'node:fs'
import { z } from 'zod'
import { invalidInput } from '../exit-codes.ts'
import type { HistoryOp } from './history.ts'

const historyOpSchema = z
  .strictObject({
    client: z.string().min(1),
    seq: z.number().int().nonnegative(),
    key: z.string(),
    op: z.enum(['get', 'put']),
    value: z.string().nullable(),
    invokeUs: z.number().finite(),
    completeUs: z.number().finite().nullable(),
    outcome: z.enum(['ok', 'fail', 'unknown']),
  })
  .superRefine((op, ctx) => {
    if (op.outcome === 'ok' && op.completeUs === null) {
      ctx.addIssue({ code: 'custom', path: ['completeUs'], message: "is null but outcome is 'ok'" })
    }
    if (op.outcome === 'unknown' && op.completeUs !== null) {
      ctx.addIssue({
        code: 'custom',
        path: ['completeUs'],
        message: "must be null when outcome is 'unknown'",
      })
    }
    if (op.completeUs !== null && op.completeUs < op.invokeUs) {
      ctx.addIssue({
        code: 'custom',
        path: ['completeUs'],
        message: `${op.completeUs} is before invokeUs ${op.invokeUs}`,
      })
    }
  })

const lineFormat =
  'each line must be one JSON object {client, seq, key, op: "get"|"put", value, invokeUs, completeUs, ' +
  'outcome: "ok"|"fail"|"unknown"} (see harness/check/history.ts)'

/** Parses history text; `where` names the file in messages. Throws CliError (exit 2) on the first bad line. */
export function parseHistoryText(text: string, where: string): HistoryOp[] {
  const ops: HistoryOp[] = []
  const lines = text.split('\n')
  for (const [index, line] of lines.entries()) {
    if (line.trim() === '') continue
    const at = `${where} line ${index + 1}`
    let raw: unknown
    try {
      raw = JSON.parse(line)
    } catch (err: unknown) {
      throw invalidInput(at, 'JSON', `not valid JSON (${(err as Error).message})`, lineFormat)
    }
    const parsed = historyOpSchema.safeParse(raw)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!
      const field = issue.path.length > 0 ? issue.path.join('.') : 'fields'
      throw invalidInput(at, field, issue.message, lineFormat)
    }
    ops.push(parsed.data)
  }
  return ops
}

export function readHistoryFile(path: string): HistoryOp[] {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err: unknown) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message
    throw invalidInput(path, 'file', reason, 'pass the path of a history.jsonl written by a run or sim')
  }
  return parseHistoryText(text, path)
}
