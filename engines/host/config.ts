/**
 * The replica process config file (engines/host/README.md, "Process contract"): strict zod parsing, so a
 * misspelt field is an error naming the file, the field and the fix, never silently ignored.
 */
import { readFileSync } from 'node:fs'
import { z } from 'zod'
import type { NodeId } from '../core/command.ts'

/** 'host:port' with a numeric port; IPv4 or a host name (the project uses 127.0.0.x only). */
const addressSchema = z.string().regex(/^[^\s:]+:\d{1,5}$/, 'must be "host:port", e.g. "127.0.0.1:7101"')

const nodeSchema = z.strictObject({
  id: z.string().min(1),
  /** where to CONNECT to reach this peer: may be a shaping relay, not the peer's own listen address */
  peerAddress: addressSchema,
})

const storageSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('memory') }),
  z.strictObject({ kind: z.literal('file'), dir: z.string().min(1) }),
])

export const replicaConfigSchema = z
  .strictObject({
    id: z.string().min(1),
    engine: z.string().min(1),
    engineConfig: z.record(z.string(), z.unknown()).default({}),
    nodes: z.array(nodeSchema).min(1),
    listen: z.strictObject({ peer: addressSchema, client: addressSchema }),
    storage: storageSchema,
    seed: z.number().int().nonnegative().default(1),
    /**
     * For testing regression gates: every client command and peer message reaches the engine this many
     * ms after it arrived, in arrival order (engines/host/input-delay.ts). 0: no delay.
     */
    processingDelayMs: z.number().nonnegative().max(60_000).optional(),
  })
  .superRefine((config, ctx) => {
    const ids = config.nodes.map((n) => n.id)
    const duplicate = ids.find((id, i) => ids.indexOf(id) !== i)
    if (duplicate !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['nodes'], message: `node id '${duplicate}' appears twice` })
    }
    if (!ids.includes(config.id)) {
      ctx.addIssue({ code: 'custom', path: ['id'], message: `'${config.id}' is not one of nodes[].id` })
    }
  })

export type ReplicaConfig = z.output<typeof replicaConfigSchema>
export type StorageConfig = ReplicaConfig['storage']

export interface HostPort {
  readonly host: string
  readonly port: number
}

export function parseAddress(address: string): HostPort {
  const colon = address.lastIndexOf(':')
  const port = Number(address.slice(colon + 1))
  if (colon <= 0 || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`bad address '${address}': expected host:port`)
  }
  return { host: address.slice(0, colon), port }
}

export function peerIds(config: ReplicaConfig): NodeId[] {
  return config.nodes.map((n) => n.id).filter((id) => id !== config.id)
}

/** A config file that cannot be used: the message names the file, the field and the fix. */
export class ReplicaConfigError extends Error {
  readonly code = 'ERR_REPLICA_CONFIG'
  constructor(
    readonly file: string,
    readonly field: string,
    problem: string,
    readonly fix: string,
  ) {
    super(`${file}: ${field}: ${problem}\n  fix: ${fix}`)
    this.name = 'ReplicaConfigError'
  }
}

function fixFor(field: string): string {
  if (field.startsWith('listen') || field.endsWith('peerAddress')) return 'write an address as "host:port"'
  if (field.startsWith('storage')) return 'use {"kind":"memory"} or {"kind":"file","dir":"/path"}'
  if (field === 'id') return 'set id to one of the nodes[].id values'
  if (field === 'nodes') return 'list every replica once, as {"id","peerAddress"}'
  if (field === 'processingDelayMs') return 'give milliseconds from 0 to 60000, like 5 (0: no delay)'
  return 'see engines/host/README.md, "Process contract"'
}

/** Validates already-parsed JSON; `file` is only used in error messages. */
export function parseReplicaConfig(raw: unknown, file = '<config>'): ReplicaConfig {
  const parsed = replicaConfigSchema.safeParse(raw)
  if (parsed.success) return parsed.data
  const issue = parsed.error.issues[0]!
  const path = issue.path.map(String).join('.') || '(top level)'
  if (issue.code === 'unrecognized_keys') {
    const where = path === '(top level)' ? '' : `${path}.`
    throw new ReplicaConfigError(
      file,
      issue.keys.map((k) => where + k).join(', '),
      'unknown field',
      'remove it (is it misspelt?); see engines/host/README.md for the fields',
    )
  }
  throw new ReplicaConfigError(file, path, issue.message, fixFor(path))
}

export function loadReplicaConfig(file: string): ReplicaConfig {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new ReplicaConfigError(
      file,
      '(file)',
      `cannot read: ${(err as Error).message}`,
      'pass --config <file.json>',
    )
  }
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (err) {
    throw new ReplicaConfigError(file, '(file)', `not JSON: ${(err as Error).message}`, 'fix the JSON syntax')
  }
  return parseReplicaConfig(raw, file)
}
