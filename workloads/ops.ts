/**
 * The command generator of one client: op type (read ratio, its own knob), key (keys.ts) and the value a
 * put writes. A put's value starts with the unique tag `<client>:<seq>` so the checker can tell every
 * write apart; `valueSizeBytes` pads it (with '.') to that many bytes. A value is never shorter than its
 * tag: asking for fewer bytes than the tag needs gives the tag alone.
 */
import { type KeyDistribution, keyChooser, keyDistributionProblems } from './keys.ts'
import type { Random } from './random.ts'
import type { KvRequest } from './replica-client.ts'

export interface WorkloadSpec {
  readonly keys: KeyDistribution
  /** fraction of commands that are gets, in [0, 1] */
  readonly readRatio: number
  /** bytes of a put's value (ASCII); 0 = the unique tag alone */
  readonly valueSizeBytes: number
}

/** The host answers 413 above 1 MiB; stay well under it. */
export const MAX_VALUE_SIZE_BYTES = 512 * 1024

export function workloadProblems(w: WorkloadSpec): string[] {
  const problems = keyDistributionProblems(w.keys)
  if (!(w.readRatio >= 0 && w.readRatio <= 1))
    problems.push(`readRatio must be in [0, 1], got ${w.readRatio}`)
  if (!Number.isInteger(w.valueSizeBytes) || w.valueSizeBytes < 0 || w.valueSizeBytes > MAX_VALUE_SIZE_BYTES)
    problems.push(
      `valueSizeBytes must be a whole number in [0, ${MAX_VALUE_SIZE_BYTES}], got ${w.valueSizeBytes}`,
    )
  return problems
}

export function putValue(client: string, seq: number, valueSizeBytes: number): string {
  const tag = `${client}:${seq}`
  return tag.length >= valueSizeBytes ? tag : tag + '.'.repeat(valueSizeBytes - tag.length)
}

/** The next command of one client, given its seq. One random stream drives op type and key. */
export function opGenerator(client: string, w: WorkloadSpec, random: Random): (seq: number) => KvRequest {
  const problems = workloadProblems(w)
  if (problems.length > 0) throw new Error(`workload: ${problems.join('; ')}`)
  const nextKey = keyChooser(client, w.keys, random)
  return (seq) => {
    const op = random() < w.readRatio ? 'get' : 'put'
    const key = nextKey()
    return { client, seq, op, key, value: op === 'put' ? putValue(client, seq, w.valueSizeBytes) : null }
  }
}
