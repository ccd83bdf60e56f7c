/**
 * Deterministic one-line text forms of what the manual network sees: messages (`prepare ballot=1.r0
 * slot=0`), commands (`c1#1:put(x,1)`), ballots (`1.r0`), outcomes. Golden files compare these strings,
 * so the forms must not depend on anything but the data (no times, no object identities).
 */
import type { Command, CommandId, Outcome } from '../../core/command.ts'
import type { EngineMessage } from '../../core/engine.ts'

const BARE = /^[A-Za-z0-9_.#:@/-]+$/

function isBallot(value: object): value is { round: number; node: string } {
  const keys = Object.keys(value)
  return (
    keys.length === 2 &&
    typeof (value as { round?: unknown }).round === 'number' &&
    typeof (value as { node?: unknown }).node === 'string'
  )
}

function isCommand(value: object): value is Command {
  const v = value as { id?: { client?: unknown; seq?: unknown }; op?: unknown; key?: unknown }
  return (
    typeof v.id === 'object' &&
    v.id !== null &&
    typeof v.id.client === 'string' &&
    typeof v.id.seq === 'number' &&
    (v.op === 'put' || v.op === 'get') &&
    typeof v.key === 'string'
  )
}

function isCommandId(value: object): value is CommandId {
  const keys = Object.keys(value)
  const v = value as { client?: unknown; seq?: unknown }
  return keys.length === 2 && typeof v.client === 'string' && typeof v.seq === 'number'
}

export function formatCommandId(id: CommandId): string {
  return `${id.client}#${id.seq}`
}

function formatString(s: string): string {
  return BARE.test(s) ? s : JSON.stringify(s)
}

export function formatCommand(cmd: Command): string {
  const args =
    cmd.op === 'put' ? `${formatString(cmd.key)},${formatString(cmd.value)}` : formatString(cmd.key)
  return `${formatCommandId(cmd.id)}:${cmd.op}(${args})`
}

/**
 * Compact form of plain data: ballots as `round.node`, commands as `client#seq:op(args)`, command ids
 * as `client#seq`, arrays as `[a,b]`, other objects as `{k=v,k2=v2}` in their own key order (engines
 * build messages with a fixed field order), strings bare when they hold no special characters.
 */
export function formatValue(value: unknown): string {
  if (value === undefined) return 'undefined'
  if (value === null) return 'null'
  if (typeof value === 'string') return formatString(value)
  if (typeof value !== 'object') return String(value)
  if (Array.isArray(value)) return `[${value.map(formatValue).join(',')}]`
  if (isBallot(value)) return `${value.round}.${value.node === '' ? '-' : value.node}`
  if (isCommand(value)) return formatCommand(value)
  if (isCommandId(value)) return formatCommandId(value)
  const fields = Object.entries(value)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${formatValue(v)}`)
  return `{${fields.join(',')}}`
}

/** `type k=v k2=v2`: the message type, then every other field in the message's key order. */
export function formatMessage(msg: EngineMessage): string {
  const fields = Object.entries(msg)
    .filter(([k, v]) => k !== 'type' && v !== undefined)
    .map(([k, v]) => `${k}=${formatValue(v)}`)
  return [msg.type, ...fields].join(' ')
}

export function formatOutcome(outcome: Outcome): string {
  return outcome.status === 'ok' ? `ok ${formatValue(outcome.value)}` : `rejected ${outcome.reason}`
}
