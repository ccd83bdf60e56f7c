import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import type { Command, NodeId } from '../../core/command.ts'
import type { Engine, EngineContext, EngineModule } from '../../core/engine.ts'
import { ConfigError } from '../../core/engine.ts'
import { formatMessage, formatValue } from './format.ts'
import { InteractionError, parseScript, rewriteScript, tokenize } from './parser.ts'
import { runInteractionFile, runScript } from './runner.ts'

/**
 * A tiny fixture engine, so the runtime's behaviour can be asserted exactly: a request is counted in
 * storage and sent to every peer as `ping`; a ping is executed and answered with `pong`; a request also
 * sets a timer `t` (10 ms) that emits an event. Storage key 'broken' makes its invariant fail.
 */
type EchoMsg = { type: 'ping'; cmd: Command } | { type: 'pong'; n: number }
class EchoEngine implements Engine<EchoMsg> {
  constructor(private readonly ctx: EngineContext<EchoMsg, { delayMs: number }>) {}
  start(): void {}
  onRequest(cmd: Command): void {
    const n = (this.ctx.storage.get<number>('requests') ?? 0) + 1
    this.ctx.storage.put('requests', n)
    if (cmd.op === 'put' && cmd.key === 'broken') this.ctx.storage.put('broken', true)
    for (const to of this.ctx.nodes) if (to !== this.ctx.self) this.ctx.send(to, { type: 'ping', cmd })
    this.ctx.setTimer('t', this.ctx.config.delayMs)
    this.ctx.execute(cmd)
    this.ctx.reply(cmd.id, { status: 'ok', value: null })
  }
  onMessage(from: NodeId, msg: EchoMsg): void {
    if (msg.type === 'ping') {
      this.ctx.execute(msg.cmd)
      this.ctx.send(from, { type: 'pong', n: 1 })
    }
  }
  onTimer(name: string): void {
    this.ctx.emit({ type: 'recovery', detail: `${name} at ${this.ctx.now()}` })
  }
  status() {
    const n = this.ctx.storage.get<number>('requests') ?? 0
    return { role: 'peer' as const, leader: null, epoch: n, executed: 0 }
  }
  assertInvariants(): void {
    if (this.ctx.storage.get('broken') === true) throw new Error('broken key stored')
  }
}
const echo: EngineModule<EchoMsg, { delayMs: number }> = {
  name: 'echo',
  leadership: 'leaderless',
  description: 'test fixture',
  parseConfig(raw) {
    const config = { delayMs: 10, ...((raw as object | undefined) ?? {}) }
    if (Object.keys(config).some((k) => k !== 'delayMs'))
      throw new ConfigError('echo', 'unknown config field', 'use delayMs')
    return config
  },
  create: (ctx) => new EchoEngine(ctx),
  expectedLatencyMs: () => 0,
}

function run(text: string): string[][] {
  return runScript(echo, text, 'x.txt').outputs
}

function errorOf(body: () => unknown): InteractionError {
  try {
    body()
  } catch (err) {
    assert.ok(err instanceof InteractionError, `expected an InteractionError, got ${String(err)}`)
    return err
  }
  assert.fail('no error thrown')
}

describe('parser', () => {
  it('keeps JSON values and quoted strings whole', () => {
    assert.deepEqual(tokenize('init engine=raft config={"a": [1, 2], "b": "x y"} "two words"', 'f', 1), [
      'init',
      'engine=raft',
      'config={"a": [1, 2], "b": "x y"}',
      '"two words"',
    ])
    const script = parseScript('propose r0 put k "a b"\n----\nok\n', 'f')
    assert.deepEqual(script.commands[0]!.positional, ['r0', 'put', 'k', 'a b'])
  })

  it('reads commands, expected output and comments', () => {
    const script = parseScript('# c\ninit engine=echo nodes=2\n----\nok\n\nheal\n----\na\nb\n', 'f')
    assert.equal(script.commands.length, 2)
    assert.deepEqual(script.commands[1]!.expected, ['a', 'b'])
    assert.equal(script.commands[1]!.line, 6)
  })

  it('errors name file:line, the problem and the fix', () => {
    const cases: Array<[string, RegExp, number]> = [
      [
        'init engine=echo nodes=2\n----\nok\n\nfrobnicate\n',
        /unknown command 'frobnicate'.*fix: use one of: init/,
        5,
      ],
      ['----\nok\n', /'----' with no command on the line above/, 1],
      ['init engine=echo nodes=2 config={"a": 1\n', /unterminated JSON value/, 1],
      ['init engine=echo\n', /'init' needs nodes=.*fix: write it as: init engine=<name> nodes=<n>/, 1],
      ['init engine=echo nodes=2\n\ntick r0\n', /'tick' takes 2 positional arguments, got 1/, 3],
      ['init engine=echo nodes=2\n\ndeliver-msgs form=r0\n', /'deliver-msgs' has no argument 'form'/, 3],
      [
        'init engine=raft nodes=2\n',
        /engine=raft, but this file runs against 'echo'.*fix: write engine=echo/,
        1,
      ],
      [
        'init engine=echo nodes=2 config={"delay": 1}\n',
        /config: echo: unknown config field.*fix: use delayMs/,
        1,
      ],
      ['init engine=echo nodes=2\n\npropose r7 put x 1\n', /no node 'r7'.*fix: use one of: r0, r1/, 3],
      ['tick all 1\n', /'tick' before init.*fix: start the file with an init command/, 1],
      ['init engine=echo nodes=2\n\npartition r0\n', /has one group/, 3],
      ['init engine=echo nodes=3\n\npartition r0|r1\n', /leaves out r2/, 3],
    ]
    for (const [text, pattern, line] of cases) {
      const err = errorOf(() => run(text))
      assert.match(err.message, pattern, text)
      assert.ok(err.message.startsWith(`x.txt:${line}: `), `${err.message} should name x.txt:${line}`)
      assert.match(err.message, /\(fix: .+\)$/s)
    }
  })
})

describe('format', () => {
  it('prints ballots, commands and nested data compactly', () => {
    const cmd: Command = { id: { client: 'c1', seq: 2 }, op: 'put', key: 'x', value: 'a b' }
    assert.equal(
      formatMessage({
        type: 'accept',
        ballot: { round: 3, node: 'r1' },
        value: [cmd],
        meta: { n: 1 },
      } as never),
      'accept ballot=3.r1 value=[c1#2:put(x,"a b")] meta={n=1}',
    )
    assert.equal(formatValue({ client: 'c1', seq: 1 }), 'c1#1')
    assert.equal(formatValue({ round: 0, node: '' }), '0.-')
  })
})

describe('manual network', () => {
  it('queues sends until delivered, and prints effects under their cause', () => {
    const [, propose, deliver, stabilize] = run(
      'init engine=echo nodes=3\n\npropose r0 put x 1\n\ndeliver-msgs to=r1\n\nstabilize\n',
    )
    assert.deepEqual(propose, [
      'r0->r1 ping cmd=c1#1:put(x,1)',
      'r0->r2 ping cmd=c1#1:put(x,1)',
      'r0 exec c1#1:put(x,1)',
      'r0 reply c1#1 ok null',
    ])
    assert.deepEqual(deliver, [
      'r0->r1 ping cmd=c1#1:put(x,1)',
      '  r1 exec c1#1:put(x,1)',
      '  r1->r0 pong n=1',
    ])
    assert.deepEqual(stabilize, [
      'r0->r2 ping cmd=c1#1:put(x,1)',
      '  r2 exec c1#1:put(x,1)',
      '  r2->r0 pong n=1',
      'r1->r0 pong n=1',
      'r2->r0 pong n=1',
    ])
  })

  it('count= limits deliveries; drop removes; msgs lists', () => {
    const out = run(
      'init engine=echo nodes=3\n\npropose r0 put x 1\n\ndeliver-msgs count=1\n\nmsgs\n\ndrop to=r2\n\nmsgs\n',
    )
    assert.equal(out[2]![0], 'r0->r1 ping cmd=c1#1:put(x,1)')
    assert.deepEqual(out[3], ['r0->r2 ping cmd=c1#1:put(x,1)', 'r1->r0 pong n=1'])
    assert.deepEqual(out[4], ['dropped r0->r2 ping cmd=c1#1:put(x,1)'])
    assert.deepEqual(out[5], ['r1->r0 pong n=1'])
  })

  it('a partition drops messages across the cut when they are sent; heal ends it', () => {
    const out = run(
      'init engine=echo nodes=3\n\npartition r0,r1|r2\n\npropose r0 put x 1\n\nheal\n\npropose r0 put y 1\n',
    )
    assert.ok(out[2]!.includes('r0->r2 ping cmd=c1#1:put(x,1) (dropped: partition)'))
    assert.ok(out[2]!.includes('r0->r1 ping cmd=c1#1:put(x,1)'))
    assert.ok(out[4]!.includes('r0->r2 ping cmd=c2#1:put(y,1)'))
  })

  it('crash drops queued messages to the node and keeps its storage; restart boots on it', () => {
    const out = run(
      'init engine=echo nodes=2\n\npropose r1 put x 1\n\npropose r0 put y 1\n\ncrash r1\n\nstatus\n\nrestart r1\n\nstatus r1\n\npropose r0 put z 1\n',
    )
    assert.deepEqual(out[3], ['dropped r0->r1 ping cmd=c2#1:put(y,1) (r1 crashed)'])
    assert.deepEqual(out[4], ['r0 role=peer leader=- epoch=1 executed=0', 'r1 down'])
    assert.deepEqual(out[6], ['r1 role=peer leader=- epoch=1 executed=0'], 'storage survived the crash')
  })

  it('tick fires due timers in time order across nodes, each at its own clock', () => {
    const out = run(
      'init engine=echo nodes=2 config={"delayMs": 30}\n\npropose r1 put a 1\n\ntick r0 10\n\npropose r0 put b 1\n\ntimers\n\ntick all 29\n\ntick all 1\n\ntimers\n',
    )
    // r0's clock runs 10 ms ahead of r1's: its timer (set at 10) is due at 40 on its clock
    assert.deepEqual(out[4], ['r0 now=10 t@+30', 'r1 now=0 t@+30'])
    assert.deepEqual(out[5], ['ok'], 'nothing due before 30 on r1 and 40 on r0')
    assert.deepEqual(out[6], [
      'r1 timer t',
      '  r1 event recovery detail="t at 30"',
      'r0 timer t',
      '  r0 event recovery detail="t at 40"',
    ])
    assert.deepEqual(out[7], ['r0 now=40 (no timers)', 'r1 now=30 (no timers)'])
  })

  it('an invariant failure stops the file at the command, naming the node', () => {
    const err = errorOf(() => run('init engine=echo nodes=2\n\npropose r0 put broken 1\n'))
    assert.match(err.message, /^x\.txt:3: 'propose r0 put broken 1': r0 invariant failed after r0 onRequest/)
  })

  it('stabilize gives up after max deliveries', () => {
    const err = errorOf(() => run('init engine=echo nodes=3\n\npropose r0 put x 1\n\nstabilize max=1\n'))
    assert.match(err.message, /still 2 messages queued after 1 deliveries.*fix: deliver fewer messages/)
  })

  it('propose id= reuses a command id (a retry executes once)', () => {
    const out = run(
      'init engine=echo nodes=1\n\npropose r0 put x 1 id=k#1\n\npropose r0 put x 1 id=k#1\n\nlog r0\n',
    )
    assert.deepEqual(out[3], ['1 exec k#1:put(x,1)', '2 exec k#1:put(x,1) (duplicate)'])
  })
})

describe('golden files', () => {
  const withFile = (text: string, body: (path: string) => void): void => {
    const dir = mkdtempSync(join(tmpdir(), 'cb-interaction-'))
    try {
      const path = join(dir, 's.txt')
      writeFileSync(path, text)
      body(path)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }
  const scenario = '# two nodes\ninit engine=echo nodes=2\n\npropose r0 put x 1\nstatus r0\n----\nstale\n'

  it('REWRITE fills in and replaces expected output; the rewritten file then passes', () => {
    withFile(scenario, (path) => {
      assert.throws(() => runInteractionFile(echo, path, { rewrite: false }), /s\.txt:2: .*no '----' line/)
      const result = runInteractionFile(echo, path, { rewrite: true })
      assert.equal(result.rewritten, true)
      const text = readFileSync(path, 'utf8')
      assert.equal(
        text,
        '# two nodes\ninit engine=echo nodes=2\n----\nok\n\npropose r0 put x 1\n----\n' +
          'r0->r1 ping cmd=c1#1:put(x,1)\nr0 exec c1#1:put(x,1)\nr0 reply c1#1 ok null\n\n' +
          'status r0\n----\nr0 role=peer leader=- epoch=1 executed=0\n',
      )
      assert.equal(runInteractionFile(echo, path, { rewrite: false }).commands, 3)
      assert.equal(runInteractionFile(echo, path, { rewrite: true }).rewritten, false, 'idempotent')
    })
  })

  it('a mismatch names file:line, shows both outputs and how to accept the new one', () => {
    withFile('init engine=echo nodes=2\n----\nok\n\nstatus r0\n----\nr0 role=leader\n', (path) => {
      const err = errorOf(() => runInteractionFile(echo, path, { rewrite: false }))
      assert.ok(err.message.startsWith(`${path}:5: output of 'status r0' differs`))
      assert.match(err.message, /- r0 role=leader\n\+ r0 role=peer leader=- epoch=0 executed=0/)
      assert.match(err.message, /fix: if the new output is right, run REWRITE=1 npm test -- /)
    })
  })

  it('rewriteScript keeps comments and inserts a blank line before a following command', () => {
    const script = parseScript('# c\nheal\nheal\n', 'f')
    assert.equal(rewriteScript(script, [['ok'], ['ok']]), '# c\nheal\n----\nok\n\nheal\n----\nok\n')
  })
})
