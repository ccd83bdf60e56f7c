/**
 * micro.json: the tinybench micro benchmarks' results (bench/micro.ts --out <dir>), in a form the gate
 * reads beside a run's summary.json. One ops/s figure per benchmark per repetition: the gate's bootstrap
 * samples are the repetitions, as for a run's cells.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

export const MICRO_FILE = 'micro.json'

export interface MicroBenchmark {
  /** short and stable, the `bench` tag: codec, kv, checker, multipaxos-batching-off, ... */
  readonly id: string
  readonly name: string
  /** tinybench's mean throughput, one per repetition */
  readonly opsPerSec: readonly number[]
  /** tinybench's relative margin of error (%), one per repetition */
  readonly rmePercent: readonly number[]
}

export interface MicroResults {
  readonly kind: 'micro'
  readonly startedAt: string
  readonly env: { readonly node: string; readonly cpuModel: string; readonly cpuCount: number }
  readonly repetitions: number
  readonly benchmarks: readonly MicroBenchmark[]
}

/** micro.json in `dir`, or null when there is none; throws on a file that is not one. */
export function readMicro(dir: string): MicroResults | null {
  const file = join(dir, MICRO_FILE)
  if (!existsSync(file)) return null
  const raw = JSON.parse(readFileSync(file, 'utf8')) as Partial<MicroResults>
  if (raw.kind !== 'micro' || !Array.isArray(raw.benchmarks))
    throw new Error(`${file}: not a micro benchmark results file (kind 'micro', benchmarks [])`)
  return raw as MicroResults
}
