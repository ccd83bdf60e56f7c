/**
 * A seeded percentile bootstrap of the mean: the 95% interval of the means of 2000 resamples (with
 * replacement) of the samples. Seeded (engines/core/runtime/rng.ts), so a summary.json is reproducible.
 * With fewer than two samples there is no interval: ciLow/ciHigh are null.
 */
import { Rng } from '../../engines/core/runtime/rng.ts'
import type { Figure } from './types.ts'

export const BOOTSTRAP_RESAMPLES = 2000

export function mean(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length
}

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

function quantile(sorted: readonly number[], q: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))))
  return sorted[i]!
}

const round3 = (x: number) => Math.round(x * 1000) / 1000

/** The figure for `values` (at least one). `stream` separates the figures' random streams. */
export function bootstrapFigure(
  name: string,
  unit: string,
  values: readonly number[],
  seed: number,
  stream: string,
): Figure {
  if (values.length === 0) throw new RangeError(`${name}: no samples`)
  const m = mean(values)
  if (values.length < 2) return { name, unit, mean: round3(m), ciLow: null, ciHigh: null, n: values.length }
  const rng = new Rng(seed, `claims/${stream}`)
  const means: number[] = []
  for (let b = 0; b < BOOTSTRAP_RESAMPLES; b++) {
    let sum = 0
    for (let i = 0; i < values.length; i++) sum += values[rng.int(values.length)]!
    means.push(sum / values.length)
  }
  means.sort((a, b) => a - b)
  return {
    name,
    unit,
    mean: round3(m),
    ciLow: round3(quantile(means, 0.025)),
    ciHigh: round3(quantile(means, 0.975)),
    n: values.length,
  }
}

/** `12.3 [11.9, 12.8] ms (n=3)` or `12.3 ms (n=1, no interval)` */
export function describeFigure(f: Figure): string {
  const ci = f.ciLow === null ? '' : ` [${f.ciLow}, ${f.ciHigh}]`
  return `${f.mean}${ci} ${f.unit} (n=${f.n}${f.ciLow === null ? ', no interval' : ''})`
}
