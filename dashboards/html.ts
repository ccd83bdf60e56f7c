/**
 * The report page as a string: a header of the run's facts, the claims table, a table of cells, and one
 * section per chart whose Vega-Lite spec (data inline) is rendered in the page by the vega and vega-lite
 * browser bundles loaded from `assetBase`. Nothing is fetched from the network: the data is in the page
 * and the bundles sit next to it (report.ts) or are served from 127.0.0.1 (serve.ts).
 */
import { REFERENCE_COLUMNS } from '../harness/claims/references.ts'
import type { CellModel, ReferenceRowModel, ResultsModel, RunModel } from './model.ts'
import type { Chart } from './specs/index.ts'

export interface PageOptions {
  /** where vega.min.js and vega-lite.min.js are, ending in '/' ('report-assets/' or '/assets/') */
  readonly assetBase: string
  /** where charts/<name>.svg|png|vl.json are, ending in '/', or null when they were not written */
  readonly chartBase: string | null
  /** a link back (the served index), or null in a report opened from disk */
  readonly backLink?: { readonly href: string; readonly text: string } | null
}

export const ASSET_FILES = ['vega.min.js', 'vega-lite.min.js'] as const

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
}
export const esc = (s: unknown) => String(s).replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c)

/** JSON that is safe inside <script>: no '</script>' or '<!--' can appear in it. */
const scriptJson = (v: unknown) => JSON.stringify(v).replace(/</g, '\\u003c')

const fmtMs = (us: number) => (us / 1000).toFixed(2)
const uniq = <T>(xs: readonly T[]) => [...new Set(xs)]

function countBy(xs: readonly string[]): string {
  const counts = new Map<string, number>()
  for (const x of xs) counts.set(x, (counts.get(x) ?? 0) + 1)
  return [...counts].map(([k, n]) => `${n} ${k}`).join(', ') || 'none'
}

/** Calibration in one phrase: how many links, how many off target, the worst one. */
export function calibrationStatus(run: RunModel): string {
  const cal = run.env?.calibration
  if (cal === null || cal === undefined)
    return run.env?.shaper === 'none' || run.env?.shaper === null ? 'none (no shaping)' : 'not recorded'
  if (cal.links.length === 0) return 'no shaped links'
  const off = cal.links.filter((l) => !l.withinTolerance)
  if (off.length === 0) return `all ${cal.links.length} links within tolerance`
  const worst = [...off].sort((a, b) => Math.abs(b.errorMs) - Math.abs(a.errorMs))[0]!
  const sign = worst.errorMs >= 0 ? '+' : ''
  return `${off.length} of ${cal.links.length} links OFF TARGET (worst ${worst.from} → ${worst.to} ${sign}${worst.errorMs.toFixed(2)} ms)`
}

function factRows(model: ResultsModel): Array<[string, string]> {
  const cells = model.cells
  const runs = model.runs
  const env = runs[0]?.env ?? null
  const rows: Array<[string, string]> = []
  if (runs.length === 1) {
    const r = runs[0]!
    rows.push(
      ['run', r.runId],
      ['status', r.status],
      ['started', r.startedAt ?? '?'],
      ['finished', r.finishedAt ?? '—'],
    )
  } else rows.push(['runs', runs.map((r) => `${r.runId} (${r.status})`).join(', ')])
  const references = uniq(cells.filter((c) => c.reference !== null).map((c) => c.label))
  rows.push(
    ['engines', uniq(cells.filter((c) => c.reference === null).map((c) => c.label)).join(', ') || '—'],
    ...(references.length === 0
      ? []
      : [
          [
            'references',
            `${references.join(', ')} (external systems run beside the engines; not judged by the claims)`,
          ] as [string, string],
        ]),
    ['topology', uniq(cells.map((c) => c.topology)).join(', ') || '—'],
    [
      'conflict rates',
      uniq(cells.map((c) => c.conflict))
        .sort((a, b) => a - b)
        .join(', ') || '—',
    ],
    ['cells', String(cells.length)],
    ['check verdicts', countBy(cells.map((c) => c.verdict))],
  )
  if (env !== null) {
    const gb = env.memoryBytes === null ? '?' : (env.memoryBytes / 1024 ** 3).toFixed(1)
    rows.push(
      ['CPU', `${env.cpuModel ?? '?'} × ${env.cpuCount ?? '?'}, ${gb} GiB`],
      ['node / kernel', `${env.node ?? '?'} / ${env.platform ?? '?'} ${env.kernel ?? '?'}`],
      ['commit', `${env.gitCommit?.slice(0, 12) ?? 'unknown'}${env.gitDirty === true ? ' (dirty)' : ''}`],
      ['launcher / shaper', `${env.launcher ?? '?'} / ${env.shaper ?? '?'}`],
    )
  }
  for (const r of runs)
    rows.push([runs.length > 1 ? `calibration ${r.runId}` : 'calibration', calibrationStatus(r)])
  for (const r of runs)
    if (r.reportError !== null) rows.push(['previous report error', `${r.runId}: ${r.reportError}`])
  return rows
}

/** An HTML table; `rowClass` gives a row its class (a reference cell), or null. */
function table(
  head: readonly string[],
  rows: readonly (readonly string[])[],
  rowClass: (i: number) => string | null = () => null,
  tableClass: string | null = null,
): string {
  const th = head.map((h) => `<th>${esc(h)}</th>`).join('')
  const trs = rows
    .map((r, i) => {
      const cls = rowClass(i)
      return `<tr${cls === null ? '' : ` class="${esc(cls)}"`}>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`
    })
    .join('\n')
  const tc = tableClass === null ? '' : ` class="${esc(tableClass)}"`
  return `<table${tc}><thead><tr>${th}</tr></thead><tbody>\n${trs}\n</tbody></table>`
}

const cellText = (v: unknown) =>
  v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v)

/**
 * summary.claims, whatever its final shape: an array of objects becomes a table (columns = their keys
 * in first-seen order), an object holding such an array under `claims` or `rows` likewise, anything else
 * a key/value table.
 */
export function claimsHtml(claims: unknown): string {
  if (claims === null || claims === undefined)
    return '<p class="placeholder">No claims verdict in this run (the claims evaluator writes <code>summary.claims</code>).</p>'
  let rows: unknown = claims
  if (!Array.isArray(rows) && typeof rows === 'object' && rows !== null) {
    const o = rows as Record<string, unknown>
    rows = Array.isArray(o.claims) ? o.claims : Array.isArray(o.rows) ? o.rows : rows
  }
  if (Array.isArray(rows) && rows.every((r) => typeof r === 'object' && r !== null && !Array.isArray(r))) {
    const objs = rows as Record<string, unknown>[]
    const head = uniq(objs.flatMap((o) => Object.keys(o)))
    return table(
      head,
      objs.map((o) => head.map((k) => cellText(o[k]))),
    )
  }
  if (typeof rows === 'object' && rows !== null && !Array.isArray(rows))
    return table(
      ['key', 'value'],
      Object.entries(rows).map(([k, v]) => [k, cellText(v)]),
    )
  return `<pre>${esc(JSON.stringify(claims, null, 2))}</pre>`
}

const fig = (x: number | null) => (x === null ? '—' : String(x))

/**
 * The reference rows (summary.json `references`, harness/claims/references.ts) with the columns the CLI
 * prints under the claims table, plus the cells they come from and their source.
 */
export function referencesHtml(runs: readonly RunModel[]): string {
  const rows = runs.flatMap((r) => r.references)
  if (rows.length === 0) return ''
  const multiRun = runs.length > 1
  const computed = rows.some((r) => r.from === 'cells')
  const row = (r: ReferenceRowModel) => [
    ...(multiRun ? [r.runId] : []),
    `${r.engine} (reference)`,
    r.topology,
    String(r.conflict),
    fig(r.throughputOpsPerSec),
    fig(r.p50Ms),
    r.p50MsByOp === null ? '—' : `${fig(r.p50MsByOp.get)}/${fig(r.p50MsByOp.put)}`,
    fig(r.p99Ms),
    r.linearizable === null ? '—' : `${r.linearizable.yes}/${r.linearizable.of}`,
    fig(r.p50OverExpected),
    r.vsModel === null ? '—' : `${fig(r.vsModel.throughputRatio)} (/${r.vsModel.engine})`,
    r.vsModel === null ? '—' : fig(r.vsModel.p99Ratio),
    r.cells.join(', '),
    r.source + (r.from === 'cells' ? ' (row computed at report time from the cells)' : ''),
  ]
  return `<section id="references"><h2>Reference rows</h2>
<p class="reference-note">Not our engines: external systems (harness/external/) measured in this run beside the engines, on the same
topology, shaper, load and checker. They are not judged by the claims. Figures are means over the row's cells;
p50/expected holds each to its model engine's expected latency; the ratios are over that engine's cells of the
same topology and conflict rate.${computed ? ' Rows marked "computed at report time": summary.json has no <code>references</code> (the run did not finish), so they were computed from the cells marked <code>external</code>.' : ''}</p>
${table(
  [...(multiRun ? ['run'] : []), ...REFERENCE_COLUMNS, 'cells', 'source'],
  rows.map(row),
  () => 'reference',
  'references',
)}
</section>`
}

function cellRow(c: CellModel, multiRun: boolean, refs: boolean): string[] {
  return [
    ...(multiRun ? [c.runId] : []),
    c.id,
    ...(refs ? [c.reference === null ? 'engine' : 'reference'] : []),
    c.reference === null ? c.label : `${c.label} (reference)`,
    c.topology,
    String(c.conflict),
    c.achievedConflict === null ? '' : c.achievedConflict.toFixed(3),
    String(c.throughputOpsPerSec),
    fmtMs(c.latencyUs.p50),
    fmtMs(c.latencyUs.p99),
    c.verdict,
    c.bottleneckNode ?? '',
    ...(refs ? [c.reference?.source ?? 'our engine'] : []),
  ]
}

function chartSection(c: Chart, chartBase: string | null): string {
  const links =
    c.kind === 'chart' && chartBase !== null
      ? `<p class="files">${['svg', 'png', 'vl.json'].map((ext) => `<a href="${esc(`${chartBase}${c.name}.${ext}`)}">${ext}</a>`).join(' · ')}</p>`
      : ''
  const body =
    c.kind === 'chart' ? '<div class="chart-view"></div>' : `<p class="no-data">no data: ${esc(c.reason)}</p>`
  return `<section class="chart" id="chart-${esc(c.name)}" data-chart="${esc(c.name)}" data-state="${c.kind === 'chart' ? 'pending' : 'no-data'}">
<h2>${esc(c.title)}</h2>
<p class="question">${esc(c.question)}</p>
${body}
${links}
</section>`
}

const STYLE = `
body { font-family: 'DejaVu Sans', 'Liberation Sans', Arial, sans-serif; margin: 1.5rem auto; max-width: 1100px; color: #222; padding: 0 1rem; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin-bottom: .2rem; }
table { border-collapse: collapse; font-size: .85rem; margin: .5rem 0; }
th, td { border: 1px solid #ddd; padding: .2rem .5rem; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
table.facts th { width: 12rem; }
.question { color: #555; margin-top: 0; }
.no-data, .placeholder { color: #8a6d3b; background: #fcf8e3; padding: .4rem .6rem; display: inline-block; }
.chart { border-top: 1px solid #eee; padding-top: .5rem; margin-top: 1rem; }
.files { font-size: .8rem; }
tr.reference td { background: #f3f0fa; font-style: italic; }
.reference-note { color: #555; font-size: .9rem; }
.failed { color: #a94442; }
`

// The page's one script: compile each Vega-Lite spec with the bundled vega-lite, render it as SVG with
// the bundled vega, and mark its section (the browser test waits for body[data-charts=done]).
const RENDER_SCRIPT = `
(async () => {
  const specs = JSON.parse(document.getElementById('chart-specs').textContent);
  for (const [name, spec] of Object.entries(specs)) {
    const section = document.querySelector('[data-chart="' + name + '"]');
    const container = section.querySelector('.chart-view');
    try {
      const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: 'svg', container, hover: true });
      await view.runAsync();
      section.dataset.state = 'rendered';
    } catch (err) {
      section.dataset.state = 'failed';
      container.innerHTML = '<p class="failed"></p>';
      container.firstChild.textContent = 'chart failed: ' + err.message;
      console.error('chart ' + name + ' failed', err);
    }
  }
  document.body.dataset.charts = 'done';
})();
`

export function renderReportHtml(
  model: ResultsModel,
  charts: readonly Chart[],
  options: PageOptions,
): string {
  const title =
    model.runs.length === 1
      ? `consensus-bench report: ${model.runs[0]!.runId}`
      : `consensus-bench: ${model.runs.length} runs`
  const multiRun = model.runs.length > 1
  const refs = model.cells.some((c) => c.reference !== null)
  const specs = Object.fromEntries(charts.flatMap((c) => (c.kind === 'chart' ? [[c.name, c.spec]] : [])))
  const problems = [...model.runs.flatMap((r) => r.problems), ...model.cells.flatMap((c) => c.problems)]
  const back = options.backLink
    ? `<p><a href="${esc(options.backLink.href)}">${esc(options.backLink.text)}</a></p>`
    : ''
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${esc(title)}</title>
<style>${STYLE}</style>
<script src="${esc(options.assetBase)}vega.min.js"></script>
<script src="${esc(options.assetBase)}vega-lite.min.js"></script>
</head>
<body data-charts="pending">
${back}
<h1>${esc(title)}</h1>
<table class="facts"><tbody>
${factRows(model)
  .map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`)
  .join('\n')}
</tbody></table>
<section id="claims"><h2>Claims</h2>
${claimsHtml(model.runs.length === 1 ? model.runs[0]!.claims : null)}
</section>
${referencesHtml(model.runs)}
<section id="cells"><h2>Cells</h2>
${table(
  [
    ...(multiRun ? ['run'] : []),
    'cell',
    ...(refs ? ['kind'] : []),
    'engine',
    'topology',
    'conflict',
    'achieved',
    'ops/s',
    'p50 ms',
    'p99 ms',
    'check',
    'bottleneck',
    ...(refs ? ['source'] : []),
  ],
  model.cells.map((c) => cellRow(c, multiRun, refs)),
  (i) => (model.cells[i]?.reference === null ? null : 'reference'),
)}
</section>
${charts.map((c) => chartSection(c, options.chartBase)).join('\n')}
${problems.length > 0 ? `<details><summary>${problems.length} loading notes</summary><ul>${problems.map((p) => `<li>${esc(p)}</li>`).join('')}</ul></details>` : ''}
<script type="application/json" id="chart-specs">${scriptJson(specs)}</script>
<script>${RENDER_SCRIPT}</script>
</body>
</html>
`
}
