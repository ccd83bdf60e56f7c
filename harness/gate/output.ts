/** The gate's outputs: a table for the terminal, markdown for a pull-request comment, JUnit XML for CI. */
import Table from 'cli-table3'
import type { Figure } from '../claims/types.ts'
import type { GateResult, GateRow, GateVerdict } from './gate.ts'

const fig = (f: Figure | null): string =>
  f === null ? '-' : f.ciLow === null ? `${f.mean}` : `${f.mean} [${f.ciLow}, ${f.ciHigh}]`
const ratio = (r: GateRow): string =>
  r.ratio === null
    ? '-'
    : r.ratio.ciLow === null
      ? `x${r.ratio.ratio}`
      : `x${r.ratio.ratio} [${r.ratio.ciLow}, ${r.ratio.ciHigh}]`
const n = (r: GateRow): string =>
  r.current === null ? '-' : r.baseline === null ? `${r.current.n}` : `${r.baseline.n}/${r.current.n}`

const HEADLINE: Readonly<Record<GateVerdict, string>> = {
  pass: 'PASS',
  fail: 'FAIL',
  unknown: 'PASS with unknowns',
}

function headline(result: GateResult): string {
  const c = result.counts
  return `gate: ${HEADLINE[result.verdict]} (${c.fail} fail, ${c.unknown} unknown, ${c.pass} pass)`
}

export function gateTable(result: GateResult): string {
  const table = new Table({
    style: { head: [], border: [] },
    head: ['verdict', 'case', 'threshold', 'baseline', 'current', 'current/baseline', 'n'],
  })
  for (const r of result.rows)
    table.push([r.verdict, r.case, `${r.threshold}`, fig(r.baseline), fig(r.current), ratio(r), n(r)])
  const lines = [table.toString()]
  for (const r of result.rows)
    if (r.verdict !== 'pass') lines.push(`${r.verdict.toUpperCase()} ${r.case} ${r.threshold}: ${r.why}`)
  for (const w of result.warnings) lines.push(`WARNING ${w}`)
  lines.push(headline(result))
  return `${lines.join('\n')}\n`
}

const mdCell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ')
const ICON: Readonly<Record<GateVerdict, string>> = {
  pass: '✅ pass',
  fail: '❌ fail',
  unknown: '❔ unknown',
}

/** Markdown for a pull-request comment or $GITHUB_STEP_SUMMARY: failures and unknowns first. */
export function gateMarkdown(result: GateResult): string {
  const out = [`### consensus-bench ${headline(result)}`, '']
  out.push(
    `baseline \`${result.baselineDir}\`, current \`${result.currentDir}\`. Intervals: bootstrap 95% over repetitions; ` +
      '`unknown` = the interval straddles the limit (does not fail the gate).',
    '',
  )
  for (const w of result.warnings) out.push(`> ⚠️ ${mdCell(w)}`)
  if (result.warnings.length > 0) out.push('')
  out.push('| verdict | case | threshold | baseline | current | current/baseline | why |')
  out.push('| --- | --- | --- | --- | --- | --- | --- |')
  for (const r of result.rows)
    out.push(
      `| ${ICON[r.verdict]} | ${mdCell(r.case)} | \`${mdCell(r.threshold)}\` | ${fig(r.baseline)} | ${fig(r.current)} ${r.unit} | ${ratio(r)} | ${mdCell(r.why)} |`,
    )
  return `${out.join('\n')}\n`
}

const xml = (s: string) =>
  s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;')

/** JUnit XML: one testsuite per case, one testcase per threshold; fail = failure, unknown = skipped. */
export function gateJunit(result: GateResult): string {
  const byCase = new Map<string, GateRow[]>()
  for (const r of result.rows) {
    const list = byCase.get(r.case) ?? []
    list.push(r)
    byCase.set(r.case, list)
  }
  const c = result.counts
  const out = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="consensus-bench gate" tests="${result.rows.length}" failures="${c.fail}" skipped="${c.unknown}">`,
  ]
  for (const [kase, rows] of byCase) {
    const fails = rows.filter((r) => r.verdict === 'fail').length
    const skips = rows.filter((r) => r.verdict === 'unknown').length
    out.push(
      `  <testsuite name="${xml(kase)}" tests="${rows.length}" failures="${fails}" skipped="${skips}">`,
    )
    for (const r of rows) {
      const open = `    <testcase classname="${xml(`gate.${kase}`)}" name="${xml(r.threshold)}"`
      if (r.verdict === 'pass') out.push(`${open}><system-out>${xml(r.why)}</system-out></testcase>`)
      else if (r.verdict === 'fail')
        out.push(`${open}><failure message="${xml(r.why)}" type="regression"/></testcase>`)
      else out.push(`${open}><skipped message="${xml(r.why)}"/></testcase>`)
    }
    out.push('  </testsuite>')
  }
  out.push('</testsuites>')
  return `${out.join('\n')}\n`
}
