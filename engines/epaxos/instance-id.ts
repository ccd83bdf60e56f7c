/**
 * Instance ids: `<command leader>.<number>`, e.g. `r0.5` (the paper's R.i). Strings, so deps print and
 * compare simply; the number is after the last dot, so node ids may contain dots.
 */
import type { NodeId } from '../core/command.ts'

export function instanceId(leader: NodeId, n: number): string {
  return `${leader}.${n}`
}

export function parseInstanceId(id: string): { leader: NodeId; n: number } {
  const dot = id.lastIndexOf('.')
  const n = Number(id.slice(dot + 1))
  if (dot <= 0 || !Number.isSafeInteger(n) || n < 0) throw new Error(`malformed instance id '${id}'`)
  return { leader: id.slice(0, dot), n }
}

/** A total order on instance ids (leader, then number): the tie-break after seq inside an SCC. */
export function compareInstanceIds(a: string, b: string): number {
  const x = parseInstanceId(a)
  const y = parseInstanceId(b)
  if (x.leader !== y.leader) return x.leader < y.leader ? -1 : 1
  return x.n - y.n
}
