/**
 * `run`'s load and workload flags (closed or open loop, keys, values, driver processes): declared,
 * parsed into run options, and summarised under the table. Kept apart from run.ts so the flags of the
 * workload part stay in one place.
 */
import type { Command } from 'commander'
import { invalidInput } from '../exit-codes.ts'
import type { RunSummary } from '../results/summary.ts'
import type { RunOptionsInput } from '../run.ts'

export interface LoadFlags {
  clients?: string
  rate?: string
  arrival?: string
  maxOutstanding?: string
  thinkTime?: string
  ops?: string
  keyDist?: string
  sharedKeys?: string
  keys?: string
  zipfTheta?: string
  hotKeys?: string
  hotOps?: string
  valueSize?: string
  drivers?: string
  cooldown?: string
  clientSites?: string
}

/** run option -> the flag that sets it (for error messages) */
export const LOAD_FLAG_OF_FIELD: Record<string, string> = {
  clientsPerSite: '--clients',
  rateOpsPerSec: '--rate',
  arrival: '--arrival',
  maxOutstanding: '--max-outstanding',
  thinkTimeMs: '--think-time',
  ops: '--ops',
  keyDistribution: '--key-dist',
  sharedKeys: '--shared-keys',
  keys: '--keys',
  zipfTheta: '--zipf-theta',
  hotKeyFraction: '--hot-keys',
  hotOpFraction: '--hot-ops',
  valueSizeBytes: '--value-size',
  drivers: '--drivers',
  cooldownMs: '--cooldown',
  clientSites: '--client-sites',
}

export function addLoadFlags(command: Command): Command {
  return command
    .option('--clients <n>', 'closed loop: clients per site, one command outstanding each (default 8)')
    .option('--rate <ops/s>', 'open loop: arrivals per second over all sites (exclusive with --clients)')
    .option('--arrival <kind>', 'open loop arrivals: constant or poisson (default poisson)')
    .option(
      '--max-outstanding <n>',
      'open loop: commands in flight per driver at most (more wait) (default 2000)',
    )
    .option('--think-time <d>', 'closed loop: pause between an answer and the next command (default 0)')
    .option(
      '--ops <n>',
      'closed loop: commands per client; open loop: commands in total (duration = ops/rate)',
    )
    .option(
      '--key-dist <kind>',
      'conflict (shared pool vs private keys), uniform, zipf or hotspot (default conflict)',
    )
    .option('--shared-keys <n>', 'conflict: size of the shared pool (default 1)')
    .option('--keys <n>', 'uniform, zipf, hotspot: size of the common keyspace (default 1000)')
    .option('--zipf-theta <t>', 'zipf: skew (0 = uniform) (default 0.99)')
    .option('--hot-keys <f>', 'hotspot: fraction of the keys that are hot (default 0.2)')
    .option('--hot-ops <f>', 'hotspot: fraction of the commands that go to the hot keys (default 0.8)')
    .option('--value-size <bytes>', 'bytes a put writes (0 = just its unique tag) (default 0)')
    .option('--drivers <n>', 'driver processes sharing the load (default 1)')
    .option('--cooldown <d>', 'trimmed from the end of latency and throughput (still checked) (default 0)')
    .option(
      '--client-sites <list>',
      'only these sites send load, comma-separated (replica ids like r1,r2 without a topology) (default all)',
    )
}

function numberFlag(flag: string, text: string, fix: string): number {
  const n = Number(text)
  if (text.trim() === '' || !Number.isFinite(n))
    throw invalidInput('run', flag, `'${text}' is not a number`, fix)
  return n
}

function oneOf<T extends string>(flag: string, text: string, values: readonly T[]): T {
  if (!(values as readonly string[]).includes(text))
    throw invalidInput(
      'run',
      flag,
      `'${text}' is not one of ${values.join(', ')}`,
      `use one of: ${values.join(', ')}`,
    )
  return text as T
}

/** The load options of `run` from its flags; `duration` parses '10s'-like durations (allowing 0). */
export function loadOptionsFromFlags(
  flags: LoadFlags,
  duration: (flag: string, text: string, allowZero: boolean) => number,
): Partial<RunOptionsInput> {
  if (flags.clients !== undefined && flags.rate !== undefined)
    throw invalidInput(
      'run',
      '--rate',
      '--rate (open loop) and --clients (closed loop) were both given',
      'give --rate for an open loop or --clients for a closed loop, not both',
    )
  const options: Partial<RunOptionsInput> = {}
  const set = <K extends keyof RunOptionsInput>(
    key: K,
    text: string | undefined,
    parse: (t: string) => RunOptionsInput[K],
  ) => {
    if (text !== undefined) options[key] = parse(text)
  }
  set('clientsPerSite', flags.clients, (t) =>
    numberFlag('--clients', t, 'give a whole number of clients per site, like 8'),
  )
  set('rateOpsPerSec', flags.rate, (t) => numberFlag('--rate', t, 'give ops per second in total, like 1000'))
  set('arrival', flags.arrival, (t) => oneOf('--arrival', t, ['constant', 'poisson'] as const))
  set('maxOutstanding', flags.maxOutstanding, (t) =>
    numberFlag('--max-outstanding', t, 'give a whole number, like 2000'),
  )
  set('thinkTimeMs', flags.thinkTime, (t) => duration('--think-time', t, true))
  set('ops', flags.ops, (t) => numberFlag('--ops', t, 'give a whole number of commands'))
  set('keyDistribution', flags.keyDist, (t) =>
    oneOf('--key-dist', t, ['conflict', 'uniform', 'zipf', 'hotspot'] as const),
  )
  set('sharedKeys', flags.sharedKeys, (t) =>
    numberFlag('--shared-keys', t, 'give a whole number of keys, like 1'),
  )
  set('keys', flags.keys, (t) => numberFlag('--keys', t, 'give a whole number of keys, like 1000'))
  set('zipfTheta', flags.zipfTheta, (t) => numberFlag('--zipf-theta', t, 'give a number >= 0, like 0.99'))
  set('hotKeyFraction', flags.hotKeys, (t) =>
    numberFlag('--hot-keys', t, 'give a fraction in (0, 1], like 0.2'),
  )
  set('hotOpFraction', flags.hotOps, (t) => numberFlag('--hot-ops', t, 'give a fraction in [0, 1], like 0.8'))
  set('valueSizeBytes', flags.valueSize, (t) =>
    numberFlag('--value-size', t, 'give a whole number of bytes, like 100'),
  )
  set('drivers', flags.drivers, (t) =>
    numberFlag('--drivers', t, 'give a whole number of driver processes, like 2'),
  )
  set('cooldownMs', flags.cooldown, (t) => duration('--cooldown', t, true))
  set('clientSites', flags.clientSites, (t) => {
    const names = t.split(',').map((n) => n.trim())
    if (names.some((n) => n === ''))
      throw invalidInput('run', '--client-sites', `'${t}' has an empty site name`, 'give names like r1,r2')
    return names
  })
  return options
}

const pct = (x: number) => `${Math.round(x * 100)}%`

/** Lines under the table: the load as run, achieved conflict, and each driver's CPU (saturated ones flagged). */
export function loadSummaryLines(summary: RunSummary): string {
  const lines: string[] = []
  for (const c of summary.cells) {
    const l = c.load
    const mode =
      l.mode === 'open'
        ? `open loop ${l.rateOpsPerSec} ops/s ${l.arrival}` +
          (c.arrivals !== null
            ? `: intended ${c.arrivals.intendedOpsPerSec}/s, sent ${c.arrivals.sentOpsPerSec}/s, completed ${c.throughputOpsPerSec}/s` +
              (c.arrivals.sentLate > 0 ? `, ${c.arrivals.sentLate} sent late (outstanding bound)` : '') +
              (c.errors.unsent > 0 ? `, ${c.errors.unsent} NEVER SENT` : '')
            : '')
        : `closed loop ${l.clientsPerSite} clients/site${l.thinkTimeMs ? `, think ${l.thinkTimeMs} ms` : ''}`
    lines.push(`${c.id}: ${mode}; conflict ${c.conflict} -> achieved ${c.achievedConflict}`)
    const drivers = c.drivers.map(
      (d) => `d${d.index} ${pct(d.cpuUtilization)} CPU${d.saturated ? ' SATURATED' : ''}`,
    )
    lines.push(
      `${c.id}: drivers: ${drivers.join(', ')}` +
        (c.driverSaturated ? ' (a driver was the bottleneck, not the engine: try --drivers)' : ''),
    )
  }
  return `${lines.join('\n')}\n`
}
