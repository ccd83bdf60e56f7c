/**
 * Seeded percentile bootstraps: the 95% interval of a statistic over 2000 resamples (with replacement)
 * of the samples. Seeded (engines/core/runtime/rng.ts), so a summary.json or a gate verdict is
 * reproducible. `bootstrapFigure` is the mean of one set of samples (the claims); `bootstrapRatio` is
 * the ratio of the means of two sets, each resampled on its own (the regression gate, harness/gate/).
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

/** The mean of one resample (with replacement) of `values`. */
function resampledMean(values: readonly number[], rng: Rng): number {
  let sum = 0
  for (let i = 0; i < values.length; i++) sum += values[rng.int(values.length)]!
  return sum / values.length
}

/** The 2.5% and 97.5% quantiles of `draw` over BOOTSTRAP_RESAMPLES draws from one seeded stream. */
function percentileInterval(rng: Rng, draw: (rng: Rng) => number): { low: number; high: number } {
  const stats: number[] = []
  for (let b = 0; b < BOOTSTRAP_RESAMPLES; b++) stats.push(draw(rng))
  stats.sort((a, b) => a - b)
  return { low: quantile(stats, 0.025), high: quantile(stats, 0.975) }
}

/** The figure for `values` (at least one). `stream` separates the figures' random streams. */
export function bootstrapFigure(
  name: string,
  unit: string,
  values: readonly number[],
  seed: number,
  stream: string,
  streamPrefix = 'claims',
): Figure {
  if (values.length === 0) throw new RangeError(`${name}: no samples`)
  const m = mean(values)
  if (values.length < 2) return { name, unit, mean: round3(m), ciLow: null, ciHigh: null, n: values.length }
  const ci = percentileInterval(new Rng(seed, `${streamPrefix}/${stream}`), (rng) =>
    resampledMean(values, rng),
  )
  return { name, unit, mean: round3(m), ciLow: round3(ci.low), ciHigh: round3(ci.high), n: values.length }
}

/** current / baseline: the ratio of the means, with the interval of the ratio of resampled means. */
export interface RatioFigure {
  readonly ratio: number
  /** null when both sides have one sample (no interval) */
  readonly ciLow: number | null
  readonly ciHigh: number | null
  readonly nBaseline: number
  readonly nCurrent: number
}

/**
 * The bootstrap of mean(current) / mean(baseline): each resample draws the baseline's samples and the
 * current's samples with replacement, independently (two independent runs). A side with one sample is
 * held fixed; both with one: no interval. The baseline's mean must be positive.
 */
export function bootstrapRatio(
  baseline: readonly number[],
  current: readonly number[],
  seed: number,
  stream: string,
): RatioFigure {
  if (baseline.length === 0 || current.length === 0) throw new RangeError(`${stream}: no samples`)
  if (!(mean(baseline) > 0)) throw new RangeError(`${stream}: the baseline mean is not positive`)
  const ratio = mean(current) / mean(baseline)
  const n = { nBaseline: baseline.length, nCurrent: current.length }
  if (baseline.length < 2 && current.length < 2)
    return { ratio: round4(ratio), ciLow: null, ciHigh: null, ...n }
  const ci = percentileInterval(new Rng(seed, `gate/${stream}`), (rng) => {
    const b = resampledMean(baseline, rng)
    // a resampled baseline of zeros (possible when some samples are 0): no finite ratio, count it high
    return b > 0 ? resampledMean(current, rng) / b : Number.POSITIVE_INFINITY
  })
  return { ratio: round4(ratio), ciLow: round4(ci.low), ciHigh: round4(ci.high), ...n }
}

const round4 = (x: number) => (Number.isFinite(x) ? Math.round(x * 10_000) / 10_000 : x)

/** `12.3 [11.9, 12.8] ms (n=3)` or `12.3 ms (n=1, no interval)` */
export function describeFigure(f: Figure): string {
  const ci = f.ciLow === null ? '' : ` [${f.ciLow}, ${f.ciHigh}]`
  return `${f.mean}${ci} ${f.unit} (n=${f.n}${f.ciLow === null ? ', no interval' : ''})`
}
