/**
 * The matrix: an experiment (experiments/schema.ts) expanded into cells, engines x topologies x conflict
 * rates x repetitions, each cell a complete set of `run` options. runMatrix (harness/run.ts) runs them in
 * one results directory; run.json records the cells so `--resume` can finish the same list.
 */
import { ConfigError } from '../engines/core/engine.ts'
import { engineNames, findEngine } from '../engines/registry.ts'
import { type Experiment, topologiesOf, UNSHAPED } from '../experiments/schema.ts'
import { parseDurationMs } from './commands/run.ts'
import { BUILTIN_EXTERNAL_ENGINES } from './external/etcd.ts'
import { missingProgram } from './external/launcher.ts'
import type { ExternalEngine } from './external/schema.ts'
import type { RunOptionsInput } from './run.ts'

export interface CellPlan {
  /** `<label>-<topology>-c<conflict>-rep<n>`: unique in the run, the cell's directory name */
  readonly id: string
  /** the engine name, or the variant's label (lan-throughput: multipaxos-batching) */
  readonly label: string
  readonly options: RunOptionsInput
}

export interface MatrixPlan {
  /** names the results directory */
  readonly name: string
  readonly cells: readonly CellPlan[]
  /** evaluate the claims at the end (experiments: yes; a one-cell `run` with flags: no) */
  readonly claims: boolean
  /** what to say about the plan before it runs (an engine that cannot place its leader, say) */
  readonly notes: readonly string[]
}

/** The cell id: engine (or variant label), topology, conflict, repetition. */
export function cellId(label: string, topology: string, conflict: number, repetition: number): string {
  return `${label}-${topologyLabel(topology)}-c${conflict}-rep${repetition}`
}

/** A topology file path is named by its file name in cell ids. */
function topologyLabel(topology: string): string {
  return (topology.split('/').pop() ?? topology).replace(/\.ya?ml$/, '')
}

interface EngineVariant {
  readonly engine: string
  readonly label: string
  readonly config: Record<string, unknown>
  /** an external system (harness/external/): its definition, and whether the experiment declared it */
  readonly external: { readonly definition: ExternalEngine; readonly declared: boolean } | null
}

function externalVariant(e: Experiment, engine: string): EngineVariant['external'] {
  const declared = e.externalEngines[engine]
  if (declared !== undefined) return { definition: declared, declared: true }
  const builtin = BUILTIN_EXTERNAL_ENGINES[engine]
  return builtin === undefined ? null : { definition: builtin, declared: false }
}

function variantsOf(e: Experiment): EngineVariant[] {
  const engines = e.engines === 'all' ? engineNames() : e.engines
  // references (external systems) after the engines; one listed among the engines too runs once
  const named = new Set(engines.map((x) => (typeof x === 'string' ? x : x.engine)))
  const entries = [...engines, ...e.references.filter((r) => !named.has(r))]
  return entries.map((entry) => {
    const engine = typeof entry === 'string' ? entry : entry.engine
    const base = e.engineConfig[engine] ?? {}
    const external = externalVariant(e, engine)
    if (typeof entry === 'string') return { engine, label: engine, config: { ...base }, external }
    return { engine, label: entry.label ?? engine, config: { ...base, ...entry.config }, external }
  })
}

/** Whether the engine takes an `initialLeader` (so --leader-site can place its leader). */
function canPlaceLeader(
  engine: string,
  config: Record<string, unknown>,
  external: EngineVariant['external'],
): boolean {
  if (external !== null)
    return external.definition.moveLeader !== undefined && external.definition.leader !== undefined
  const module = findEngine(engine)
  if (module === undefined || module.leadership === 'leaderless') return false
  try {
    module.parseConfig({ ...config, initialLeader: 0 })
    return true
  } catch (err: unknown) {
    if (err instanceof ConfigError && /initialLeader/.test(err.field)) return false
    // another problem in the config: let the run's validation name it
    return true
  }
}

/**
 * Expands an experiment into cells, in the order they run: repetition outermost, so an interrupted
 * run has whole repetitions of the matrix rather than every repetition of its first engines.
 */
export function expandExperiment(e: Experiment, resultsRoot?: string): MatrixPlan {
  // an election experiment (harness/election.ts) has trials, not cells
  if (e.election !== undefined)
    return { name: e.name, cells: [], claims: false, notes: ['an election experiment'] }
  const notes: string[] = []
  const cells: CellPlan[] = []
  const variants = variantsOf(e).filter((v) => {
    // an external system that is not installed here: its cells are skipped, said as a note, not a failure
    const missing = v.external === null ? null : missingProgram(v.label, v.external.definition)
    if (missing !== null) notes.push(`skipped: ${missing}`)
    return missing === null
  })
  const labels = variants.map((v) => v.label)
  const twice = labels.find((l, i) => labels.indexOf(l) !== i)
  if (twice !== undefined)
    throw new Error(`engines: '${twice}' appears twice; give the variants different labels`)
  const durationMs = parseDurationMs(e.duration)!
  const warmupMs = parseDurationMs(e.warmup, true)!
  const processingDelayMs = parseDurationMs(e.processingDelay, true)!
  for (const v of variants) {
    if (e.placement.leaderSite !== undefined && !canPlaceLeader(v.engine, v.config, v.external))
      notes.push(
        `${v.label}: leaderSite ${e.placement.leaderSite} not applied (${v.external !== null ? 'an external system with no moveLeader: it elects its own leader, and its expectation follows that leader' : findEngine(v.engine)?.leadership === 'leaderless' ? 'a leaderless engine' : 'no initialLeader config field: it elects its own leader'})`,
      )
  }
  for (let repetition = 1; repetition <= e.repetitions; repetition++) {
    for (const topology of topologiesOf(e)) {
      for (const conflict of e.workload.conflict) {
        for (const v of variants) {
          const w = e.workload
          const placeLeader =
            e.placement.leaderSite !== undefined && canPlaceLeader(v.engine, v.config, v.external)
          const options: RunOptionsInput = {
            engine: v.engine,
            engineConfig: v.config,
            ...(topology !== UNSHAPED ? { topology } : {}),
            ...(placeLeader && topology !== UNSHAPED ? { leaderSite: e.placement.leaderSite } : {}),
            ...(e.placement.replicas !== undefined ? { replicas: e.placement.replicas } : {}),
            ...(e.placement.clientSites !== undefined ? { clientSites: e.placement.clientSites } : {}),
            ...(topology !== UNSHAPED ? { calibrationProbes: e.calibrationProbes } : {}),
            ...(w.clientsPerSite !== undefined ? { clientsPerSite: w.clientsPerSite } : {}),
            ...(w.rateOpsPerSec !== undefined ? { rateOpsPerSec: w.rateOpsPerSec } : {}),
            conflict,
            readRatio: w.readRatio,
            keyDistribution: w.keyDistribution,
            valueSizeBytes: w.valueSizeBytes,
            privateKeysPerClient: w.privateKeysPerClient,
            durationMs,
            warmupMs,
            // every repetition its own workload and replica seeds: repetitions are samples, not copies
            seed: e.seed + repetition - 1,
            storage: e.storage,
            ...(processingDelayMs > 0 ? { processingDelayMs } : {}),
            ...(e.realtime ? { realtime: true } : {}),
            ...(v.external?.declared === true ? { external: v.external.definition } : {}),
            ...(e.faults.length > 0 ? { faults: e.faults } : {}),
            ...(resultsRoot !== undefined ? { resultsRoot } : {}),
          }
          cells.push({ id: cellId(v.label, topology, conflict, repetition), label: v.label, options })
        }
      }
    }
  }
  return { name: e.name, cells, claims: e.claims, notes }
}
