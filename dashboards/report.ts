/**
 * `buildReport(runDir)`: writes `<runDir>/report.html`, the vega bundles it loads into
 * `<runDir>/report-assets/`, and every chart as `<runDir>/charts/<name>.svg`, `.png` and `.vl.json`.
 * The page opens from disk with no network (html.ts). `reportAfterRun` is the guarded call the run
 * makes: a report failure is recorded in summary.json as `reportError`, never thrown over the results.
 */
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, sep } from 'node:path'
import { writeJsonAtomic } from '../harness/results/results-dir.ts'
import { ASSET_FILES, renderReportHtml } from './html.ts'
import { loadRun } from './load.ts'
import { renderSvg, svgToPng } from './render.ts'
import { buildCharts } from './specs/index.ts'

export interface ReportResult {
  /** absolute path of report.html */
  readonly file: string
  /** chart name -> 'chart' (SVG and PNG written) or the reason there is no data */
  readonly charts: ReadonlyArray<{
    readonly name: string
    readonly rendered: boolean
    readonly reason?: string
  }>
}

const require = createRequire(import.meta.url)

/** The browser bundles in node_modules (UMD builds that set window.vega and window.vegaLite). */
export function assetSource(file: (typeof ASSET_FILES)[number]): string {
  const pkg = file === 'vega.min.js' ? 'vega' : 'vega-lite'
  // the packages export no package.json: resolve their entry and walk up to node_modules/<pkg>
  let dir = dirname(require.resolve(pkg))
  while (!dir.endsWith(`${sep}node_modules${sep}${pkg}`)) {
    const up = dirname(dir)
    if (up === dir)
      throw new Error(`cannot find the ${pkg} package directory (is it installed? run npm install)`)
    dir = up
  }
  return join(dir, 'build', file)
}

export function copyAssets(targetDir: string): void {
  mkdirSync(targetDir, { recursive: true })
  for (const f of ASSET_FILES) copyFileSync(assetSource(f), join(targetDir, f))
}

export async function buildReport(runDir: string): Promise<ReportResult> {
  const model = loadRun(runDir)
  const charts = buildCharts(model)
  copyAssets(join(runDir, 'report-assets'))
  const chartDir = join(runDir, 'charts')
  // a rebuild must not leave a chart of the previous build that now has no data
  rmSync(chartDir, { recursive: true, force: true })
  mkdirSync(chartDir)
  for (const c of charts) {
    if (c.kind !== 'chart') continue
    const svg = await renderSvg(c.spec)
    writeFileSync(join(chartDir, `${c.name}.svg`), svg)
    writeFileSync(join(chartDir, `${c.name}.png`), await svgToPng(svg))
    writeFileSync(join(chartDir, `${c.name}.vl.json`), `${JSON.stringify(c.spec, null, 2)}\n`)
  }
  const file = join(model.runs[0]?.dir ?? runDir, 'report.html')
  const html = renderReportHtml(model, charts, { assetBase: 'report-assets/', chartBase: 'charts/' })
  writeFileSync(file, html)
  return {
    file,
    charts: charts.map((c) =>
      c.kind === 'chart'
        ? { name: c.name, rendered: true }
        : { name: c.name, rendered: false, reason: c.reason },
    ),
  }
}

/**
 * `consensus-bench report <dir>`: rebuild the report, and once it has succeeded drop the `reportError`
 * an earlier attempt left in summary.json (written atomically: temp file, then rename).
 */
export async function rebuildReport(runDir: string): Promise<ReportResult> {
  const result = await buildReport(runDir)
  const summaryFile = join(runDir, 'summary.json')
  const summary = JSON.parse(readFileSync(summaryFile, 'utf8')) as Record<string, unknown>
  if ('reportError' in summary) {
    delete summary.reportError
    writeJsonAtomic(summaryFile, summary)
  }
  return result
}

/**
 * The end of a run: build the report; on any failure record `reportError` in summary.json and carry
 * on. Returns the summary as it now is on disk. The report's path goes to `progress`.
 */
export async function reportAfterRun<S extends object>(
  runDir: string,
  summary: S,
  progress: (line: string) => void,
): Promise<S & { reportError?: string }> {
  try {
    const { file } = await buildReport(runDir)
    progress(`report: ${file}`)
    return summary
  } catch (err: unknown) {
    const reportError = err instanceof Error ? err.message : String(err)
    progress(`report failed (results intact; rebuild: consensus-bench report ${runDir}): ${reportError}`)
    const withError = { ...summary, reportError }
    try {
      writeJsonAtomic(join(runDir, 'summary.json'), withError)
    } catch (writeErr: unknown) {
      progress(`could not record reportError in summary.json: ${(writeErr as Error).message}`)
    }
    return withError
  }
}
