/**
 * What every chart builder shares: the result type (a Vega-Lite spec, or a short reason there is none),
 * the look, and the labels that tell cells apart.
 */
import type { TopLevelSpec } from 'vega-lite'
import type { Encoding } from 'vega-lite/types_unstable/encoding.js'
import type { CellModel, ResultsModel } from '../model.ts'

export interface ChartInfo {
  /** file-safe name: charts/<name>.svg, and the id of its container in report.html */
  readonly name: string
  readonly title: string
  /** the question the chart answers, shown above it */
  readonly question: string
}

export type Chart =
  | (ChartInfo & { readonly kind: 'chart'; readonly spec: TopLevelSpec })
  | (ChartInfo & { readonly kind: 'no-data'; readonly reason: string })

export type ChartBuilder = (model: ResultsModel) => Chart

export const WIDTH = 560
export const HEIGHT = 300

/** One look for every chart; the font names exist on Debian (DejaVu) so SVG, PNG and browser agree. */
export const CONFIG = {
  font: 'DejaVu Sans, Liberation Sans, Arial, sans-serif',
  background: 'white',
  view: { stroke: '#ddd' },
  axis: { labelFontSize: 11, titleFontSize: 12, gridColor: '#eee' },
  legend: { labelFontSize: 11, titleFontSize: 12, labelLimit: 260 },
  title: { fontSize: 14, anchor: 'start' as const, subtitleFontSize: 11, subtitleColor: '#555' },
}

export function chart(info: ChartInfo, spec: TopLevelSpec | null, reason: string): Chart {
  if (spec === null) return { ...info, kind: 'no-data', reason }
  return {
    ...info,
    kind: 'chart',
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      config: CONFIG,
      ...spec,
    } as TopLevelSpec,
  }
}

export const ms = (us: number) => Math.round(us) / 1000

const conflictsVary = (cells: readonly CellModel[]) => new Set(cells.map((c) => c.conflict)).size > 1

/** The line a cell belongs to: its series, plus its conflict rate when several were measured. */
export function lineLabel(cell: CellModel, cells: readonly CellModel[]): string {
  return conflictsVary(cells) ? `${cell.series} c=${cell.conflict}` : cell.series
}

/** A key unique per cell across runs (repetitions of one line are drawn as separate lines of one colour). */
export const cellKey = (cell: CellModel) => `${cell.runId}/${cell.id}`

export const LATENCY_STATS = ['median', 'p99'] as const
export const statUs = (l: { p50: number; p99: number }, stat: (typeof LATENCY_STATS)[number]) =>
  stat === 'median' ? l.p50 : l.p99

/**
 * Reference rows (external systems such as etcd, run beside the engines: model.ts ReferenceSource) in
 * the charts: each datum says `kind` 'engine' or 'reference' and its `source`, and the charts that
 * compare cells on one axis draw references apart (faint dashed bars, hollow points, dashed lines), with
 * a legend and a note above the chart saying so. A run without references gets none of this: its charts are as before.
 */
export const REFERENCE_KINDS = ['engine', 'reference'] as const
/** A datum's `kind` and `source` fields for a cell. */
export const referenceFields = (cell: CellModel) => ({
  kind: (cell.reference === null ? 'engine' : 'reference') as (typeof REFERENCE_KINDS)[number],
  source: cell.reference?.source ?? 'our engine',
})
export const hasReferences = (cells: readonly CellModel[]) => cells.some((c) => c.reference !== null)
export const isReference = "datum.kind === 'reference'"

/** The note of a chart that draws references apart, two lines: what the reference marks are. */
export function referenceNote(marks: string): string[] {
  return [
    `${marks}: reference rows, not our engines`,
    '(external systems run beside the engines in this run; not judged by the claims)',
  ]
}

/** The note of a chart that draws references apart as its title, when there are references. */
export const referenceTitle = (refs: boolean, marks: string) => (refs ? noteTitle(referenceNote(marks)) : {})

/**
 * A chart's notes as its title, in the subtitle's small grey type (vega draws no subtitle under an
 * empty title text, so the notes are the text itself).
 */
export function noteTitle(lines: readonly string[]) {
  return { title: { text: [...lines], fontSize: 11, fontWeight: 'normal' as const, color: '#555' } }
}

/**
 * Bars: references faint with a dashed outline, and a legend naming the two kinds. Spread it into the
 * encoding after y, with `stack: null` on y (one bar per series and site: nothing to stack).
 */
export const referenceBarEncoding = {
  opacity: {
    field: 'kind',
    type: 'ordinal',
    sort: [...REFERENCE_KINDS],
    title: null,
    scale: { domain: [...REFERENCE_KINDS], range: [1, 0.4] },
  },
  strokeWidth: { condition: { test: isReference, value: 1.5 }, value: 0 },
} as const
export const referenceBarMark = { stroke: '#222', strokeDash: [3, 2] }

/**
 * The point layer of a chart with a point per cell: as given when there are no references; with them,
 * two layers: engines as given (filled), references hollow and larger.
 */
export function pointLayers(
  mark: { readonly type: 'point'; readonly filled: true; readonly size?: number },
  encoding: Encoding<string>,
  refs: boolean,
) {
  if (!refs) return [{ mark, encoding }]
  return [
    { transform: [{ filter: `!(${isReference})` }], mark, encoding },
    {
      transform: [{ filter: isReference }],
      mark: { ...mark, filled: false, strokeWidth: 2, size: Math.round((mark.size ?? 30) * 1.6) },
      encoding,
    },
  ]
}
