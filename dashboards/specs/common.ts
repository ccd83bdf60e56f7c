/**
 * What every chart builder shares: the result type (a Vega-Lite spec, or a short reason there is none),
 * the look, and the labels that tell cells apart.
 */
import type { TopLevelSpec } from 'vega-lite'
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
