/**
 * The served dashboard (`consensus-bench serve`): an index of every run under a results root, each run's
 * report rendered fresh from its files (so a run without report.html, or one read with newer charts,
 * still shows), a comparison of several runs in one report, the run's own files (charts, summary.json),
 * and the vega bundles. Bound to 127.0.0.1 only; read-only: it never writes into the results.
 */
import { createReadStream, existsSync, readFileSync, realpathSync, statSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { basename, extname, join, resolve, sep } from 'node:path'
import { cellLabel } from '../harness/results/label.ts'
import { ASSET_FILES, esc, renderReportHtml } from './html.ts'
import { listRunDirs, loadResults } from './load.ts'
import { assetSource } from './report.ts'
import { buildCharts } from './specs/index.ts'

export const SERVE_HOST = '127.0.0.1'

export interface ServeOptions {
  readonly resultsRoot: string
  /** 0 = any free port */
  readonly port?: number
}

export interface RunningServer {
  /** http://127.0.0.1:<port>/ */
  readonly url: string
  readonly port: number
  close(): Promise<void>
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
}

/** One line of the index, from summary.json alone (no HDR logs read). */
export interface RunListing {
  readonly runId: string
  readonly status: string
  readonly startedAt: string | null
  readonly engines: readonly string[]
  readonly topologies: readonly string[]
  readonly cells: number
  readonly verdicts: string
  readonly hasReport: boolean
  readonly reportError: string | null
}

export function listRuns(resultsRoot: string): RunListing[] {
  return listRunDirs(resultsRoot)
    .map((dir): RunListing => {
      let summary: Record<string, unknown> = {}
      try {
        summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as Record<string, unknown>
      } catch {
        // listed anyway: its status says it could not be read
      }
      const cells = (Array.isArray(summary.cells) ? summary.cells : []) as Array<Record<string, unknown>>
      const field = (k: string) => [...new Set(cells.map((c) => String(c[k] ?? '?')))]
      const verdicts = new Map<string, number>()
      for (const c of cells) {
        const v = String((c.check as { verdict?: unknown } | undefined)?.verdict ?? 'unknown')
        verdicts.set(v, (verdicts.get(v) ?? 0) + 1)
      }
      return {
        runId: basename(dir),
        status: typeof summary.status === 'string' ? summary.status : 'unreadable summary.json',
        startedAt: typeof summary.startedAt === 'string' ? summary.startedAt : null,
        engines: [
          ...new Set(
            cells.map((c) =>
              cellLabel({
                engine: String(c.engine ?? '?'),
                variant: typeof c.variant === 'string' ? c.variant : null,
              }),
            ),
          ),
        ],
        topologies: field('topology'),
        cells: cells.length,
        verdicts: [...verdicts].map(([v, n]) => `${n} ${v}`).join(', ') || '—',
        hasReport: existsSync(join(dir, 'report.html')),
        reportError: typeof summary.reportError === 'string' ? summary.reportError : null,
      }
    })
    .sort((a, b) => (b.startedAt ?? b.runId).localeCompare(a.startedAt ?? a.runId))
}

function indexHtml(resultsRoot: string, runs: readonly RunListing[]): string {
  const rows = runs
    .map((r) => {
      const id = encodeURIComponent(r.runId)
      return `<tr data-run="${esc(r.runId)}">
<td><input type="checkbox" name="run" value="${esc(r.runId)}"></td>
<td><a href="/runs/${id}/">${esc(r.runId)}</a></td><td>${esc(r.startedAt ?? '')}</td>
<td>${esc(r.engines.join(', '))}</td><td>${esc(r.topologies.join(', '))}</td><td>${esc(r.status)}</td>
<td>${r.cells}</td><td>${esc(r.verdicts)}</td>
<td>${r.hasReport ? `<a href="/runs/${id}/files/report.html">report.html</a>` : 'not built'}${r.reportError !== null ? ` (failed: ${esc(r.reportError)})` : ''}</td>
</tr>`
    })
    .join('\n')
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>consensus-bench runs</title>
<style>
body { font-family: 'DejaVu Sans', 'Liberation Sans', Arial, sans-serif; margin: 1.5rem auto; max-width: 1200px; padding: 0 1rem; }
table { border-collapse: collapse; font-size: .85rem; } th, td { border: 1px solid #ddd; padding: .2rem .5rem; text-align: left; }
th { background: #f4f4f4; }
</style></head>
<body>
<h1>consensus-bench runs</h1>
<p>${runs.length} runs in <code>${esc(resultsRoot)}</code>, newest first. A run's link shows its report built fresh from its
files; tick several and compare them in one report (or <a href="/compare">all runs together</a>).</p>
<form action="/compare" method="get">
<table id="runs"><thead><tr><th></th><th>run</th><th>started</th><th>engines</th><th>topology</th><th>status</th><th>cells</th><th>check verdicts</th><th>report</th></tr></thead>
<tbody>
${rows}
</tbody></table>
<p><button type="submit">compare selected</button></p>
</form>
</body></html>
`
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message)
  }
}

/** A run directory by id: only a name the listing knows, so a path can never climb out of the root. */
function runDir(resultsRoot: string, runId: string): string {
  const dir = listRunDirs(resultsRoot).find((d) => basename(d) === runId)
  if (dir === undefined) throw new HttpError(404, `no run ${runId} in ${resultsRoot}`)
  return dir
}

type Sent = 'sent'

function sendFile(res: ServerResponse, file: string, root: string): Sent {
  let real: string
  try {
    real = realpathSync(file)
  } catch {
    throw new HttpError(404, 'no such file')
  }
  const rootReal = realpathSync(root)
  if (real !== rootReal && !real.startsWith(rootReal + sep)) throw new HttpError(404, 'outside the run')
  if (!statSync(real).isFile()) throw new HttpError(404, 'not a file')
  res.writeHead(200, { 'content-type': CONTENT_TYPES[extname(real)] ?? 'text/plain; charset=utf-8' })
  createReadStream(real).pipe(res)
  return 'sent'
}

function sendHtml(res: ServerResponse, html: string): Sent {
  res.writeHead(200, { 'content-type': CONTENT_TYPES['.html']!, 'cache-control': 'no-store' })
  res.end(html)
  return 'sent'
}

function reportPage(dirs: readonly string[], chartBase: string | null): string {
  const model = loadResults(dirs)
  return renderReportHtml(model, buildCharts(model), {
    assetBase: '/assets/',
    chartBase,
    backLink: { href: '/', text: '← all runs' },
  })
}

/** Answers one request; returns what it sent (so every branch ends in a send or a throw). */
function route(resultsRoot: string, req: IncomingMessage, res: ServerResponse): Sent {
  if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, 'only GET')
  const url = new URL(req.url ?? '/', `http://${SERVE_HOST}`)
  const parts = url.pathname
    .split('/')
    .filter((p) => p !== '')
    .map(decodeURIComponent)
  if (parts.length === 0) return sendHtml(res, indexHtml(resultsRoot, listRuns(resultsRoot)))
  if (parts[0] === 'assets' && parts.length === 2) {
    const name = ASSET_FILES.find((f) => f === parts[1])
    if (name === undefined) throw new HttpError(404, 'no such asset')
    res.writeHead(200, { 'content-type': CONTENT_TYPES['.js']! })
    createReadStream(assetSource(name)).pipe(res)
    return 'sent'
  }
  if (parts[0] === 'compare' && parts.length === 1) {
    const wanted = url.searchParams.getAll('run')
    const dirs = wanted.length === 0 ? listRunDirs(resultsRoot) : wanted.map((id) => runDir(resultsRoot, id))
    if (dirs.length === 0) throw new HttpError(404, `no runs in ${resultsRoot}`)
    return sendHtml(res, reportPage(dirs, null))
  }
  if (parts[0] === 'runs' && parts.length >= 2) {
    const dir = runDir(resultsRoot, parts[1]!)
    if (parts.length === 2) {
      if (!url.pathname.endsWith('/')) {
        // relative links in the page resolve against the directory
        res.writeHead(301, { location: `/runs/${encodeURIComponent(parts[1]!)}/` })
        res.end()
        return 'sent'
      }
      const chartBase = existsSync(join(dir, 'charts')) ? 'files/charts/' : null
      return sendHtml(res, reportPage([dir], chartBase))
    }
    if (parts[2] === 'files' && parts.length > 3) return sendFile(res, join(dir, ...parts.slice(3)), dir)
  }
  throw new HttpError(404, 'not found')
}

export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const resultsRoot = resolve(options.resultsRoot)
  const server: Server = createServer((req, res) => {
    try {
      route(resultsRoot, req, res)
    } catch (err: unknown) {
      const status = err instanceof HttpError ? err.status : 500
      if (!res.headersSent) res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' })
      res.end(`${status}: ${(err as Error).message}\n`)
    }
  })
  await new Promise<void>((ok, fail) => {
    server.once('error', fail)
    server.listen(options.port ?? 0, SERVE_HOST, () => {
      server.off('error', fail)
      ok()
    })
  })
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://${SERVE_HOST}:${port}/`,
    port,
    close: () =>
      new Promise<void>((ok) => {
        // keep-alive browser connections would hold close() open: end them
        server.close(() => ok())
        server.closeAllConnections()
      }),
  }
}
