/**
 * `consensus-bench topologies`: the built-in topologies with their sites and RTT matrix, and
 * `topologies import`: a topology YAML built from the measured ping data (netem/import.ts).
 */
import { writeFileSync } from 'node:fs'
import Table from 'cli-table3'
import type { Command } from 'commander'
import { DATASETS, ImportError, importTopology, type Provider, topologyToYaml } from '../../netem/import.ts'
import { builtinTopologyNames, loadTopology, type Topology, TopologyError } from '../../netem/topology.ts'
import { invalidInput } from '../exit-codes.ts'

export interface TopologyListing {
  name: string
  description: string
  source: string
  sites: Array<{ name: string; region: string | null }>
  intraSiteRttMs: number
  /** rttMs[a][b] for every pair of sites (the diagonal is intraSiteRttMs) */
  rttMs: Record<string, Record<string, number>>
  jitterMs: Record<string, Record<string, number>>
}

export function describeTopology(t: Topology): TopologyListing {
  const matrix = (f: (a: string, b: string) => number) =>
    Object.fromEntries(
      t.sites.map((a) => [a.name, Object.fromEntries(t.sites.map((b) => [b.name, f(a.name, b.name)]))]),
    )
  return {
    name: t.name,
    description: t.description,
    source: t.source,
    sites: t.sites.map((s) => ({ name: s.name, region: s.region ?? null })),
    intraSiteRttMs: t.intraSiteRttMs,
    rttMs: matrix(t.rttMs),
    jitterMs: matrix(t.jitterMs),
  }
}

export function listTopologies(): TopologyListing[] {
  return builtinTopologyNames().map((n) => describeTopology(loadTopology(n)))
}

function matrixTable(l: TopologyListing): string {
  const names = l.sites.map((s) => s.name)
  const table = new Table({ head: ['RTT ms', ...names], style: { head: [], border: [] } })
  for (const a of names) table.push([a, ...names.map((b) => String(l.rttMs[a]![b]))])
  return table.toString()
}

export function topologiesText(listings: readonly TopologyListing[]): string {
  return listings
    .map((l) => {
      const sites = l.sites.map((s) => (s.region !== null ? `${s.name} (${s.region})` : s.name)).join(', ')
      return `${l.name}: ${l.description}\n  sites: ${sites}\n  source: ${l.source}\n${matrixTable(l)}\n`
    })
    .join('\n')
}

interface ImportFlags {
  provider: string
  regions: string
  dataset?: string
  names?: string
  name?: string
  out?: string
}

const FLAG_OF_FIELD: Record<string, string> = {
  regions: '--regions',
  names: '--names',
  dataset: '--dataset',
  provider: '--provider',
}

export function importFromFlags(flags: ImportFlags): string {
  if (flags.provider !== 'aws' && flags.provider !== 'gcp')
    throw invalidInput(
      'topologies import',
      '--provider',
      `'${flags.provider}' is not a provider`,
      'use aws or gcp',
    )
  const provider: Provider = flags.provider
  const list = (s: string) =>
    s
      .split(',')
      .map((x) => x.trim())
      .filter((x) => x !== '')
  try {
    const t = importTopology({
      provider,
      regions: list(flags.regions),
      ...(flags.dataset !== undefined ? { dataset: flags.dataset } : {}),
      ...(flags.names !== undefined ? { names: list(flags.names) } : {}),
      ...(flags.name !== undefined ? { name: flags.name } : {}),
    })
    const command = ['consensus-bench topologies import', `--provider ${provider}`]
    if (flags.dataset !== undefined) command.push(`--dataset ${flags.dataset}`)
    command.push(`--regions ${list(flags.regions).join(',')}`)
    if (flags.names !== undefined) command.push(`--names ${list(flags.names).join(',')}`)
    if (flags.name !== undefined) command.push(`--name ${flags.name}`)
    return topologyToYaml(t, command.join(' '))
  } catch (err: unknown) {
    if (err instanceof ImportError)
      throw invalidInput('topologies import', FLAG_OF_FIELD[err.field] ?? err.field, err.problem, err.fix)
    // a bad --names or --name fails the topology's own validation
    if (err instanceof TopologyError) {
      const flag = err.field.startsWith('sites') ? '--names' : err.field === 'name' ? '--name' : err.field
      throw invalidInput('topologies import', flag, err.problem, err.fix)
    }
    throw err
  }
}

export function register(program: Command): void {
  const topologies = program
    .command('topologies')
    .description('list the built-in topologies with their sites and RTT matrix; import one from ping data')
    .option('--json', 'print the list as JSON')
    .action((flags: { json?: boolean }) => {
      const listings = listTopologies()
      process.stdout.write(
        flags.json === true ? `${JSON.stringify(listings, null, 2)}\n` : topologiesText(listings),
      )
    })
  topologies
    .command('import')
    .description('build a topology YAML from the measured ping data in netem/data (RTT = avg, jitter = mdev)')
    .requiredOption('--provider <p>', 'aws or gcp')
    .requiredOption('--regions <list>', 'comma-separated regions, like us-west-1,us-east-1,eu-west-1')
    .option(
      '--dataset <d>',
      `aws: ${DATASETS.aws.join(' or ')} (default ${DATASETS.aws[0]}); gcp: ${DATASETS.gcp[0]}`,
    )
    .option('--names <list>', 'site names, one per region in order (default: the region names)')
    .option('--name <name>', 'topology name (default: <provider>-<regions>)')
    .option('--out <file>', 'write the YAML to this file instead of stdout')
    .action((flags: ImportFlags) => {
      const yaml = importFromFlags(flags)
      if (flags.out === undefined) process.stdout.write(yaml)
      else {
        writeFileSync(flags.out, yaml)
        process.stderr.write(`wrote ${flags.out}\n`)
      }
    })
}
