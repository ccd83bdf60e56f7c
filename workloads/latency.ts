/**
 * Latency in HDR histograms (hdr-histogram-js), in microseconds, per site and op type; merged per site
 * and overall by adding histograms (never by sorting or averaging samples). Written as an HdrHistogram
 * interval log (`.hlog`): one interval histogram per (site, op), tagged `<site>/<op>`, so other tools
 * (and other driver processes, later) merge through the encoded form.
 */
import { build, type Histogram, HistogramLogReader, HistogramLogWriter } from 'hdr-histogram-js'

export type OpType = 'get' | 'put'
const OP_TYPES: readonly OpType[] = ['get', 'put']

/** The summary form used in summary.json: integer microseconds. */
export interface LatencySummaryUs {
  readonly p50: number
  readonly p90: number
  readonly p99: number
  readonly p999: number
  readonly max: number
  readonly mean: number
}

/** 1 us to 1 hour, 3 significant digits: a put held through a long election still fits. */
export function newLatencyHistogram(): Histogram {
  return build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000_000,
    numberOfSignificantValueDigits: 3,
    useWebAssembly: false,
  })
}

export function summarizeLatency(h: Histogram): LatencySummaryUs {
  if (h.totalCount === 0) return { p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0 }
  // a percentile is the top of its HDR bucket; clamp to max so the summary stays ordered
  const at = (p: number) => Math.min(h.getValueAtPercentile(p), h.maxValue)
  return {
    p50: at(50),
    p90: at(90),
    p99: at(99),
    p999: at(99.9),
    max: h.maxValue,
    mean: Math.round(h.mean),
  }
}

export class LatencyRecorder {
  /** site -> op -> histogram */
  readonly #histograms = new Map<string, Map<OpType, Histogram>>()

  record(site: string, op: OpType, latencyUs: number): void {
    if (!(latencyUs >= 0)) throw new Error(`latency must be >= 0 us, got ${latencyUs}`)
    const h = this.#histogram(site, op)
    // 0 us cannot be told apart from 1 us at this resolution; keep it recordable
    h.recordValue(Math.max(1, Math.round(latencyUs)))
  }

  /** Adds an encoded recorder (toHlog's text, e.g. from another driver process): the HDR merge. */
  addHlog(text: string): void {
    for (const [tag, h] of readHlog(text)) {
      const slash = tag.lastIndexOf('/')
      const op = tag.slice(slash + 1)
      if (slash < 0 || (op !== 'get' && op !== 'put')) throw new Error(`hlog tag '${tag}' is not <site>/<op>`)
      this.#histogram(tag.slice(0, slash), op).add(h)
    }
  }

  #histogram(site: string, op: OpType): Histogram {
    let bySite = this.#histograms.get(site)
    if (bySite === undefined) {
      bySite = new Map()
      this.#histograms.set(site, bySite)
    }
    let h = bySite.get(op)
    if (h === undefined) {
      h = newLatencyHistogram()
      bySite.set(op, h)
    }
    return h
  }

  sites(): string[] {
    return [...this.#histograms.keys()].sort()
  }

  /** every op type of one site (or of every site when site is undefined), merged */
  merged(site?: string, op?: OpType): Histogram {
    const out = newLatencyHistogram()
    for (const [s, bySite] of this.#histograms) {
      if (site !== undefined && s !== site) continue
      for (const [o, h] of bySite) if (op === undefined || o === op) out.add(h)
    }
    return out
  }

  /** The `.hlog` text: one interval per (site, op) covering [startSec, endSec] of the run. */
  toHlog(startEpochMs: number, startSec: number, endSec: number): string {
    const lines: string[] = []
    const writer = new HistogramLogWriter((line) => lines.push(line))
    writer.outputLogFormatVersion()
    writer.outputStartTime(startEpochMs)
    writer.outputComment('consensus-bench latency, microseconds; tag = <site>/<op>')
    writer.outputLegend()
    for (const site of this.sites()) {
      for (const op of OP_TYPES) {
        const h = this.#histograms.get(site)?.get(op)
        if (h === undefined || h.totalCount === 0) continue
        h.tag = `${site}/${op}`
        writer.outputIntervalHistogram(h, startSec, endSec, 1)
      }
    }
    return lines.join('')
  }
}

/** Reads a `.hlog` back into tag -> histogram (tags of several intervals are added together). */
export function readHlog(text: string): Map<string, Histogram> {
  const reader = new HistogramLogReader(text)
  const out = new Map<string, Histogram>()
  for (;;) {
    const h = reader.nextIntervalHistogram()
    if (h === null) break
    const tag = h.tag
    const sum = out.get(tag) ?? newLatencyHistogram()
    sum.add(h)
    out.set(tag, sum)
  }
  return out
}
