/**
 * `consensus-bench calibrate --topology <name|file>`: the RTT of every directed site-to-site link
 * measured through the chosen shaper, against its target; exit 1 when a link misses the tolerance
 * (max(1 ms, 2%)), 2 for a bad topology or flag.
 */
import type { Command } from 'commander'
import { calibrationText, linksOffTolerance } from '../../netem/calibration.ts'
import { TopologyError } from '../../netem/topology.ts'
import { CliError, EXIT, invalidInput } from '../exit-codes.ts'
import { calibrateTopologyByName } from '../topology-run.ts'

interface CalibrateFlags {
  topology: string
  probes: string
  json?: boolean
}

export function register(program: Command): void {
  program
    .command('calibrate')
    .description('measure the RTT of every link of a topology through the chosen shaper, against its target')
    .requiredOption(
      '--topology <name>',
      'a built-in topology (see `consensus-bench topologies`) or a YAML file',
    )
    .option('--probes <n>', 'probes per link', '100')
    .option(
      '--json',
      'print {topology, shaper, links: [{from, to, targetRttMs, measuredRttMsP50, measuredRttMsP99, errorMs}]}',
    )
    .action(async (flags: CalibrateFlags) => {
      const probes = Number(flags.probes)
      if (!Number.isInteger(probes) || probes < 1 || probes > 10_000)
        throw invalidInput(
          'calibrate',
          '--probes',
          `'${flags.probes}' is not a probe count`,
          'give a whole number from 1 to 10000, like 100',
        )
      let result: Awaited<ReturnType<typeof calibrateTopologyByName>>
      try {
        result = await calibrateTopologyByName(flags.topology, probes)
      } catch (err: unknown) {
        if (err instanceof TopologyError) throw invalidInput(err.file, err.field, err.problem, err.fix)
        throw err
      }
      const { table, reason, priority } = result
      if (flags.json === true) {
        process.stdout.write(
          `${JSON.stringify({ topology: table.topology, shaper: table.shaper, links: table.links }, null, 2)}\n`,
        )
      } else {
        process.stderr.write(`shaper ${table.shaper}: ${reason}; ${priority}\n`)
        process.stdout.write(calibrationText(table))
      }
      const off = linksOffTolerance(table)
      if (off.length > 0)
        throw new CliError(
          `calibrate: ${off.length} link(s) off tolerance: ${off.map((l) => `${l.from}->${l.to}`).join(', ')}`,
          EXIT.thresholdFailed,
        )
    })
}
