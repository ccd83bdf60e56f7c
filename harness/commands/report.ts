/**
 * `consensus-bench report <dir>`: rebuild report.html (and charts/*.svg|png) of a results directory.
 * A thin layer over rebuildReport (dashboards/report.ts); a directory that is not a run exits 2.
 */
import { existsSync, statSync } from 'node:fs'
import type { Command } from 'commander'
import { ResultsLoadError } from '../../dashboards/load.ts'
import { rebuildReport } from '../../dashboards/report.ts'
import { invalidInput } from '../exit-codes.ts'

export function register(program: Command): void {
  program
    .command('report')
    .description('rebuild report.html and charts/ (SVG, PNG, Vega-Lite JSON) of a results directory')
    .argument('<dir>', 'a run directory, like results/20261126T140829Z-multipaxos-4643f7')
    .option('--json', 'print {file, charts} as JSON')
    .action(async (dir: string, flags: { json?: boolean }) => {
      if (!existsSync(dir) || !statSync(dir).isDirectory())
        throw invalidInput('report', dir, 'no such directory', 'give a run directory under results/')
      let result: Awaited<ReturnType<typeof rebuildReport>>
      try {
        result = await rebuildReport(dir)
      } catch (err: unknown) {
        if (err instanceof ResultsLoadError) throw invalidInput('report', err.file, err.problem, err.fix)
        throw err
      }
      if (flags.json === true) {
        process.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
        return
      }
      for (const c of result.charts)
        if (!c.rendered) process.stderr.write(`${c.name}: no data: ${c.reason}\n`)
      process.stdout.write(`${result.file}\n`)
    })
}
