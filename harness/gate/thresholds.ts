/**
 * Gate thresholds in k6's syntax (https://grafana.com/docs/k6/latest/using-k6/thresholds/): a metric
 * with an optional tag filter, and expressions `<aggregation> <op> <value>`. A value ending in `%` is a
 * relative limit against the baseline: `p(99)<+10%` = the current p99 is less than 1.10 x the
 * baseline's, `throughput>-5%` = the current throughput is more than 0.95 x the baseline's.
 *
 *   p(99)<250                                   latency (ms), every case
 *   latency{engine:epaxos,site:EU}: p(99)<250   k6's metric{tag:value} selector, then the expression
 *   {engine:epaxos}: p(99)<+10%                 the metric follows from the aggregation
 *   throughput>1000                             ops/s
 *   ops{bench:codec}: ops>-10%                  tinybench micro benchmarks (ops/s)
 *
 * A thresholds file (--thresholds) is k6's `thresholds` object: {"latency{site:EU}": ["p(99)<250"]}.
 */

export type Metric = 'latency' | 'throughput' | 'ops'
export type Comparison = '<' | '<=' | '>' | '>='

export type Aggregation =
  | { readonly kind: 'percentile'; readonly p: number }
  | { readonly kind: 'avg' | 'min' | 'max' }
  /** throughput and ops: the figure itself (k6 writes `rate` for a counter's per-second value) */
  | { readonly kind: 'rate' }

export interface Threshold {
  /** as the user wrote it (selector and expression) */
  readonly source: string
  readonly metric: Metric
  /** the tag filter: every tag must match */
  readonly tags: Readonly<Record<string, string>>
  readonly aggregation: Aggregation
  readonly op: Comparison
  /** absolute: ms (latency) or ops/s; relative: the ratio current/baseline, e.g. 1.1 for +10% */
  readonly limit: number
  readonly relative: boolean
}

/** The tags each metric can be filtered on (cell tags, and latency's histogram tags). */
export const TAGS_OF_METRIC: Readonly<Record<Metric, readonly string[]>> = {
  latency: ['engine', 'variant', 'topology', 'conflict', 'site', 'op'],
  throughput: ['engine', 'variant', 'topology', 'conflict', 'site'],
  ops: ['bench'],
}

/** What gates a run when no threshold is given: p50 and p99 may not regress by 10%, nor throughput. */
export const DEFAULT_RUN_THRESHOLDS = ['p(50)<+10%', 'p(99)<+10%', 'throughput>-10%']
/** ... and a micro benchmark run: ops/s may not fall by 10%. */
export const DEFAULT_MICRO_THRESHOLDS = ['ops>-10%']

/** A threshold that cannot be parsed: the CLI exits 2 with `where: the threshold: problem, fix`. */
export class ThresholdError extends Error {
  readonly code = 'ERR_THRESHOLD'
  constructor(
    readonly source: string,
    readonly problem: string,
    readonly fix: string,
  ) {
    super(`'${source}': ${problem} (fix: ${fix})`)
    this.name = 'ThresholdError'
  }
}

const EXPRESSION =
  /^(p\(\s*(\d+(?:\.\d+)?)\s*\)|avg|med|min|max|rate|throughput|ops)\s*(<=|>=|<|>|==|!=|===)\s*([+-]?\d+(?:\.\d+)?)\s*(%?)$/
const SELECTOR = /^([a-z_]*)\s*(?:\{([^}]*)\})?$/

const FIX_EXPRESSION =
  'write <aggregation> <op> <number>[%], like p(99)<250, avg<=20, throughput>1000 or p(99)<+10% (aggregations: p(N), avg, med, min, max for latency in ms; throughput or rate in ops/s; ops for micro benchmarks; ops: < <= > >=)'

function parseTags(source: string, text: string | undefined): Record<string, string> {
  const tags: Record<string, string> = {}
  if (text === undefined || text.trim() === '') return tags
  for (const part of text.split(',')) {
    const colon = part.indexOf(':')
    const key = part.slice(0, colon).trim()
    const value = part.slice(colon + 1).trim()
    if (colon < 0 || key === '' || value === '')
      throw new ThresholdError(
        source,
        `tag '${part.trim()}' is not key:value`,
        'write tags like {engine:epaxos,site:EU}',
      )
    if (key in tags) throw new ThresholdError(source, `tag '${key}' given twice`, 'give each tag once')
    tags[key] = value
  }
  return tags
}

function metricOf(word: string): Metric {
  if (word === 'throughput' || word === 'rate') return 'throughput'
  if (word === 'ops') return 'ops'
  return 'latency'
}

/** One threshold from a selector (`latency{site:EU}`, `{engine:raft}` or '') and one expression. */
export function parseThreshold(selector: string, expression: string): Threshold {
  const source = selector === '' ? expression.trim() : `${selector.trim()}: ${expression.trim()}`
  const sel = SELECTOR.exec(selector.trim())
  if (sel === null)
    throw new ThresholdError(
      source,
      `'${selector}' is not a metric{tag:value,...} selector`,
      'write it like latency{engine:epaxos,site:EU}',
    )
  const e = EXPRESSION.exec(expression.trim())
  if (e === null)
    throw new ThresholdError(source, `'${expression}' is not a threshold expression`, FIX_EXPRESSION)
  const [, word, pText, opText, valueText, percent] = e as unknown as [
    string,
    string,
    string | undefined,
    string,
    string,
    string,
  ]
  if (opText === '==' || opText === '!=' || opText === '===')
    throw new ThresholdError(
      source,
      `'${opText}' cannot be decided on a noisy measurement`,
      'use < <= > or >=',
    )
  const op = opText as Comparison
  const aggregation: Aggregation =
    pText !== undefined
      ? { kind: 'percentile', p: Number(pText) }
      : word === 'med'
        ? { kind: 'percentile', p: 50 }
        : word === 'avg' || word === 'min' || word === 'max'
          ? { kind: word }
          : { kind: 'rate' }
  if (aggregation.kind === 'percentile' && !(aggregation.p > 0 && aggregation.p <= 100))
    throw new ThresholdError(source, `p(${aggregation.p}) is not a percentile`, 'give p(N) with 0 < N <= 100')
  const implied = metricOf(word.startsWith('p(') ? 'p' : word)
  const named = sel[1] ?? ''
  if (named !== '' && named !== 'latency' && named !== 'throughput' && named !== 'ops')
    throw new ThresholdError(
      source,
      `unknown metric '${named}'`,
      'use latency (ms), throughput (ops/s) or ops (micro benchmarks, ops/s)',
    )
  const metric: Metric = named === '' ? implied : (named as Metric)
  // `throughput: rate>5` and `ops: rate>5` are the same figure under k6's name for it
  const compatible = metric === implied || (word === 'rate' && metric !== 'latency')
  if (!compatible)
    throw new ThresholdError(
      source,
      `'${word}' does not apply to ${metric}`,
      metric === 'latency'
        ? 'use p(N), avg, med, min or max'
        : `use ${metric === 'ops' ? 'ops' : 'throughput'} or rate`,
    )
  const tags = parseTags(source, sel[2])
  for (const key of Object.keys(tags))
    if (!TAGS_OF_METRIC[metric].includes(key))
      throw new ThresholdError(
        source,
        `${metric} has no tag '${key}'`,
        `use ${TAGS_OF_METRIC[metric].join(', ')}`,
      )
  const value = Number(valueText)
  const relative = percent === '%'
  if (relative && !(value > -100))
    throw new ThresholdError(
      source,
      `${value}% would leave nothing`,
      'give a change above -100%, like +10% or -5%',
    )
  if (!relative && valueText.startsWith('+'))
    throw new ThresholdError(
      source,
      `'${valueText}' has a sign but no %`,
      'write +10% for a relative limit, or a plain number',
    )
  return {
    source,
    metric,
    tags,
    aggregation,
    op,
    limit: relative ? 1 + value / 100 : value,
    relative,
  }
}

/** `--threshold` text: `[metric][{tags}]: <expression>` or just `<expression>`. */
export function parseThresholdFlag(text: string): Threshold {
  const m = /^\s*([a-z_]*\s*(?:\{[^}]*\})?)\s*:\s*(.+)$/.exec(text)
  // `{...}:` or `name:` before the expression; a bare expression has no ':' outside braces
  if (m !== null && m[1]!.trim() !== '') return parseThreshold(m[1]!, m[2]!)
  return parseThreshold('', text)
}

/** A k6 `thresholds` object: selector -> expression or list of expressions. */
export function parseThresholdsObject(raw: unknown, file: string): Threshold[] {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new ThresholdError(
      file,
      'not an object of selector -> [expressions]',
      'write {"latency{site:EU}": ["p(99)<250"], "throughput": ["rate>1000"]}',
    )
  const out: Threshold[] = []
  for (const [selector, list] of Object.entries(raw)) {
    const exprs = typeof list === 'string' ? [list] : list
    if (!Array.isArray(exprs) || exprs.some((x) => typeof x !== 'string'))
      throw new ThresholdError(
        `${file}: ${selector}`,
        'not a list of expression strings',
        'write ["p(99)<250", "p(99)<+10%"] (k6 objects with abortOnFail are not supported)',
      )
    // k6 keys name a metric; `throughput` as a key with `rate>1000` as its expression is k6's form
    for (const x of exprs as string[]) out.push(parseThreshold(selector, x))
  }
  return out
}

/** `p(99) < +10%` style text for tables. */
export function describeLimit(t: Threshold): string {
  if (!t.relative) return `${t.op} ${t.limit}${t.metric === 'latency' ? ' ms' : ' ops/s'}`
  const pct = Math.round((t.limit - 1) * 1e6) / 1e4
  return `${t.op} ${pct >= 0 ? '+' : ''}${pct}% of baseline`
}
