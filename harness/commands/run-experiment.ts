/**
 * `consensus-bench run <experiment.yaml>` and `run --resume <dir>`: the matrix runs of the run command.
 * Errors in the file, a cell's options or the directory to resume exit 2 naming the file, field and fix.
 */
import { join } from 'node:path'
import Table from 'cli-table3'
import { ExperimentError, loadExperiment } from '../../experiments/schema.ts'
import { claimsTable } from '../claims/index.ts'
import { referencesTable } from '../claims/references.ts'
import { type ElectionComparison, type ElectionPlan, electionPlanOf, type TrialSet } from '../election.ts'
import { invalidInput } from '../exit-codes.ts'
import { REPO_ROOT } from '../launchers/local.ts'
import { expandExperiment, type MatrixPlan } from '../matrix.ts'
import { ResumeError, readPlan } from '../matrix-run.ts'
import type { RunSummary } from '../results/summary.ts'
import { RunOptionError, type RunResult, runMatrix } from '../run.ts'

export interface MatrixRunRequest {
  readonly file?: string | undefined
  readonly resume?: string | undefined
  /** --results: the parent of the new results directory */
  readonly resultsRoot?: string | undefined
}

/** The plan to run, from the experiment file or the run.json of the directory to resume. */
export function matrixPlanOf(req: MatrixRunRequest): MatrixPlan {
  try {
    if (req.resume !== undefined) return readPlan(req.resume)
    return expandExperiment(loadExperiment(req.file!), req.resultsRoot)
  } catch (err: unknown) {
    if (err instanceof ExperimentError) throw invalidInput(err.file, err.field, err.problem, err.fix)
    if (err instanceof ResumeError) throw invalidInput(err.file, '--resume', err.problem, err.fix)
    if (err instanceof Error && /^engines:/.test(err.message))
      throw invalidInput(
        req.file ?? 'run',
        'engines',
        err.message.replace(/^engines: /, ''),
        'label the variants differently',
      )
    throw err
  }
}

/** An experiment file with an `election` block (harness/election.ts), or null for a benchmark matrix. */
export function electionPlanOfRequest(req: MatrixRunRequest): ElectionPlan | null {
  if (req.file === undefined || req.resume !== undefined) return null
  try {
    const e = loadExperiment(req.file)
    return e.election === undefined ? null : electionPlanOf(e, req.resultsRoot ?? join(REPO_ROOT, 'results'))
  } catch (err: unknown) {
    if (err instanceof ExperimentError) throw invalidInput(err.file, err.field, err.problem, err.fix)
    throw err
  }
}

/** What an election experiment prints: per engine and range, the medians; real against sim. */
export function electionTable(sets: readonly TrialSet[], comparison: readonly ElectionComparison[]): string {
  const table = new Table({
    style: { head: [], border: [] },
    head: ['engine', 'range ms', 'runtime', 'trials', 'no leader', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms'],
  })
  for (const s of sets)
    table.push([
      s.engine,
      s.range,
      s.runtime,
      s.trials,
      s.notElected,
      s.p50Ms ?? '-',
      s.p90Ms ?? '-',
      s.p99Ms ?? '-',
      s.maxMs ?? '-',
    ])
  const cmp = new Table({
    style: { head: [], border: [] },
    head: ['engine', 'range ms', 'sim p50 ms', 'real p50 ms', '|real-sim|/sim', 'within 20%'],
  })
  for (const c of comparison)
    cmp.push([
      c.engine,
      c.range,
      c.simP50Ms ?? '-',
      c.realP50Ms ?? '-',
      c.relativeDifference ?? '-',
      c.agrees ? 'yes' : 'NO',
    ])
  return `${table.toString()}\n${comparison.length > 0 ? `${cmp.toString()}\n` : ''}`
}

export async function runMatrixCommand(req: MatrixRunRequest, argv: readonly string[]): Promise<RunResult> {
  const plan = matrixPlanOf(req)
  const where = req.resume ?? req.file ?? 'run'
  try {
    return await runMatrix(plan, { progress: (line) => process.stderr.write(`${line}\n`), argv }, req.resume)
  } catch (err: unknown) {
    // a cell whose options the run rejects: name the file and the cell
    if (err instanceof RunOptionError)
      throw invalidInput(where, `cell option ${err.field}`, err.problem, err.fix)
    throw err
  }
}

/** What the end of a matrix run prints after the cells table: the claims, and where the report is. */
export function matrixEpilogue(summary: RunSummary, dir: string): string {
  const claims = summary.claims === undefined ? '' : `\nclaims:\n${claimsTable(summary.claims)}`
  const references =
    summary.references === undefined
      ? ''
      : `\nreferences (external systems, not judged by the claims; harness/external/README.md):\n${referencesTable(summary.references)}`
  const report =
    summary.reportError === undefined
      ? `report: ${dir}/report.html\n`
      : `report failed: ${summary.reportError}\n`
  return `${claims}${references}${report}`
}
