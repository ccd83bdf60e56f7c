/**
 * `consensus-bench gate --baseline <dir> --current <dir>`: the CI regression gate (harness/gate/).
 * Prints a table (or --json), writes --markdown and --junit files; exit 1 when a threshold fails,
 * 2 for a bad threshold or directory, 0 otherwise (`unknown` rows do not fail unless --fail-on-unknown).
 */
import { readFileSync, writeFileSync } from 'node:fs'
import type { Command } from 'commander'
import { parse as parseYaml } from 'yaml'
import { EXIT, invalidInput } from '../exit-codes.ts'
import { saveBaseline } from '../gate/baseline.ts'
import { runGate } from '../gate/gate.ts'
import { gateJunit, gateMarkdown, gateTable } from '../gate/output.ts'
import { GateInputError } from '../gate/results.ts'
import {
  parseThresholdFlag,
  parseThresholdsObject,
  type Threshold,
  ThresholdError,
} from '../gate/thresholds.ts'

interface GateFlags {
  baseline?: string
  current?: string
  threshold?: string[]
  thresholds?: string
  markdown?: string
  junit?: string
  seed: string
  failOnUnknown?: boolean
  saveBaseline?: string
  json?: boolean
}

function thresholdsOf(flags: GateFlags): Threshold[] {
  const out = (flags.threshold ?? []).map(parseThresholdFlag)
  if (flags.thresholds !== undefined) {
    let raw: unknown
    try {
      raw = parseYaml(readFileSync(flags.thresholds, 'utf8'))
    } catch (err: unknown) {
      throw invalidInput(
        'gate',
        `--thresholds ${flags.thresholds}`,
        `cannot read (${(err as Error).message})`,
        'give a JSON or YAML file like {"latency{site:EU}": ["p(99)<250"]}',
      )
    }
    out.push(...parseThresholdsObject(raw, flags.thresholds))
  }
  return out
}

export function register(program: Command): void {
  program
    .command('gate')
    .description(
      'fail when the current results regress against a baseline (k6-style thresholds, bootstrap intervals)',
    )
    .option(
      '--baseline <dir>',
      'the baseline: a results directory or a saved baseline (results/baselines/<name>)',
    )
    .option('--current <dir>', 'the results directory to judge (summary.json and/or micro.json)')
    .option(
      '--threshold <expr>',
      "k6-style, repeatable: 'p(99)<250', 'latency{engine:epaxos,site:EU}: p(99)<250', 'p(99)<+10%', 'throughput>-10%', 'ops>-10%' (default: p(50)<+10%, p(99)<+10%, throughput>-10%, ops>-10%)",
      (value: string, previous: string[] | undefined) => [...(previous ?? []), value],
    )
    .option(
      '--thresholds <file>',
      "a k6 thresholds object (JSON or YAML): {'latency{site:EU}': ['p(99)<250']}",
    )
    .option('--markdown <file>', 'write the markdown summary (for a pull-request comment) to this file')
    .option('--junit <file>', 'write JUnit XML to this file')
    .option('--seed <n>', 'seed of the bootstrap', '1')
    .option('--fail-on-unknown', 'exit 1 when an interval straddles a limit, too')
    .option(
      '--save-baseline <dir>',
      "copy --current's gate inputs (summaries, env, .hlog files, micro.json) to <dir>",
    )
    .option('--json', 'print the result as JSON instead of the table')
    .action((flags: GateFlags) => {
      if (flags.current === undefined)
        throw invalidInput(
          'gate',
          '--current',
          'missing',
          'give the results directory to judge, like --current results/<run>',
        )
      try {
        if (flags.saveBaseline !== undefined) {
          const files = saveBaseline(flags.current, flags.saveBaseline)
          process.stderr.write(`baseline: ${files.length} files to ${flags.saveBaseline}\n`)
          if (flags.baseline === undefined) return
        }
        if (flags.baseline === undefined)
          throw invalidInput(
            'gate',
            '--baseline',
            'missing',
            'give the baseline directory, like --baseline results/baselines/ci',
          )
        const seed = Number(flags.seed)
        if (!Number.isSafeInteger(seed))
          throw invalidInput(
            'gate',
            '--seed',
            `'${flags.seed}' is not an integer`,
            'give an integer seed, like 1',
          )
        const result = runGate({
          baselineDir: flags.baseline,
          currentDir: flags.current,
          thresholds: thresholdsOf(flags),
          seed,
          failOnUnknown: flags.failOnUnknown === true,
        })
        if (flags.markdown !== undefined) writeFileSync(flags.markdown, gateMarkdown(result))
        if (flags.junit !== undefined) writeFileSync(flags.junit, gateJunit(result))
        process.stdout.write(flags.json === true ? `${JSON.stringify(result, null, 2)}\n` : gateTable(result))
        process.exitCode = result.verdict === 'fail' ? EXIT.thresholdFailed : EXIT.ok
      } catch (err: unknown) {
        if (err instanceof ThresholdError)
          throw invalidInput('gate', `--threshold ${err.source}`, err.problem, err.fix)
        if (err instanceof GateInputError) throw invalidInput('gate', err.file, err.problem, err.fix)
        throw err
      }
    })
}
