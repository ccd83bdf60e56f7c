/**
 * Builds a topology from the measured ping data in netem/data (fantoch's published files, see
 * netem/data/README.md): per pair of regions, RTT = ping's `avg` and jitter = ping's `mdev`, each the
 * mean of the two directions (a->b measured at a, b->a measured at b), rounded to 0.01 ms.
 * `consensus-bench topologies import` prints the result as YAML; the data-derived built-ins were made
 * with it, and a test re-derives them so they cannot drift from the data.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type TopologyFile, topologyFromObject } from './topology.ts'

export const DATA_DIR = join(dirname(fileURLToPath(import.meta.url)), 'data')

export type Provider = 'aws' | 'gcp'

/** The data sets per provider; the first is the default. */
export const DATASETS: Readonly<Record<Provider, readonly string[]>> = {
  aws: ['2020_06_05', '2021_02_13'],
  gcp: ['latest'],
}

export interface ImportOptions {
  readonly provider: Provider
  /** region names as in the data files, e.g. us-west-1 (aws) or us-west2 (gcp) */
  readonly regions: readonly string[]
  /** default: the provider's first data set */
  readonly dataset?: string
  /** site names, one per region in the same order; default: the region names */
  readonly names?: readonly string[]
  /** topology name; default: <provider>-<regions joined by '-'> */
  readonly name?: string
  readonly description?: string
  readonly source?: string
  /** default netem/data (tests point it elsewhere) */
  readonly dataDir?: string
}

/** Bad import arguments: `field` is the option (the CLI maps it onto its flag), with the fix. */
export class ImportError extends Error {
  readonly code = 'ERR_TOPOLOGY_IMPORT'
  constructor(
    readonly field: string,
    readonly problem: string,
    readonly fix: string,
  ) {
    super(`${field}: ${problem} (fix: ${fix})`)
    this.name = 'ImportError'
  }
}

interface Ping {
  readonly avgMs: number
  readonly mdevMs: number
}

export function datasetDir(provider: Provider, dataset: string, dataDir = DATA_DIR): string {
  return provider === 'aws' ? join(dataDir, 'latency_aws', dataset) : join(dataDir, 'latency_gcp')
}

/** The regions a data set has a file for, sorted. */
export function knownRegions(provider: Provider, dataset: string, dataDir = DATA_DIR): string[] {
  return readdirSync(datasetDir(provider, dataset, dataDir))
    .filter((f) => f.endsWith('.dat'))
    .map((f) => basename(f, '.dat'))
    .sort()
}

/** One `.dat` file: lines `min/avg/max/mdev:destination` (ms), measured from the file's region. */
export function parsePingFile(text: string, file: string): Map<string, Ping> {
  const out = new Map<string, Ping>()
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return
    const m = /^([\d.]+)\/([\d.]+)\/([\d.]+)\/([\d.]+):(\S+)$/.exec(line.trim())
    if (m === null) throw new Error(`${file}:${i + 1}: not 'min/avg/max/mdev:destination': ${line}`)
    out.set(m[5]!, { avgMs: Number(m[2]), mdevMs: Number(m[4]) })
  })
  return out
}

const round2 = (x: number) => Math.round(x * 100) / 100

export function importTopology(o: ImportOptions): TopologyFile {
  const dataset = o.dataset ?? DATASETS[o.provider][0]!
  if (!DATASETS[o.provider].includes(dataset))
    throw new ImportError(
      'dataset',
      `'${dataset}' is not a ${o.provider} data set`,
      `use one of: ${DATASETS[o.provider].join(', ')}`,
    )
  const known = knownRegions(o.provider, dataset, o.dataDir)
  if (o.regions.length === 0)
    throw new ImportError('regions', 'no regions given', `give some of: ${known.join(', ')}`)
  for (const r of o.regions) {
    if (!known.includes(r))
      throw new ImportError(
        'regions',
        `unknown ${o.provider} region '${r}' in data set ${dataset}`,
        `use some of: ${known.join(', ')}`,
      )
  }
  const dup = o.regions.find((r, i) => o.regions.indexOf(r) !== i)
  if (dup !== undefined)
    throw new ImportError('regions', `region '${dup}' is given twice`, 'list each region once')
  const names = o.names ?? o.regions
  if (names.length !== o.regions.length)
    throw new ImportError(
      'names',
      `${names.length} names for ${o.regions.length} regions`,
      'give one site name per region, in the same order',
    )
  const dir = datasetDir(o.provider, dataset, o.dataDir)
  const pings = new Map(
    o.regions.map((r) => {
      const file = join(dir, `${r}.dat`)
      return [r, parsePingFile(readFileSync(file, 'utf8'), file)] as const
    }),
  )
  const measured = (from: string, to: string): Ping | undefined => pings.get(from)?.get(to)
  const links: TopologyFile['links'] = []
  for (let i = 0; i < o.regions.length; i++) {
    for (let j = i + 1; j < o.regions.length; j++) {
      const a = o.regions[i]!
      const b = o.regions[j]!
      const both = [measured(a, b), measured(b, a)].filter((p): p is Ping => p !== undefined)
      if (both.length === 0)
        throw new ImportError(
          'regions',
          `the data set has no ping between ${a} and ${b}`,
          'choose regions measured against each other',
        )
      links.push({
        between: [names[i]!, names[j]!],
        rttMs: round2(both.reduce((s, p) => s + p.avgMs, 0) / both.length),
        jitterMs: round2(both.reduce((s, p) => s + p.mdevMs, 0) / both.length),
      })
    }
  }
  const dataPath = o.provider === 'aws' ? `netem/data/latency_aws/${dataset}` : 'netem/data/latency_gcp'
  const doc = {
    name: o.name ?? `${o.provider}-${o.regions.join('-')}`.toLowerCase(),
    description:
      o.description ?? `${o.provider.toUpperCase()} regions ${o.regions.join(', ')} (ping data ${dataset})`,
    source:
      o.source ??
      `fantoch's published ping data (github.com/vitorenesduarte/fantoch), ${dataPath}: RTT = avg, jitter = mdev, mean of both directions`,
    sites: o.regions.map((r, i) => ({ name: names[i]!, region: `${o.provider}:${r}` })),
    links,
    // the data's self-pings (0.1-0.3 ms) are below what the relay shapes faithfully: sites are direct
    intraSiteRttMs: 0,
  }
  // validates site names (the user's --names) and completeness, with the same errors as a file
  topologyFromObject(doc, null)
  return doc
}

/** YAML for a topology, one link per line; `generatedBy` becomes a header comment (the re-derive test reads it). */
export function topologyToYaml(t: TopologyFile, generatedBy?: string): string {
  const q = (s: string) => JSON.stringify(s)
  const lines: string[] = []
  if (generatedBy !== undefined) lines.push(`# generated by: ${generatedBy}`)
  lines.push(`name: ${t.name}`, `description: ${q(t.description)}`, `source: ${q(t.source)}`, 'sites:')
  for (const s of t.sites)
    lines.push(`  - { name: ${s.name}${s.region !== undefined ? `, region: ${q(s.region)}` : ''} }`)
  lines.push(t.links.length === 0 ? 'links: []' : 'links:')
  for (const l of t.links)
    lines.push(
      `  - { between: [${l.between[0]}, ${l.between[1]}], rttMs: ${l.rttMs}, jitterMs: ${l.jitterMs} }`,
    )
  lines.push(`intraSiteRttMs: ${t.intraSiteRttMs}`)
  return `${lines.join('\n')}\n`
}
