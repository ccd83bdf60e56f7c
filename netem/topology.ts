/**
 * Topologies (DESIGN.md, "Network emulation"): named sites, the measured RTT and jitter between each
 * pair, the RTT inside a site, and where the figures come from. Files are YAML, parsed strictly (a
 * misspelt field is an error naming the file, the field and the fix). Built-ins live in
 * netem/topologies/<name>.yaml; see netem/README.md for the format and the sources.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'

export const TOPOLOGIES_DIR = join(dirname(fileURLToPath(import.meta.url)), 'topologies')

/** Site names become endpoint ids (`clients@CA`) and latency tags: letters, digits, '_' and '-' only. */
const siteName = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9_-]{0,31}$/, 'must be a letter then letters, digits, _ or -')
/** up to an hour of RTT: anything larger is a unit mistake (seconds or microseconds) */
const ms = z.number().min(0).max(3_600_000)

export const topologyFileSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,63}$/, 'must be lower-case letters, digits, _ . or -'),
  description: z.string().min(1),
  /** where the figures come from (a paper, a data file): a topology without a source is not trusted */
  source: z.string().min(1),
  sites: z.array(z.strictObject({ name: siteName, region: z.string().min(1).optional() })).min(1),
  links: z
    .array(
      z.strictObject({
        between: z.tuple([siteName, siteName]),
        rttMs: ms,
        /** the spread of the RTT (ping's mdev); 0 = none */
        jitterMs: ms.default(0),
      }),
    )
    .default([]),
  /** RTT between two endpoints on the same site; 0 = not shaped at all (direct) */
  intraSiteRttMs: ms.default(0),
})

export type TopologyFile = z.output<typeof topologyFileSchema>

export interface Site {
  readonly name: string
  readonly region?: string | undefined
}

export interface Topology {
  readonly name: string
  readonly description: string
  readonly source: string
  readonly sites: readonly Site[]
  readonly links: TopologyFile['links']
  readonly intraSiteRttMs: number
  /** the file it was read from, or null when built in memory */
  readonly file: string | null
  /** RTT between two sites (intraSiteRttMs when they are the same site) */
  rttMs(siteA: string, siteB: string): number
  /** jitter of that RTT (0 inside a site) */
  jitterMs(siteA: string, siteB: string): number
}

/** A topology that cannot be used: names the file, the field and the fix. */
export class TopologyError extends Error {
  readonly code = 'ERR_TOPOLOGY'
  constructor(
    readonly file: string,
    readonly field: string,
    readonly problem: string,
    readonly fix: string,
  ) {
    super(`${file}: ${field}: ${problem} (fix: ${fix})`)
    this.name = 'TopologyError'
  }
}

const pairKey = (a: string, b: string) => (a < b ? `${a}\u0000${b}` : `${b}\u0000${a}`)

/**
 * Validates a parsed document (from YAML or built in code). Beyond the schema: site names are unique,
 * links name known sites, no link joins a site to itself or repeats a pair, and every pair of distinct
 * sites has a link (a run needs the whole matrix).
 */
export function topologyFromObject(raw: unknown, file: string | null): Topology {
  const where = file ?? '(topology)'
  const parsed = topologyFileSchema.safeParse(raw)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    const field = issue.path.map(String).join('.') || '(document)'
    const fix =
      issue.code === 'unrecognized_keys'
        ? `remove it; the fields are: ${Object.keys(topologyFileSchema.shape).join(', ')} (sites: name, region; links: between, rttMs, jitterMs)`
        : (FIX_OF_FIELD[String(issue.path[0] ?? '')] ?? 'see netem/README.md, "Topology files"')
    throw new TopologyError(where, field, issue.message, fix)
  }
  const t = parsed.data
  const names = t.sites.map((s) => s.name)
  names.forEach((n, i) => {
    if (names.indexOf(n) !== i)
      throw new TopologyError(
        where,
        `sites.${i}.name`,
        `site '${n}' appears twice`,
        'give each site its own name',
      )
  })
  const byPair = new Map<string, { rttMs: number; jitterMs: number }>()
  t.links.forEach((link, i) => {
    const [a, b] = link.between
    for (const s of [a, b]) {
      if (!names.includes(s))
        throw new TopologyError(
          where,
          `links.${i}.between`,
          `unknown site '${s}'`,
          `use one of: ${names.join(', ')}`,
        )
    }
    if (a === b)
      throw new TopologyError(
        where,
        `links.${i}.between`,
        `a link from '${a}' to itself`,
        'set intraSiteRttMs for links inside a site',
      )
    const key = pairKey(a, b)
    if (byPair.has(key))
      throw new TopologyError(
        where,
        `links.${i}.between`,
        `${a}-${b} is given twice`,
        'keep one link per pair',
      )
    byPair.set(key, { rttMs: link.rttMs, jitterMs: link.jitterMs })
  })
  for (let i = 0; i < names.length; i++) {
    for (let j = i + 1; j < names.length; j++) {
      if (!byPair.has(pairKey(names[i]!, names[j]!)))
        throw new TopologyError(
          where,
          'links',
          `no link between ${names[i]} and ${names[j]}`,
          `add {between: [${names[i]}, ${names[j]}], rttMs: <ms>, jitterMs: <ms>}`,
        )
    }
  }
  const lookup = (a: string, b: string) => {
    for (const s of [a, b]) if (!names.includes(s)) throw new RangeError(`topology ${t.name}: no site '${s}'`)
    return a === b ? null : byPair.get(pairKey(a, b))!
  }
  return {
    name: t.name,
    description: t.description,
    source: t.source,
    sites: t.sites,
    links: t.links,
    intraSiteRttMs: t.intraSiteRttMs,
    file,
    rttMs: (a, b) => lookup(a, b)?.rttMs ?? t.intraSiteRttMs,
    jitterMs: (a, b) => lookup(a, b)?.jitterMs ?? 0,
  }
}

const FIX_OF_FIELD: Readonly<Record<string, string>> = {
  name: 'give a lower-case name like epaxos-3',
  description: 'say in one line what the topology models',
  source: 'say where the RTTs come from (a paper, a data file)',
  sites: 'give a list of {name: CA, region: us-west-1}',
  links: 'give a list of {between: [CA, VA], rttMs: 85, jitterMs: 0}, one per pair of sites',
  intraSiteRttMs: 'give the RTT inside a site in milliseconds (0 = direct)',
}

export function parseTopologyYaml(text: string, file: string): Topology {
  let raw: unknown
  try {
    raw = parseYaml(text)
  } catch (err: unknown) {
    throw new TopologyError(
      file,
      '(document)',
      `not valid YAML (${(err as Error).message})`,
      'fix the YAML syntax',
    )
  }
  return topologyFromObject(raw, file)
}

export function builtinTopologyNames(): string[] {
  return readdirSync(TOPOLOGIES_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => basename(f, '.yaml'))
    .sort()
}

/** A built-in name (`epaxos-3`) or a path to a YAML file (anything with a '/' or a .yaml/.yml ending). */
export function loadTopology(nameOrPath: string): Topology {
  const isPath = nameOrPath.includes('/') || /\.ya?ml$/.test(nameOrPath)
  const file = isPath ? nameOrPath : join(TOPOLOGIES_DIR, `${nameOrPath}.yaml`)
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    if (isPath)
      throw new TopologyError(file, '(file)', 'cannot read it', 'give a readable topology YAML file')
    throw new TopologyError(
      nameOrPath,
      '(name)',
      'no such built-in topology',
      `use one of: ${builtinTopologyNames().join(', ')}, or a path to a YAML file`,
    )
  }
  return parseTopologyYaml(text, file)
}

/** Every pair of distinct sites, in site order: the rows of a listing. */
export function sitePairs(t: Topology): Array<[string, string]> {
  const pairs: Array<[string, string]> = []
  t.sites.forEach((a, i) => {
    for (const b of t.sites.slice(i + 1)) pairs.push([a.name, b.name])
  })
  return pairs
}
