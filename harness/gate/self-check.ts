/**
 * The gate checked on real runs (issue #11's acceptance): one small experiment run three times on this
 * machine, a baseline, the same again, and the same with every replica's processing-delay knob on
 * (engines/host/input-delay.ts). The repeat must not fail the gate against the baseline (pass or
 * unknown: noise), the slowed run must fail it. `npm run bench:gate-check` prints the three outcomes;
 * self-check.test.ts runs a shorter version.
 */
import type { Experiment } from '../../experiments/schema.ts'
import { parseExperiment } from '../../experiments/schema.ts'
import { expandExperiment } from '../matrix.ts'
import { runMatrix } from '../run.ts'
import { type GateResult, runGate } from './gate.ts'
import { parseThresholdFlag } from './thresholds.ts'

export interface SelfCheckOptions {
  readonly engine: string
  readonly replicas: number
  readonly clientsPerSite: number
  /** like '5s' */
  readonly duration: string
  readonly warmup: string
  readonly repetitions: number
  /** like '20ms': the knob's setting for the slowed run */
  readonly processingDelay: string
  /** where the three results directories go */
  readonly resultsRoot: string
  /** default: the gate's defaults (p50, p99 within +10%, throughput within -10%) */
  readonly thresholds?: readonly string[]
  readonly progress?: (line: string) => void
}

export interface SelfCheckResult {
  readonly baselineDir: string
  readonly repeatDir: string
  readonly slowedDir: string
  /** the repeat against the baseline: expected pass (or unknown) */
  readonly repeat: GateResult
  /** the slowed run against the baseline: expected fail */
  readonly slowed: GateResult
  /** the repeat did not fail and the slowed run failed */
  readonly ok: boolean
}

function experimentOf(o: SelfCheckOptions, name: string, processingDelay: string): Experiment {
  return parseExperiment(
    {
      name,
      engines: [o.engine],
      topology: 'none',
      placement: { replicas: o.replicas },
      // few private keys: the read-back after the load reads each one in turn
      workload: { clientsPerSite: o.clientsPerSite, conflict: [0.1], privateKeysPerClient: 2 },
      duration: o.duration,
      warmup: o.warmup,
      repetitions: o.repetitions,
      storage: 'memory',
      claims: false,
      processingDelay,
    },
    `(gate self-check ${name})`,
  )
}

async function run(o: SelfCheckOptions, name: string, processingDelay: string): Promise<string> {
  const plan = expandExperiment(experimentOf(o, name, processingDelay), o.resultsRoot)
  // no report.html: the gate reads summary.json and the .hlog files only
  const cells = plan.cells.map((c) => ({ ...c, options: { ...c.options, report: false } }))
  const progress = o.progress ?? (() => {})
  const { dir } = await runMatrix({ ...plan, cells }, { progress })
  return dir
}

export async function gateSelfCheck(o: SelfCheckOptions): Promise<SelfCheckResult> {
  const progress = o.progress ?? (() => {})
  const thresholds = (o.thresholds ?? []).map(parseThresholdFlag)
  progress('gate self-check: baseline run')
  const baselineDir = await run(o, 'gate-baseline', '0')
  progress('gate self-check: the same run again')
  const repeatDir = await run(o, 'gate-repeat', '0')
  progress(`gate self-check: the same run with processing delay ${o.processingDelay}`)
  const slowedDir = await run(o, 'gate-slowed', o.processingDelay)
  const repeat = runGate({ baselineDir, currentDir: repeatDir, thresholds })
  const slowed = runGate({ baselineDir, currentDir: slowedDir, thresholds })
  return {
    baselineDir,
    repeatDir,
    slowedDir,
    repeat,
    slowed,
    ok: repeat.verdict !== 'fail' && slowed.verdict === 'fail',
  }
}
