/**
 * An external engine: a replicated store that is not one of ours, run as N member processes and driven
 * over its own HTTP API (README.md beside this file). Declared as data, in an experiment file
 * (`externalEngines`) or built in (etcd.ts), validated strictly like everything a user writes.
 */
import { z } from 'zod'
import { httpKvApiSchema, TEMPLATE_NAMES } from '../../workloads/http-kv-api.ts'

const methods = z.enum(['GET', 'POST', 'PUT'])
const statuses = z.array(z.number().int().min(100).max(599)).min(1)

/** What a member's command template may name (README.md, "Templates"), besides `{config.<field>}`. */
export const MEMBER_TEMPLATE_NAMES = [
  'i',
  'name',
  'host',
  'peerPort',
  'clientPort',
  'peerListen',
  'clientListen',
  'advertisePeer',
  'peers',
  'members',
  'membersUrl',
  'clusterToken',
  'dataDir',
] as const

const templateString = (names: readonly string[], config: boolean) =>
  z.string().superRefine((s, ctx) => {
    for (const m of s.matchAll(/\{([\w.]+)\}/g)) {
      const name = m[1]!
      if (names.includes(name) || (config && /^config\.\w+$/.test(name))) continue
      ctx.addIssue({
        code: 'custom',
        message: `unknown template {${name}}; the names are ${names.map((n) => `{${n}}`).join(', ')}${config ? ', {config.<field>}' : ''}`,
      })
    }
  })

const memberTemplate = templateString(MEMBER_TEMPLATE_NAMES, true)
const apiTemplateCheck = templateString(TEMPLATE_NAMES, false)

const probeSchema = z.strictObject({
  method: methods.default('GET'),
  path: z.string().regex(/^\//, 'must start with /'),
  /** a JSON body (etcd's gateway wants `{}` on POST) */
  json: z.unknown().optional(),
  ok: statuses.default([200]),
})

export const externalEngineSchema = z.strictObject({
  kind: z.literal('external'),
  description: z.string().default(''),
  /**
   * Member i's command line: the program (on PATH or an absolute path) and its arguments, each a
   * template. Run with cwd = the repo root, stdout and stderr into the cell's replicas/ folder.
   */
  command: z.array(memberTemplate).min(1),
  /** extra environment variables (templates) */
  env: z.record(z.string(), memberTemplate).default({}),
  /** how to install the program, shown when it is missing (the cells are then skipped, not failed) */
  install: z.string().default(''),
  /** where `{dataDir}` lives: a temp dir on disk, or on tmpfs (/dev/shm): no fsync cost */
  dataDir: z.enum(['disk', 'tmpfs']).default('disk'),
  /** config fields with their defaults, as `{config.<field>}`; an experiment's engineConfig overrides them */
  config: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
  peers: z
    .strictObject({
      /**
       * per-member: each member is told where it dials every other (`{peers}`), so every link gets its
       * own shaped address. shared: every member dials a peer at one address (`{members}`,
       * `{advertisePeer}`), and the shaper tells the source of a connection by `header`.
       */
      mode: z.enum(['per-member', 'shared']).default('per-member'),
      /** shared: the request header that names the source member (etcd: X-Server-From) */
      header: z
        .string()
        .regex(/^[A-Za-z0-9-]+$/)
        .optional(),
      /** shared: what that header holds: the member's name (r0..), or its etcd member id */
      identity: z.enum(['name', 'etcd-member-id']).default('name'),
    })
    .default({ mode: 'per-member', identity: 'name' }),
  /** healthy = this request answers with an ok status */
  health: probeSchema,
  /**
   * How to learn the leader (optional): `self` and `leader` are dotted paths in each member's answer;
   * the leader is the member whose own `self` value equals the `leader` value most members give.
   */
  leader: probeSchema
    .extend({ self: z.string().min(1), leader: z.string().min(1) })
    .strict()
    .optional(),
  /**
   * How to move leadership (optional; needs `leader`): sent to the current leader, `{targetId}` in its
   * json is the target's `self` value. With it, `leaderSite` places the leader after start.
   */
  moveLeader: probeSchema.optional(),
  /** a registered engine whose expectedLatencyMs models this system on a topology (etcd: raft) */
  model: z.string().min(1).optional(),
  startTimeoutMs: z.number().int().positive().max(600_000).default(30_000),
  api: httpKvApiSchema.superRefine((api, ctx) => {
    for (const op of ['put', 'get'] as const) {
      const r = api[op]
      const strings = [r.path, r.body ?? '', ...Object.values(r.headers), ...jsonStrings(r.json)]
      for (const s of strings) {
        const checked = apiTemplateCheck.safeParse(s)
        if (!checked.success)
          ctx.addIssue({ code: 'custom', path: [op], message: checked.error.issues[0]!.message })
      }
    }
  }),
})

function jsonStrings(value: unknown): string[] {
  if (typeof value === 'string') return [value]
  if (Array.isArray(value)) return value.flatMap(jsonStrings)
  if (value !== null && typeof value === 'object') return Object.values(value).flatMap(jsonStrings)
  return []
}

export type ExternalEngineInput = z.input<typeof externalEngineSchema>
export type ExternalEngine = z.output<typeof externalEngineSchema>

/** A definition that does not validate: `field` is its path inside the definition. */
export class ExternalEngineError extends Error {
  constructor(
    readonly field: string,
    readonly problem: string,
    readonly fix: string,
  ) {
    super(`${field}: ${problem} (fix: ${fix})`)
    this.name = 'ExternalEngineError'
  }
}

export function parseExternalEngine(raw: unknown): ExternalEngine {
  const parsed = externalEngineSchema.safeParse(raw)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    const field = issue.path.map(String).join('.') || '(definition)'
    const fix =
      issue.code === 'unrecognized_keys'
        ? `remove it; see harness/external/README.md for the fields`
        : 'see harness/external/README.md'
    throw new ExternalEngineError(field, issue.message, fix)
  }
  const e = parsed.data
  if (e.peers.mode === 'shared' && e.peers.header === undefined)
    throw new ExternalEngineError(
      'peers.header',
      'shared peer addresses need the header that names the source member',
      'give peers.header (etcd: X-Server-From), or use peers.mode per-member',
    )
  return e
}

/** The config a cell runs with: the definition's defaults, overridden by engineConfig (unknown fields refused). */
export function externalConfig(
  e: ExternalEngine,
  engineConfig: Readonly<Record<string, unknown>>,
): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = { ...e.config }
  for (const [k, v] of Object.entries(engineConfig)) {
    if (k === 'dataDir') {
      if (v !== 'disk' && v !== 'tmpfs')
        throw new ExternalEngineError(
          'config.dataDir',
          `'${String(v)}' is not a place`,
          "use 'disk' or 'tmpfs'",
        )
      continue
    }
    if (!(k in e.config))
      throw new ExternalEngineError(
        `config.${k}`,
        `not a config field of this external engine`,
        `use one of: ${[...Object.keys(e.config), 'dataDir'].join(', ')}`,
      )
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean')
      throw new ExternalEngineError(`config.${k}`, 'not a string, number or boolean', 'give a plain value')
    out[k] = v
  }
  return out
}

/**
 * Where the members' data dirs go: engineConfig `dataDir` (disk or tmpfs) when given, else tmpfs for a
 * run with `storage: memory` (our engines then skip fsync; tmpfs makes an external system's fsync free),
 * else the definition's.
 */
export function externalDataDir(
  e: ExternalEngine,
  engineConfig: Readonly<Record<string, unknown>>,
  storage: 'file' | 'memory',
): 'disk' | 'tmpfs' {
  const given = engineConfig.dataDir
  if (given === 'disk' || given === 'tmpfs') return given
  return storage === 'memory' ? 'tmpfs' : e.dataDir
}
