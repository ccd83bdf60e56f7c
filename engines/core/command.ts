/**
 * Client commands, their identities and outcomes, and the conflict relation.
 *
 * A client is a sequential session: it has at most one command outstanding, and numbers its commands
 * with increasing `seq`. Retrying a command re-sends the same id, so the state machine can execute it
 * at most once (see kv.ts).
 */

/** A replica's name, unique in a cluster: 'r0', 'r1', ... */
export type NodeId = string

export interface CommandId {
  readonly client: string
  readonly seq: number
}

export type Command =
  | { readonly id: CommandId; readonly op: 'get'; readonly key: string }
  | { readonly id: CommandId; readonly op: 'put'; readonly key: string; readonly value: string }

/** What executing a command returned: the value read (get) or null (put). */
export interface Result {
  readonly value: string | null
}

/**
 * What a replica answers a client.
 * - `ok`: the command was executed in the agreed order (value: what it read, null for a put).
 * - `rejected`: the command was definitely not executed and never will be (safe to retry as new).
 */
export type Outcome =
  | { readonly status: 'ok'; readonly value: string | null }
  | { readonly status: 'rejected'; readonly reason: string }

/** A stable string form of a command id, for maps and logs. */
export function commandIdKey(id: CommandId): string {
  return `${id.client}#${id.seq}`
}

export function sameCommandId(a: CommandId, b: CommandId): boolean {
  return a.client === b.client && a.seq === b.seq
}

export function isWrite(cmd: Command): boolean {
  return cmd.op === 'put'
}

/** Two commands conflict when they touch the same key and at least one writes (DESIGN.md). */
export function conflicts(a: Command, b: Command): boolean {
  return a.key === b.key && (isWrite(a) || isWrite(b))
}
