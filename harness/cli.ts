/**
 * The `consensus-bench` command line: a thin commander layer over the library API in harness/.
 * Each subcommand lives in harness/commands/<name>.ts and exports `register(program)`.
 */
import { Command, CommanderError } from 'commander'
import * as calibrate from './commands/calibrate.ts'
import * as check from './commands/check.ts'
import * as docker from './commands/docker.ts'
import * as engines from './commands/engines.ts'
import * as gate from './commands/gate.ts'
import * as k6 from './commands/k6.ts'
import * as probe from './commands/probe.ts'
import * as report from './commands/report.ts'
import * as runCommand from './commands/run.ts'
import * as serve from './commands/serve.ts'
import * as sim from './commands/sim.ts'
import * as topologies from './commands/topologies.ts'
import { CliError, EXIT } from './exit-codes.ts'

const program = new Command()
program
  .name('consensus-bench')
  .description('Benchmark and analyse consensus protocols over real (emulated WAN) networks')
  .showHelpAfterError()
  .exitOverride()

const commands: Array<{ register(p: Command): void }> = [
  runCommand,
  sim,
  check,
  engines,
  topologies,
  calibrate,
  probe,
  k6,
  report,
  serve,
  gate,
  docker,
]
for (const c of commands) c.register(program)

try {
  await program.parseAsync(process.argv)
} catch (err: unknown) {
  if (err instanceof CommanderError) {
    // commander already printed its message; map usage errors onto exit code 2
    process.exitCode = err.exitCode === 0 ? EXIT.ok : EXIT.invalidInput
  } else if (err instanceof CliError) {
    process.stderr.write(`consensus-bench: ${err.message}\n`)
    process.exitCode = err.exitCode
  } else {
    throw err
  }
}
