/**
 * Experiment files (experiments/*.yaml): a strict zod schema, the loader, and errors that name the
 * file, the field path and the fix. The matrix (harness/matrix.ts) expands a loaded experiment into
 * cells. `experiments/schema.json` is generated from `experimentSchema` (schema-json.ts).
 */
import { readFileSync } from 'node:fs'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'
import { engineNames } from '../engines/registry.ts'
import { parseDurationMs } from '../harness/commands/run.ts'
import { ELECTION_KNOBS, parseRange } from '../harness/election.ts'
import { BUILTIN_EXTERNAL_ENGINES } from '../harness/external/etcd.ts'
import { ExternalEngineError, externalEngineSchema, parseExternalEngine } from '../harness/external/schema.ts'
import { faultSpecSchema } from '../harness/fault-spec.ts'
import { placeOnTopology } from '../netem/placement.ts'
import { builtinTopologyNames, loadTopology } from '../netem/topology.ts'
import { clientSitesProblem } from '../workloads/run-options.ts'

/** A problem in an experiment file: the CLI prints `<file>: <field>: <problem>  fix: <fix>` and exits 2. */
export class ExperimentError extends Error {
  readonly code = 'ERR_EXPERIMENT'
  constructor(
    readonly file: string,
    readonly field: string,
    readonly problem: string,
    readonly fix: string,
  ) {
    super(`${file}: ${field}: ${problem} (fix: ${fix})`)
    this.name = 'ExperimentError'
  }
}

/** '10s', '500ms', '2m' (a string, so the unit is always written) */
const duration = z.string().refine((s) => parseDurationMs(s) !== null, {
  message: 'not a duration',
})
const durationOrZero = z.string().refine((s) => parseDurationMs(s, true) !== null, {
  message: 'not a duration',
})
const fraction = z.number().min(0).max(1)

/** An engine as a plain name, or a variant of it with its own config and label (batching on/off). */
const engineEntrySchema = z.union([
  z.string().min(1),
  z.strictObject({
    engine: z.string().min(1),
    /** the name the variant's cells carry (cell ids, claims); default: the engine name */
    label: z
      .string()
      .regex(/^[a-z0-9-]+$/)
      .optional(),
    /** merged over engineConfig[engine] */
    config: z.record(z.string(), z.unknown()).default({}),
  }),
])

/** Experiment-file keys that hold durations, and the run-option key each becomes. */
const DURATION_KEYS: Readonly<Record<string, string>> = {
  at: 'atMs',
  restartAfter: 'restartAfterMs',
  healAfter: 'healAfterMs',
  for: 'forMs',
  delay: 'delayMs',
  from: 'fromMs',
  to: 'toMs',
}

/**
 * An experiment file's fault (`{kind: kill, at: 3s, replica: r1, restartAfter: 2s}`) as run options
 * (`{kind: 'kill', atMs: 3000, replica: 'r1', restartAfterMs: 2000}`); a bad duration is an issue at its key.
 */
export function faultFromExperiment(raw: unknown): { value: unknown } | { key: string; problem: string } {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    return { key: '', problem: 'not a map like {kind: kill, at: 3s, replica: r1}' }
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(raw)) {
    const msKey = DURATION_KEYS[k]
    if (msKey === undefined) {
      if (k.endsWith('Ms')) return { key: k, problem: `write ${k.slice(0, -2)}: <duration> (like 2s)` }
      out[k] = v
      continue
    }
    const parsed = typeof v === 'string' ? parseDurationMs(v, true) : null
    if (parsed === null) return { key: k, problem: `not a duration like 3s or 500ms` }
    out[msKey] = parsed
  }
  return { value: out }
}

export const experimentSchema = z.strictObject({
  /** names the results directory: lower case, digits and dashes */
  name: z.string().regex(/^[a-z0-9-]+$/),
  description: z.string().default(''),
  /** 'all': every engine registered when the run starts; or a list (an unregistered name is an error) */
  engines: z.union([z.literal('all'), z.array(engineEntrySchema).min(1)]),
  /**
   * External systems run beside the engines as reference rows (harness/external/README.md): built-in
   * (etcd) or declared in externalEngines. Skipped, with a note, where the system is not installed.
   */
  references: z.array(z.string().min(1)).default([]),
  /** a built-in topology (`consensus-bench topologies`) or a YAML path; `topologies` runs several */
  topology: z.string().min(1).optional(),
  topologies: z.array(z.string().min(1)).min(1).optional(),
  placement: z
    .strictObject({
      /** the leader's site, for engines that can place their leader (initialLeader); others elect */
      leaderSite: z.string().min(1).optional(),
      /** default: one replica per site */
      replicas: z.number().int().min(1).max(50).optional(),
      /**
       * only these sites send load (run --client-sites): client group names of every topology
       * (`CA`; `CA.r0` where a site holds several replicas), replica ids (`r1`) with topology `none`
       */
      clientSites: z.array(z.string().min(1)).min(1).optional(),
    })
    .default({}),
  workload: z
    .strictObject({
      /** closed loop: clients at every site; exclusive with rateOpsPerSec */
      clientsPerSite: z.number().int().min(1).max(1000).optional(),
      /** open loop: arrivals per second over all sites */
      rateOpsPerSec: z.number().positive().max(1_000_000).optional(),
      /** one matrix axis: each rate is a set of cells */
      conflict: z.array(fraction).min(1).default([0]),
      readRatio: fraction.default(0.5),
      keyDistribution: z.enum(['conflict', 'uniform', 'zipf', 'hotspot']).default('conflict'),
      valueSizeBytes: z.number().int().min(0).default(0),
      /** keys only one client writes (conflict keyDistribution); each is read back after the load */
      privateKeysPerClient: z.number().int().min(1).default(16),
    })
    .default({
      conflict: [0],
      readRatio: 0.5,
      keyDistribution: 'conflict',
      valueSizeBytes: 0,
      privateKeysPerClient: 16,
    }),
  /**
   * the fault schedule of every cell (harness/fault-spec.ts), times as durations:
   * `{kind: kill, at: 3s, replica: r1, restartAfter: 2s}`, `{kind: kill-leader, at: 3s}`,
   * `{kind: partition, at: 2s, sides: [[r0], [r1, r2]], oneWay: false, healAfter: 2s}`,
   * `{kind: slow, at: 2s, replica: r2, delay: 50ms, for: 2s}`, `{kind: pause, at: 2s, replica: r2, for: 1s}`,
   * `{kind: random, count: 3, from: 2s, to: 8s, kinds: [kill, pause], for: 1s}`
   */
  faults: z
    .array(z.unknown())
    .default([])
    .transform((list, ctx) =>
      list.map((raw, i) => {
        const converted = faultFromExperiment(raw)
        if ('problem' in converted) {
          ctx.addIssue({ code: 'custom', message: converted.problem, path: [i, converted.key] })
          return z.NEVER
        }
        const parsed = faultSpecSchema.safeParse(converted.value)
        if (!parsed.success) {
          const issue = parsed.error.issues[0]!
          const path = issue.path.map((k) => (typeof k === 'string' ? k.replace(/Ms$/, '') : k))
          ctx.addIssue({ code: 'custom', message: issue.message, path: [i, ...path] })
          return z.NEVER
        }
        return parsed.data
      }),
    ),
  duration: duration.default('10s'),
  warmup: durationOrZero.default('1s'),
  repetitions: z.number().int().min(1).max(100).default(1),
  seed: z.number().int().default(1),
  /**
   * External systems this experiment declares (harness/external/README.md), by the name `engines` uses;
   * etcd is built in and needs no declaration.
   */
  externalEngines: z.record(z.string().regex(/^[a-z0-9-]+$/), externalEngineSchema).default({}),
  /** raw config per engine name, validated by that engine's parseConfig */
  engineConfig: z.record(z.string(), z.record(z.string(), z.unknown())).default({}),
  storage: z.enum(['file', 'memory']).default('file'),
  /** the replicas hold every client command and peer message this long (engines/host/input-delay.ts):
   * a known slowdown for testing regression gates */
  processingDelay: durationOrZero.default('0'),
  /** replicas (or members) and the driver under SCHED_FIFO during each cell's load (harness/realtime.ts) */
  realtime: z.boolean().default(false),
  /** calibration probes per link before each topology's cells */
  calibrationProbes: z.number().int().min(1).max(10_000).default(50),
  /** evaluate the claims (harness/claims/) at the end of the run */
  claims: z.boolean().default(true),
  /**
   * an election experiment (harness/election.ts) instead of a benchmark matrix: leader crashes, time to
   * a new leader, per engine and election-timeout range, in the simulator and with real processes
   */
  election: z
    .strictObject({
      /** election timeout ranges `<min>-<max>` in ms; the heartbeat of each is min / 2 */
      ranges: z.array(z.string()).min(1),
      /** one-way delay = broadcastMs / 2 on every link (sim), RTT = broadcastMs through the shaper (real) */
      broadcastMs: z.number().positive().max(1000).default(15),
      simTrials: z.number().int().min(1).max(100_000).default(1000),
      /** trials per (engine, real range) with real processes; 0: simulator only */
      realTrials: z.number().int().min(0).max(1000).default(20),
      /** the ranges also run with real processes (a subset of ranges) */
      realRanges: z.array(z.string()).default([]),
      /** how long a leader leads before the crash window */
      settle: durationOrZero.default('300ms'),
      /** real trials: replicas under SCHED_FIFO, so a loaded host's scheduling delay is not measured */
      realtime: z.boolean().default(false),
    })
    .optional(),
})

export type ExperimentInput = z.input<typeof experimentSchema>
export type Experiment = z.output<typeof experimentSchema>

/** The fix for a problem at a field path (its first segment). */
const FIX_OF_FIELD: Readonly<Record<string, string>> = {
  name: 'use lower case letters, digits and dashes, like my-experiment',
  description: 'give a string',
  engines: "write 'all' or a list of engine names (see `consensus-bench engines`)",
  references: 'give a list of external systems, like [etcd] (harness/external/README.md)',
  topology: 'give a built-in topology (see `consensus-bench topologies`) or a YAML file path',
  topologies: 'give a list of topologies, like [epaxos-3, epaxos-5]',
  placement: 'give {leaderSite: <site>, replicas: <n>, clientSites: [<site>, ...]}',
  workload:
    'give {clientsPerSite or rateOpsPerSec, conflict: [0, 0.02], readRatio, keyDistribution, valueSizeBytes}',
  faults:
    'give faults like {kind: kill, at: 3s, replica: r1, restartAfter: 2s}; kinds: kill, kill-leader, partition, slow, pause, random (experiments/README.md)',
  duration: 'write a duration like 10s, 500ms or 2m',
  warmup: 'write a duration like 1s, 500ms (or 0)',
  repetitions: 'give a whole number from 1 to 100',
  seed: 'give an integer seed, like 1',
  engineConfig: 'give a map from engine name to its config fields, like {multipaxos: {batching: true}}',
  externalEngines: 'give a map from a name to an external engine definition (harness/external/README.md)',
  storage: "use 'file' or 'memory'",
  processingDelay: 'write a duration like 5ms (or 0: no delay)',
  calibrationProbes: 'give a whole number of probes per link from 1 to 10000, like 50',
  claims: 'give true or false',
  realtime: 'give true or false',
  election:
    "give {ranges: ['150-300', ...], broadcastMs: 15, simTrials: 1000, realTrials: 20, realRanges: ['150-300']} (harness/README.md, Election experiments)",
}

function fieldPath(path: readonly PropertyKey[]): string {
  return path.map(String).join('.') || '(top level)'
}

/** Validates a parsed experiment object; `file` is only for messages. Throws ExperimentError. */
export function parseExperiment(raw: unknown, file: string): Experiment {
  const parsed = experimentSchema.safeParse(raw)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    const top = issue.path[0]
    if (issue.code === 'unrecognized_keys') {
      const where = issue.path.length === 0 ? '(top level)' : fieldPath(issue.path)
      const keys = issue.keys.join(', ')
      if (top === 'externalEngines')
        throw new ExperimentError(
          file,
          `${where}.${keys}`,
          `unknown key${issue.keys.length > 1 ? 's' : ''} ${keys}`,
          'remove it (a typo?); the fields of a definition are in harness/external/README.md',
        )
      const allowed =
        issue.path.length === 0
          ? Object.keys(experimentSchema.shape)
          : top === 'placement'
            ? Object.keys(experimentSchema.shape.placement.unwrap().shape)
            : top === 'workload'
              ? Object.keys(experimentSchema.shape.workload.unwrap().shape)
              : ['engine', 'label', 'config']
      throw new ExperimentError(
        file,
        issue.path.length === 0 ? keys : `${where}.${keys}`,
        `unknown key${issue.keys.length > 1 ? 's' : ''} ${keys}`,
        `remove it (a typo?); the keys here are: ${allowed.join(', ')}`,
      )
    }
    throw new ExperimentError(
      file,
      fieldPath(issue.path),
      issue.message,
      (typeof top === 'string' ? FIX_OF_FIELD[top] : undefined) ?? 'see experiments/README.md',
    )
  }
  const e = parsed.data
  for (const [name, raw] of Object.entries(e.externalEngines)) {
    if (engineNames().includes(name) || name in BUILTIN_EXTERNAL_ENGINES)
      throw new ExperimentError(
        file,
        `externalEngines.${name}`,
        `'${name}' is already an engine`,
        'give the declared system a name of its own',
      )
    try {
      parseExternalEngine(raw)
    } catch (err: unknown) {
      if (err instanceof ExternalEngineError)
        throw new ExperimentError(file, `externalEngines.${name}.${err.field}`, err.problem, err.fix)
      throw err
    }
  }
  const registered = [
    ...engineNames(),
    ...Object.keys(BUILTIN_EXTERNAL_ENGINES),
    ...Object.keys(e.externalEngines),
  ]
  if (e.engines !== 'all') {
    e.engines.forEach((entry, i) => {
      const name = typeof entry === 'string' ? entry : entry.engine
      if (!registered.includes(name))
        throw new ExperimentError(
          file,
          typeof entry === 'string' ? `engines.${i}` : `engines.${i}.engine`,
          `engine '${name}' is not registered`,
          `use one of: ${registered.join(', ')}, or write engines: all`,
        )
    })
  }
  e.references.forEach((name, i) => {
    if (!(name in BUILTIN_EXTERNAL_ENGINES) && !(name in e.externalEngines))
      throw new ExperimentError(
        file,
        `references.${i}`,
        `'${name}' is not an external system`,
        `use a built-in one (${Object.keys(BUILTIN_EXTERNAL_ENGINES).join(', ')}) or one declared in externalEngines`,
      )
  })
  for (const name of Object.keys(e.engineConfig))
    if (!registered.includes(name))
      throw new ExperimentError(
        file,
        `engineConfig.${name}`,
        `engine '${name}' is not registered`,
        `use one of: ${registered.join(', ')} (config for an engine that is not there yet: leave it out)`,
      )
  if (e.topology !== undefined && e.topologies !== undefined)
    throw new ExperimentError(file, 'topologies', 'both topology and topologies given', 'give one of them')
  topologiesOf(e).forEach((t, i) => {
    if (!isTopology(t))
      throw new ExperimentError(
        file,
        e.topologies !== undefined ? `topologies.${i}` : 'topology',
        `unknown topology '${t}'`,
        `use a built-in one (${builtinTopologyNames().join(', ')}), ${UNSHAPED} (unshaped loopback) or a YAML file path`,
      )
  })
  const w = e.workload
  if (w.clientsPerSite !== undefined && w.rateOpsPerSec !== undefined)
    throw new ExperimentError(
      file,
      'workload.rateOpsPerSec',
      'both a rate (open loop) and clients per site (closed loop)',
      'give one of clientsPerSite and rateOpsPerSec',
    )
  checkClientSites(e, file)
  if (e.election !== undefined) checkElection(e, file)
  if (parseDurationMs(e.warmup, true)! >= parseDurationMs(e.duration)!)
    throw new ExperimentError(file, 'warmup', 'not shorter than the duration', 'shorten the warm-up')
  return e
}

/**
 * placement.clientSites against the sites of every topology the experiment runs on, placed as its cells
 * place them (harness/run.ts checks each cell the same way before the first one starts).
 */
function checkClientSites(e: Experiment, file: string): void {
  const names = e.placement.clientSites
  if (names === undefined) return
  for (const t of topologiesOf(e)) {
    const replicas = e.placement.replicas
    let sites: string[]
    if (t === UNSHAPED) sites = Array.from({ length: replicas ?? 3 }, (_, i) => `r${i}`)
    else {
      try {
        const placed = placeOnTopology(loadTopology(t), replicas !== undefined ? { replicas } : {})
        sites = placed.clientGroups.map((g) => g.name)
      } catch {
        // a topology file that does not load: the cell's own validation names it
        continue
      }
    }
    const problem = clientSitesProblem(names, sites, `topology ${t}`)
    if (problem !== null) {
      const index = names.findIndex((n, i) => !sites.includes(n) || names.indexOf(n) !== i)
      throw new ExperimentError(file, `placement.clientSites.${index}`, problem.problem, problem.fix)
    }
  }
}

function checkElection(e: Experiment, file: string): void {
  const election = e.election!
  const ranges = new Set<string>()
  election.ranges.forEach((r, i) => {
    if (parseRange(r) === null)
      throw new ExperimentError(
        file,
        `election.ranges.${i}`,
        `'${r}' is not a range`,
        "write '<min>-<max>' in ms with min <= max, like '150-300'",
      )
    ranges.add(r)
  })
  election.realRanges.forEach((r, i) => {
    if (!ranges.has(r))
      throw new ExperimentError(
        file,
        `election.realRanges.${i}`,
        `'${r}' is not one of the ranges`,
        `use one of: ${[...ranges].join(', ')}`,
      )
  })
  const engines = e.engines === 'all' ? Object.keys(ELECTION_KNOBS) : e.engines
  engines.forEach((entry, i) => {
    const name = typeof entry === 'string' ? entry : entry.engine
    if (ELECTION_KNOBS[name] === undefined)
      throw new ExperimentError(
        file,
        `engines.${i}`,
        `engine '${name}' has no election timeouts`,
        `an election experiment takes: ${Object.keys(ELECTION_KNOBS).join(', ')}`,
      )
  })
}

/** Reads and validates an experiment YAML file. */
export function loadExperiment(file: string): Experiment {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    throw new ExperimentError(
      file,
      '(file)',
      'cannot read the file',
      'give the path of an experiment YAML file',
    )
  }
  let raw: unknown
  try {
    raw = parseYaml(text)
  } catch (err: unknown) {
    throw new ExperimentError(
      file,
      '(file)',
      `not valid YAML (${(err as Error).message})`,
      'fix the YAML syntax',
    )
  }
  return parseExperiment(raw, file)
}

/** The topologies an experiment runs on; 'lan' when it names none. */
export function topologiesOf(e: Pick<Experiment, 'topology' | 'topologies'>): string[] {
  return e.topologies ?? [e.topology ?? 'lan']
}

/** `none`: replicas and clients on loopback, unshaped and uncalibrated (a throughput run's fastest network) */
export const UNSHAPED = 'none'

function isTopology(nameOrPath: string): boolean {
  if (nameOrPath === UNSHAPED || builtinTopologyNames().includes(nameOrPath)) return true
  if (!/\.ya?ml$/.test(nameOrPath)) return false
  try {
    readFileSync(nameOrPath)
    return true
  } catch {
    return false
  }
}
