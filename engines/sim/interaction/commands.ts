/**
 * The command set of the interaction language (README.md has the reference). Each command checks its
 * arguments, acts on the manual cluster and returns its output lines. Argument shapes are checked when
 * the file is parsed (`checkArguments`), so a misspelt command fails before anything runs.
 */
import type { Command } from '../../core/command.ts'
import { ConfigError } from '../../core/engine.ts'
import { describe as describeMessage, formatExecuted, ManualCluster, type MessageFilter } from './cluster.ts'
import { formatCommandId, formatOutcome } from './format.ts'
import { InteractionError, type ScriptCommand } from './parser.ts'

// biome-ignore lint/suspicious/noExplicitAny: any engine
type AnyEngineModule = import('../../core/engine.ts').EngineModule<any, any>

interface Spec {
  readonly usage: string
  readonly positional: readonly [min: number, max: number]
  readonly keys: readonly string[]
  readonly required?: readonly string[]
}

export const COMMANDS: Readonly<Record<string, Spec>> = {
  init: {
    usage: 'init engine=<name> nodes=<n> [config=<json>] [seed=<n>]',
    positional: [0, 0],
    keys: ['engine', 'nodes', 'config', 'seed'],
    required: ['engine', 'nodes'],
  },
  propose: {
    usage: 'propose <node> put <key> <value> [id=<client>#<seq>] | propose <node> get <key> [id=...]',
    positional: [3, 4],
    keys: ['id'],
  },
  tick: { usage: 'tick <node|all> <ms>', positional: [2, 2], keys: [] },
  'deliver-msgs': {
    usage: 'deliver-msgs [from=<node>] [to=<node>] [type=<type>] [count=<k>]',
    positional: [0, 0],
    keys: ['from', 'to', 'type', 'count'],
  },
  drop: {
    usage: 'drop [from=<node>] [to=<node>] [type=<type>]',
    positional: [0, 0],
    keys: ['from', 'to', 'type'],
  },
  msgs: {
    usage: 'msgs [from=<node>] [to=<node>] [type=<type>]',
    positional: [0, 0],
    keys: ['from', 'to', 'type'],
  },
  partition: { usage: 'partition <a,b|c,d>', positional: [1, 1], keys: [] },
  heal: { usage: 'heal', positional: [0, 0], keys: [] },
  crash: { usage: 'crash <node>', positional: [1, 1], keys: [] },
  restart: { usage: 'restart <node>', positional: [1, 1], keys: [] },
  stabilize: { usage: 'stabilize [max=<deliveries>]', positional: [0, 0], keys: ['max'] },
  status: { usage: 'status [node]', positional: [0, 1], keys: [] },
  timers: { usage: 'timers [node]', positional: [0, 1], keys: [] },
  log: { usage: 'log <node>', positional: [1, 1], keys: [] },
  replies: { usage: 'replies', positional: [0, 0], keys: [] },
}

/** Throws an InteractionError when a command's name or argument shapes are wrong. */
export function checkArguments(cmd: ScriptCommand, file: string): void {
  const spec = COMMANDS[cmd.name]
  if (spec === undefined)
    throw new InteractionError(
      file,
      cmd.line,
      `unknown command '${cmd.name}'`,
      `use one of: ${Object.keys(COMMANDS).join(', ')}`,
    )
  const [min, max] = spec.positional
  if (cmd.positional.length < min || cmd.positional.length > max)
    throw new InteractionError(
      file,
      cmd.line,
      `'${cmd.name}' takes ${min === max ? min : `${min} to ${max}`} positional arguments, got ${cmd.positional.length}`,
      `write it as: ${spec.usage}`,
    )
  for (const key of cmd.args.keys())
    if (!spec.keys.includes(key))
      throw new InteractionError(
        file,
        cmd.line,
        `'${cmd.name}' has no argument '${key}'`,
        `write it as: ${spec.usage}`,
      )
  for (const key of spec.required ?? [])
    if (!cmd.args.has(key))
      throw new InteractionError(
        file,
        cmd.line,
        `'${cmd.name}' needs ${key}=...`,
        `write it as: ${spec.usage}`,
      )
}

/** The state one scenario file runs against. */
export class Session {
  cluster: ManualCluster | null = null
  private nextClient = 1

  constructor(
    private readonly module: AnyEngineModule,
    private readonly file: string,
  ) {}

  /** Runs one command; returns its output lines ('ok' when it printed nothing). */
  run(cmd: ScriptCommand): string[] {
    const fail = (problem: string, fix: string): never => {
      throw new InteractionError(this.file, cmd.line, problem, fix)
    }
    if (cmd.name === 'init') return this.init(cmd, fail)
    const cluster = this.cluster ?? fail(`'${cmd.name}' before init`, 'start the file with an init command')
    const node = (id: string): string => {
      if (!cluster.ids.includes(id)) fail(`no node '${id}'`, `use one of: ${cluster.ids.join(', ')}`)
      return id
    }
    const filter = (): MessageFilter => {
      const from = cmd.args.get('from')
      const to = cmd.args.get('to')
      const type = cmd.args.get('type')
      return {
        ...(from === undefined ? {} : { from: node(from) }),
        ...(to === undefined ? {} : { to: node(to) }),
        ...(type === undefined ? {} : { type }),
      }
    }
    const lines: string[] = []
    switch (cmd.name) {
      case 'propose':
        cluster.request(node(cmd.positional[0]!), this.command(cmd, fail))
        break
      case 'tick': {
        const [who, msText] = cmd.positional as [string, string]
        const ms = Number(msText)
        if (!Number.isFinite(ms) || ms < 0)
          fail(`tick: '${msText}' is not a duration in ms`, 'give ms >= 0, e.g. tick all 100')
        cluster.tick(who === 'all' ? cluster.ids : [node(who)], ms)
        break
      }
      case 'deliver-msgs': {
        const count = positiveInt(cmd.args.get('count'), 'count', fail)
        const delivered = cluster.deliver(filter(), count ?? Number.POSITIVE_INFINITY)
        if (delivered === 0) lines.push('no messages')
        break
      }
      case 'drop':
        if (cluster.drop(filter()) === 0) lines.push('no messages')
        break
      case 'msgs': {
        const queued = cluster.queued(filter())
        lines.push(...(queued.length === 0 ? ['no messages'] : queued.map(describeMessage)))
        break
      }
      case 'partition': {
        const groups = cmd.positional[0]!.split('|').map((g) => g.split(',').filter((id) => id !== ''))
        if (groups.length < 2)
          fail(`partition '${cmd.positional[0]}' has one group`, 'separate groups with |, e.g. r0|r1,r2')
        for (const id of groups.flat()) node(id)
        try {
          cluster.partition(groups)
        } catch (err) {
          fail(`partition: ${(err as Error).message}`, 'name every node exactly once, e.g. r0|r1,r2')
        }
        break
      }
      case 'heal':
        cluster.heal()
        break
      case 'crash':
        if (!cluster.isUp(node(cmd.positional[0]!)))
          fail(`${cmd.positional[0]} is already down`, 'restart it first')
        cluster.crash(cmd.positional[0]!)
        break
      case 'restart':
        if (cluster.isUp(node(cmd.positional[0]!))) fail(`${cmd.positional[0]} is running`, 'crash it first')
        cluster.boot(cmd.positional[0]!)
        break
      case 'stabilize':
        cluster.stabilize(positiveInt(cmd.args.get('max'), 'max', fail))
        break
      case 'status':
        for (const id of cmd.positional.length === 1 ? [node(cmd.positional[0]!)] : cluster.ids) {
          const s = cluster.status(id)
          lines.push(
            s === null
              ? `${id} down`
              : `${id} role=${s.role} leader=${s.leader ?? '-'} epoch=${s.epoch} executed=${s.executed}`,
          )
        }
        break
      case 'timers':
        for (const id of cmd.positional.length === 1 ? [node(cmd.positional[0]!)] : cluster.ids) {
          const timers = cluster.timers(id).map((t) => `${t.name}@+${t.inMs}`)
          lines.push(
            `${id} now=${cluster.nowMs(id)} ${timers.length === 0 ? '(no timers)' : timers.join(' ')}`,
          )
        }
        break
      case 'log': {
        const id = node(cmd.positional[0]!)
        const entries = cluster.executed(id)
        lines.push(
          ...(entries.length === 0
            ? [`${id} executed nothing`]
            : entries.map((e, i) => `${i + 1} ${formatExecuted(e)}`)),
        )
        break
      }
      case 'replies':
        lines.push(
          ...(cluster.replies.length === 0
            ? ['no replies']
            : cluster.replies.map((r) => `${r.node} ${formatCommandId(r.id)} ${formatOutcome(r.outcome)}`)),
        )
        break
      default:
        fail(`unknown command '${cmd.name}'`, `use one of: ${Object.keys(COMMANDS).join(', ')}`)
    }
    const out = [...cluster.takeOutput(), ...lines]
    return out.length === 0 ? ['ok'] : out
  }

  private init(cmd: ScriptCommand, fail: (problem: string, fix: string) => never): string[] {
    const engine = cmd.args.get('engine')!
    if (engine !== this.module.name)
      fail(
        `engine=${engine}, but this file runs against '${this.module.name}'`,
        `write engine=${this.module.name}`,
      )
    const n = positiveInt(cmd.args.get('nodes'), 'nodes', fail)!
    if (n > 99) fail(`nodes=${n} is more than 99`, 'use at most 99 nodes')
    const seedText = cmd.args.get('seed')
    const seed = seedText === undefined ? 1 : Number(seedText)
    if (!Number.isSafeInteger(seed))
      fail(`seed=${seedText} is not an integer`, 'give an integer seed, e.g. seed=7')
    let raw: unknown
    const configText = cmd.args.get('config')
    if (configText !== undefined) {
      try {
        raw = JSON.parse(configText)
      } catch (err) {
        fail(
          `config is not JSON: ${(err as Error).message}`,
          'write config={"field": value} as one line of JSON',
        )
      }
    }
    let config: unknown
    try {
      config = this.module.parseConfig(raw)
    } catch (err) {
      if (err instanceof ConfigError) fail(`config: ${err.message}`, err.fix)
      throw err
    }
    const cluster = new ManualCluster(this.module, n, config, seed)
    this.cluster = cluster
    this.nextClient = 1
    cluster.bootAll()
    const out = cluster.takeOutput()
    return out.length === 0 ? ['ok'] : out
  }

  /** The client command of a propose line; a fresh client `c<k>` with seq 1 unless id= names one. */
  private command(cmd: ScriptCommand, fail: (problem: string, fix: string) => never): Command {
    const [, op, key, value] = cmd.positional as [string, string, string, string | undefined]
    let client = `c${this.nextClient}`
    let seq = 1
    const idText = cmd.args.get('id')
    if (idText !== undefined) {
      const m = /^([A-Za-z0-9_-]+)#(\d+)$/.exec(idText)
      if (m === null)
        fail(`id=${idText} is not <client>#<seq>`, 'write e.g. id=c1#2 (to retry, reuse the id)')
      client = m![1]!
      seq = Number(m![2])
      if (seq < 1) fail(`id=${idText}: seq must be >= 1`, 'number a client command from 1')
    } else {
      this.nextClient++
    }
    const id = { client, seq }
    if (op === 'put') {
      if (value === undefined) fail('propose put needs a key and a value', 'write: propose r0 put x 1')
      return { id, op: 'put', key, value: value! }
    }
    if (op === 'get') {
      if (value !== undefined) fail('propose get takes only a key', 'write: propose r0 get x')
      return { id, op: 'get', key }
    }
    return fail(`propose: unknown operation '${op}'`, 'use put <key> <value> or get <key>')
  }
}

function positiveInt(
  text: string | undefined,
  what: string,
  fail: (problem: string, fix: string) => never,
): number | undefined {
  if (text === undefined) return undefined
  const n = Number(text)
  if (!Number.isSafeInteger(n) || n < 1)
    fail(`${what}=${text} is not a positive integer`, `give ${what}=1 or more`)
  return n
}
