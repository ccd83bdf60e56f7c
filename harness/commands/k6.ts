/**
 * `consensus-bench k6 export [run flags]`: prints a k6 script equivalent to the workload those flags
 * describe (k6 is optional and not needed by anything else). A thin layer over k6ExportScript.
 */
import type { Command } from 'commander'
import { invalidInput } from '../exit-codes.ts'
import { k6ExportScript } from '../k6-export.ts'
import { RunOptionError } from '../run.ts'
import { addRunFlags, flagOfField, optionsFromFlags, type RunFlags } from './run.ts'

export function register(program: Command): void {
  const k6 = program
    .command('k6')
    .description('k6 scripts for users who run k6 (optional; not installed here)')
  addRunFlags(
    k6
      .command('export')
      .description(
        'print a k6 script equivalent to the workload of the same `run` flags (replica URLs from env REPLICA_URLS at k6 run time)',
      ),
  ).action((flags: RunFlags) => {
    try {
      process.stdout.write(k6ExportScript(optionsFromFlags(flags)))
    } catch (err: unknown) {
      if (err instanceof RunOptionError)
        throw invalidInput('k6 export', flagOfField(err.field), err.problem, err.fix)
      throw err
    }
  })
}
