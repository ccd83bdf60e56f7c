/**
 * `gate --save-baseline <dir>`: keeps what the gate reads from a results directory, and nothing else,
 * so a baseline is small enough to commit (results/baselines/) or to upload as a CI artifact:
 * summary.json, env.json, run.json, micro.json and every cell's latency.hlog (no histories, no logs).
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { GateInputError, readGateInput } from './results.ts'

const TOP_FILES = ['summary.json', 'env.json', 'run.json', 'micro.json']

/** Copies the gate's inputs from `from` into `to` (replacing an earlier baseline there); returns the files. */
export function saveBaseline(from: string, to: string): string[] {
  const input = readGateInput(from)
  if (existsSync(to)) {
    const entries = readdirSync(to)
    const isBaseline =
      entries.length === 0 || entries.includes('summary.json') || entries.includes('micro.json')
    if (!isBaseline)
      throw new GateInputError(
        to,
        'exists and is not a baseline (no summary.json or micro.json)',
        'give a new or an earlier baseline directory',
      )
    for (const e of entries) rmSync(join(to, e), { recursive: true, force: true })
  }
  mkdirSync(to, { recursive: true })
  const copied: string[] = []
  const copy = (rel: string) => {
    const src = join(from, rel)
    if (!existsSync(src)) return
    mkdirSync(dirname(join(to, rel)), { recursive: true })
    copyFileSync(src, join(to, rel))
    copied.push(rel)
  }
  for (const f of TOP_FILES) copy(f)
  for (const c of input.run?.cases.values() ?? [])
    for (const cell of c.cells) copy(cell.files?.latency ?? join('cells', cell.id, 'latency.hlog'))
  return copied
}
