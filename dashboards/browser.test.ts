/**
 * The report and the served dashboard in a real browser: Debian's chromium driven by playwright-core
 * (no browser download). Checks that every chart section rendered an SVG with marks (or says why it has
 * no data), that the console shows no error, and that no request leaves file:// or 127.0.0.1 (other
 * requests are aborted and recorded). Screenshots go to a temp dir that is kept; its path is printed.
 * Skips, saying how to install it, only when chromium is missing (CI: .ci/run installs it).
 */
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { pathToFileURL } from 'node:url'
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core'
import { buildReport } from './report.ts'
import { type RunningServer, startServer } from './serve.ts'
import { CHART_BUILDERS } from './specs/index.ts'
import { writeFixtureRun } from './testdata/fixture.ts'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const missing = existsSync(CHROMIUM)
  ? false
  : `chromium not found at ${CHROMIUM} (missing environment piece, exit code 4 in CLI terms): install it with \`apt-get install -y chromium\`, or set CHROMIUM_PATH`

const CHART_TIMEOUT_MS = 60_000

interface PageWatch {
  readonly errors: string[]
  readonly blocked: string[]
}

/** A page whose console errors and off-machine requests are recorded; those requests are aborted. */
async function watchedPage(context: BrowserContext): Promise<{ page: Page; watch: PageWatch }> {
  const watch: PageWatch = { errors: [], blocked: [] }
  const page = await context.newPage()
  page.on('console', (m) => {
    if (m.type() === 'error') watch.errors.push(m.text())
  })
  page.on('pageerror', (e) => watch.errors.push(`page error: ${e.message}`))
  await page.route('**/*', async (route) => {
    const url = route.request().url()
    if (/^(file:|data:|blob:|http:\/\/127\.0\.0\.1[:/])/.test(url)) return route.continue()
    watch.blocked.push(url)
    return route.abort()
  })
  return { page, watch }
}

/** Waits for the page's render script, then checks each chart section; returns name -> state. */
async function checkCharts(page: Page): Promise<Record<string, string>> {
  await page.waitForSelector('body[data-charts="done"]', { timeout: CHART_TIMEOUT_MS })
  const sections = await page.$$eval('section[data-chart]', (els) =>
    els.map((el) => ({
      name: el.getAttribute('data-chart') ?? '',
      state: el.getAttribute('data-state') ?? '',
      svgs: el.querySelectorAll('.chart-view svg').length,
      // vega's SVG renderer gives every mark group a role-mark class; count their drawn children
      marks: [...el.querySelectorAll('.chart-view svg g.role-mark')].reduce(
        (n, g) => n + g.children.length,
        0,
      ),
      noData: el.querySelector('.no-data')?.textContent ?? '',
    })),
  )
  assert.deepEqual(
    sections.map((s) => s.name),
    CHART_BUILDERS.map((b) => b({ runs: [], cells: [] }).name),
    'a section per chart, in order',
  )
  for (const s of sections) {
    if (s.state === 'no-data') {
      assert.match(s.noData, /^no data: .+/, `${s.name} says why`)
      continue
    }
    assert.equal(s.state, 'rendered', `${s.name} rendered`)
    assert.equal(s.svgs, 1, `${s.name} has its svg`)
    assert.ok(s.marks > 0, `${s.name} has marks (${s.marks})`)
  }
  return Object.fromEntries(sections.map((s) => [s.name, s.state]))
}

describe('dashboards in chromium', { skip: missing }, () => {
  // screenshots are kept only when asked for (KEEP_SCREENSHOTS=1), so CI runs leave no temp dirs
  const KEEP_SCREENSHOTS = process.env.KEEP_SCREENSHOTS !== undefined
  const root = mkdtempSync(join(tmpdir(), 'dash-browser-'))
  const shots = mkdtempSync(join(tmpdir(), 'dash-screenshots-'))
  let browser: Browser | undefined
  let server: RunningServer | undefined
  let fullDir = ''

  before(async () => {
    // with etcd as a reference row: its charts' reference layers and encodings must render too
    fullDir = writeFixtureRun(root, {
      claims: [{ claim: 'Multi-Paxos: 1 RTT at the leader', verdict: 'supported', why: 'fixture' }],
      references: 'summary',
    })
    writeFixtureRun(root, { minimal: true, runId: '20261126T140000Z-multipaxos-minimal' })
    await buildReport(fullDir)
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      // chromium refuses to run as root with its sandbox; the pages are our own files
      args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
    })
    server = await startServer({ resultsRoot: root, port: 0 })
    if (KEEP_SCREENSHOTS) process.stderr.write(`browser test screenshots: ${shots}\n`)
  })

  after(async () => {
    await browser?.close()
    await server?.close()
    rmSync(root, { recursive: true, force: true })
    if (!KEEP_SCREENSHOTS) rmSync(shots, { recursive: true, force: true })
  })

  test('report.html opened from disk renders every chart with no network and no console error', async () => {
    const context = await browser!.newContext({ viewport: { width: 1200, height: 900 } })
    try {
      const { page, watch } = await watchedPage(context)
      await page.goto(pathToFileURL(join(fullDir, 'report.html')).href)
      const states = await checkCharts(page)
      assert.ok(
        Object.values(states).every((s) => s === 'rendered'),
        `every chart of a full run rendered: ${JSON.stringify(states)}`,
      )
      assert.match((await page.textContent('#claims')) ?? '', /supported/)
      assert.match((await page.textContent('#references')) ?? '', /etcd \(reference\)/)
      assert.equal(await page.locator('#cells tr.reference').count(), 3, 'the etcd cells are marked')
      await page.screenshot({ path: join(shots, 'report-from-disk.png'), fullPage: true })
      assert.deepEqual(watch.blocked, [], 'no request left the machine')
      assert.deepEqual(watch.errors, [], 'no console error')
    } finally {
      await context.close()
    }
  })

  test('the served index links to each run, whose report and the comparison render', async () => {
    const context = await browser!.newContext({ viewport: { width: 1200, height: 900 } })
    try {
      const { page, watch } = await watchedPage(context)
      await page.goto(server!.url)
      const rows = await page.$$eval('tr[data-run]', (trs) => trs.map((tr) => tr.getAttribute('data-run')))
      assert.equal(rows.length, 2)
      await page.screenshot({ path: join(shots, 'served-index.png'), fullPage: true })

      // the minimal run: the charts that need newer fields say no data, the others render
      await page.click('a[href="/runs/20261126T140000Z-multipaxos-minimal/"]')
      const minimal = await checkCharts(page)
      assert.equal(minimal['latency-distribution'], 'rendered')
      assert.equal(minimal.calibration, 'no-data')
      await page.screenshot({ path: join(shots, 'served-minimal-run.png'), fullPage: true })

      await page.goto(`${server!.url}compare`)
      const compared = await checkCharts(page)
      assert.equal(compared.calibration, 'rendered')
      await page.screenshot({ path: join(shots, 'served-compare.png'), fullPage: true })

      assert.deepEqual(watch.blocked, [], 'no request left 127.0.0.1')
      assert.deepEqual(watch.errors, [], 'no console error')
    } finally {
      await context.close()
    }
  })
})
