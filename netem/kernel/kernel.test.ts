/**
 * The kernel shaper for real, inside two network namespaces this test creates (`cb-test-<pid>-a/b`,
 * joined by a veth pair, 10.201.0.0/24). Needs root, tc, ip and iptables; skips with the reason
 * otherwise. Never touches the harness's own namespace: every command runs in the test's namespaces,
 * and the last test checks that nothing of ours is left anywhere.
 *
 * Namespace A holds two endpoints (a = .1, c = .3) on one veth, so its filters are per-pair (source and
 * destination); namespace B holds one endpoint (b = .2), so its filters are per-destination.
 */
import assert from 'node:assert/strict'
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { after, before, describe, test } from 'node:test'
import { CliError, EXIT } from '../../harness/exit-codes.ts'
import type { LinkShape, NetworkSpec, ShapedNetwork } from '../shaper.ts'
import { classCommand, cleanupCommands, leafCommands, planKernelShaping, rootCommands } from './commands.ts'
import { run, runAll, runCommands } from './exec.ts'
import { createKernelShaper, type KernelLayout, probeKernelShaping, probeNetem } from './index.ts'
import { isRoot } from './probe.ts'

const TAG = `cb-test-${process.pid}`
const NS_A = `${TAG}-a`
const NS_B = `${TAG}-b`
// interface names are at most 15 characters
const VETH_A = `cbt${process.pid}a`
const VETH_B = `cbt${process.pid}b`
const RUN_ID = `t${process.pid}`
const CHAIN = `CB-${RUN_ID}`
const ADDR = { a: '10.201.0.1', b: '10.201.0.2', c: '10.201.0.3' } as const
const PORT = 7411
const CAP_AB_BYTES_PER_SEC = 1_000_000 // 8 Mbit/s
const CAP_BA_BYTES_PER_SEC = 2_000_000 // 16 Mbit/s
const STREAM_BYTES = 3_000_000

async function toolsMissing(): Promise<string | null> {
  for (const argv of [
    ['tc', '-V'],
    ['ip', '-V'],
    ['iptables', '--version'],
  ]) {
    if ((await run(argv)).code === 127)
      return `${argv[0]} is not installed (apt-get install -y iproute2 iptables)`
  }
  return null
}
const skipReason = !isRoot() ? 'needs root (network namespaces, tc, iptables)' : await toolsMissing()

const flat: LinkShape = {
  delayMs: 0,
  jitterMs: 0,
  jitterDistribution: 'normal',
  lossRate: 0,
  bandwidthBytesPerSec: null,
}

const spec: NetworkSpec = {
  endpoints: [
    { id: 'a', site: 'X', host: ADDR.a, listenAddress: `${ADDR.a}:${PORT}` },
    { id: 'c', site: 'X', host: ADDR.c, listenAddress: null },
    { id: 'b', site: 'Y', host: ADDR.b, listenAddress: `${ADDR.b}:${PORT}` },
  ],
  links: [
    { from: 'a', to: 'b', shape: { ...flat, bandwidthBytesPerSec: CAP_AB_BYTES_PER_SEC } },
    { from: 'b', to: 'a', shape: { ...flat, bandwidthBytesPerSec: CAP_BA_BYTES_PER_SEC } },
  ],
}
const layout: KernelLayout = (e) =>
  e.id === 'b'
    ? { netns: NS_B, device: VETH_B, mtuBytes: 1500 }
    : { netns: NS_A, device: VETH_A, mtuBytes: 1500 }

/** A sink: per connection, counts bytes from the first one to the sender's end, and answers {bytes, ms}. */
const SINK = `
const net = require('node:net')
const server = net.createServer({ allowHalfOpen: true }, (s) => {
  let bytes = 0, first = 0
  s.on('data', (d) => { if (!first) first = performance.now(); bytes += d.length })
  s.on('end', () => s.end(JSON.stringify({ bytes, ms: first ? performance.now() - first : 0 })))
  s.on('error', () => {})
})
server.listen(Number(process.argv[2]), process.argv[1], () => console.log('ready'))
`
/** Streams N bytes from a chosen source address and prints the sink's answer. */
const SEND = `
const net = require('node:net')
const [host, port, total, localAddress] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3]), process.argv[4]]
const s = net.connect({ host, port, localAddress, allowHalfOpen: true })
const chunk = Buffer.alloc(65536, 7)
let sent = 0, reply = ''
const pump = () => {
  while (sent < total) {
    const n = Math.min(chunk.length, total - sent)
    sent += n
    if (!s.write(chunk.subarray(0, n))) return void s.once('drain', pump)
  }
  s.end()
}
s.on('connect', pump)
s.on('data', (d) => { reply += d })
s.on('end', () => console.log(reply))
s.on('error', (e) => { console.log(JSON.stringify({ error: e.code })); process.exitCode = 1 })
`
/** One connection attempt: prints connected, timeout or error:<code>. */
const CONNECT = `
const net = require('node:net')
const s = net.connect({ host: process.argv[1], port: Number(process.argv[2]), localAddress: process.argv[4] })
setTimeout(() => { console.log('timeout'); process.exit(0) }, Number(process.argv[3]))
s.on('connect', () => { console.log('connected'); process.exit(0) })
s.on('error', (e) => { console.log('error:' + e.code); process.exit(0) })
`

function nodeIn(ns: string, script: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'ip',
      ['netns', 'exec', ns, process.execPath, '-e', script, ...args],
      { timeout: timeoutMs, encoding: 'utf8' },
      (error, stdout, stderr) =>
        error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout.trim()),
    )
  })
}

async function sh(argv: string[]): Promise<string> {
  const r = await run(argv)
  if (r.code !== 0) throw new Error(`\`${argv.join(' ')}\` failed: ${r.stderr}`)
  return r.stdout
}

const sinks: ChildProcess[] = []
async function startSink(ns: string, host: string): Promise<void> {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', SINK, host, String(PORT)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  sinks.push(child)
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve())
    child.once('exit', (code) => reject(new Error(`sink in ${ns} exited with ${code}`)))
  })
}

/** Streams from `fromNs` (source address `local`) to `host`; returns payload and wire rates. */
async function stream(fromNs: string, host: string, local: string): Promise<{ bytes: number; ms: number }> {
  const out = await nodeIn(fromNs, SEND, [host, String(PORT), String(STREAM_BYTES), local], 30_000)
  const answer = JSON.parse(out) as { bytes: number; ms: number; error?: string }
  assert.equal(answer.error, undefined, `stream ${local} -> ${host}: ${out}`)
  assert.equal(answer.bytes, STREAM_BYTES)
  return answer
}

async function classSentBytes(ns: string, dev: string, classid: string): Promise<number> {
  const out = await sh([
    'ip',
    'netns',
    'exec',
    ns,
    'tc',
    '-s',
    'class',
    'show',
    'dev',
    dev,
    'classid',
    classid,
  ])
  const m = /Sent (\d+) bytes/.exec(out)
  assert.ok(m, `no byte count in: ${out}`)
  return Number(m[1])
}

/** Packets our chain's DROP rule has counted in namespace A. */
async function droppedPackets(): Promise<number> {
  const out = await sh(['ip', 'netns', 'exec', NS_A, 'iptables', '-w', '-L', CHAIN, '-v', '-n', '-x'])
  const drop = out.split('\n').find((line) => /\bDROP\b/.test(line))
  return drop ? Number(drop.trim().split(/\s+/)[0]) : 0
}

const connect = (local: string, timeoutMs: number) =>
  nodeIn(NS_A, CONNECT, [ADDR.b, String(PORT), String(timeoutMs), local], timeoutMs + 10_000)

/** Removes what this file created, by the exact names; safe to call twice. */
async function teardown(): Promise<void> {
  for (const child of sinks.splice(0)) if (child.exitCode === null) child.kill('SIGKILL')
  for (const ns of [NS_A, NS_B]) await run(['ip', 'netns', 'del', ns])
}

test('without root, apply() fails with exit code 4 and the fix', {
  skip: isRoot() ? 'runs as non-root only' : false,
}, async () => {
  await assert.rejects(
    createKernelShaper({ layout, runId: RUN_ID }).apply(spec),
    (e: unknown) =>
      e instanceof CliError &&
      e.exitCode === EXIT.missingEnvironment &&
      /needs root[\s\S]*fix:/.test(e.message),
  )
})

describe('kernel shaper, for real in network namespaces', { skip: skipReason ?? false }, () => {
  let shaped: ShapedNetwork | null = null
  let hostLoopbackQdiscs = ''
  let hostRules = ''

  before(async () => {
    hostLoopbackQdiscs = await sh(['tc', 'qdisc', 'show', 'dev', 'lo'])
    hostRules = await sh(['iptables', '-S'])
    await teardown() // a previous run with the same PID cannot exist, but a reused PID could
    await sh(['ip', 'netns', 'add', NS_A])
    await sh(['ip', 'netns', 'add', NS_B])
    await sh([
      'ip',
      'link',
      'add',
      VETH_A,
      'netns',
      NS_A,
      'type',
      'veth',
      'peer',
      'name',
      VETH_B,
      'netns',
      NS_B,
    ])
    await sh(['ip', '-n', NS_A, 'addr', 'add', `${ADDR.a}/24`, 'dev', VETH_A])
    await sh(['ip', '-n', NS_A, 'addr', 'add', `${ADDR.c}/24`, 'dev', VETH_A])
    await sh(['ip', '-n', NS_B, 'addr', 'add', `${ADDR.b}/24`, 'dev', VETH_B])
    for (const [ns, dev] of [
      [NS_A, VETH_A],
      [NS_B, VETH_B],
    ] as const) {
      await sh(['ip', '-n', ns, 'link', 'set', dev, 'up'])
      await sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up'])
    }
    await startSink(NS_B, ADDR.b)
    await startSink(NS_A, ADDR.a)
    shaped = await createKernelShaper({ layout, runId: RUN_ID }).apply(spec)
  })

  after(async () => {
    await shaped?.close().catch(() => {})
    await teardown()
  })

  test('tbf caps a->b at 8 Mbit/s within 10% (HTB class + u32 per-pair filter + tbf leaf)', async () => {
    const before = await classSentBytes(NS_A, VETH_A, '1:1')
    const { bytes, ms } = await stream(NS_A, ADDR.b, ADDR.a)
    const wireBytes = (await classSentBytes(NS_A, VETH_A, '1:1')) - before
    const payloadRate = bytes / (ms / 1000)
    const wireRate = wireBytes / (ms / 1000)
    console.log(
      `kernel shaper tbf a->b: cap ${CAP_AB_BYTES_PER_SEC} B/s, wire ${Math.round(wireRate)} B/s, payload ${Math.round(payloadRate)} B/s over ${Math.round(ms)} ms`,
    )
    // tbf counts whole frames (headers included): the wire rate is what the cap sets
    assert.ok(
      Math.abs(wireRate / CAP_AB_BYTES_PER_SEC - 1) <= 0.1,
      `wire rate ${wireRate} B/s vs cap ${CAP_AB_BYTES_PER_SEC}`,
    )
    assert.ok(
      payloadRate > 0.85 * CAP_AB_BYTES_PER_SEC && payloadRate <= 1.1 * CAP_AB_BYTES_PER_SEC,
      `payload ${payloadRate}`,
    )
  })

  test('the per-pair filter leaves c->b (same interface, other source) unshaped', async () => {
    const { bytes, ms } = await stream(NS_A, ADDR.b, ADDR.c)
    const rate = bytes / (ms / 1000)
    console.log(`kernel shaper unshaped c->b: ${Math.round(rate)} B/s`)
    assert.ok(rate > 3 * CAP_AB_BYTES_PER_SEC, `c->b ran at ${rate} B/s: the a->b cap leaked onto it`)
  })

  test('tbf caps b->a at 16 Mbit/s within 10% (per-destination filter in a one-endpoint namespace)', async () => {
    const before = await classSentBytes(NS_B, VETH_B, '1:1')
    const { ms } = await stream(NS_B, ADDR.a, ADDR.b)
    const wireRate = ((await classSentBytes(NS_B, VETH_B, '1:1')) - before) / (ms / 1000)
    console.log(`kernel shaper tbf b->a: cap ${CAP_BA_BYTES_PER_SEC} B/s, wire ${Math.round(wireRate)} B/s`)
    assert.ok(
      Math.abs(wireRate / CAP_BA_BYTES_PER_SEC - 1) <= 0.1,
      `wire rate ${wireRate} B/s vs cap ${CAP_BA_BYTES_PER_SEC}`,
    )
  })

  test('partition: hold drops (connect times out), reset refuses, heal restores; a held SYN gets through after heal', async () => {
    assert.equal(await connect(ADDR.a, 2000), 'connected')
    await shaped!.partition('a', 'b', 'hold')
    assert.equal(await connect(ADDR.a, 800), 'timeout')
    assert.equal(await connect(ADDR.c, 2000), 'connected', 'only the a->b direction is partitioned')
    await shaped!.partition('a', 'b', 'reset')
    assert.equal(await connect(ADDR.a, 2000), 'error:ECONNREFUSED')
    await shaped!.heal('a', 'b')
    assert.equal(await connect(ADDR.a, 2000), 'connected')
    // hold-like: a SYN dropped during the partition is retransmitted by TCP and succeeds after heal
    await shaped!.partition('a', 'b', 'hold')
    const pending = connect(ADDR.a, 8000)
    // heal only once the rule has really dropped the SYN, so the test cannot pass by sending it late
    for (let i = 0; (await droppedPackets()) === 0; i++) {
      assert.ok(i < 100, 'the hold rule never dropped the SYN')
      await new Promise((r) => setTimeout(r, 50))
    }
    await shaped!.heal('a', 'b')
    assert.equal(await pending, 'connected')
    const rules = await sh(['ip', 'netns', 'exec', NS_A, 'iptables', '-S', CHAIN])
    assert.deepEqual(rules.trim().split('\n'), [`-N ${CHAIN}`], 'heal removed every rule')
  })

  test('setLink switches the leaf in place: new rate, then unshaped (pfifo), then capped again', async () => {
    const leaf = async () =>
      sh(['ip', 'netns', 'exec', NS_A, 'tc', 'qdisc', 'show', 'dev', VETH_A, 'parent', '1:1'])
    await shaped!.setLink('a', 'b', { ...flat, bandwidthBytesPerSec: 2 * CAP_AB_BYTES_PER_SEC })
    assert.match(await leaf(), /qdisc tbf 4001: .*rate 16Mbit/)
    await shaped!.setLink('a', 'b', flat)
    assert.match(await leaf(), /qdisc pfifo 5001: /)
    await shaped!.setLink('a', 'b', { ...flat, bandwidthBytesPerSec: CAP_AB_BYTES_PER_SEC })
    assert.match(await leaf(), /qdisc tbf 4001: .*rate 8Mbit/)
  })

  test('the probes answer with a boolean and detail; when netem is missing, applying it fails with exit 4', async (t) => {
    const netem = await probeNetem()
    const shaping = await probeKernelShaping()
    t.diagnostic(`probeNetem: works=${netem.works}: ${netem.detail}`)
    t.diagnostic(`probeKernelShaping: works=${shaping.works}: ${shaping.detail}`)
    console.log(
      `kernel shaper probes: netem works=${netem.works} (${netem.detail}); shaping works=${shaping.works} (${shaping.detail})`,
    )
    assert.equal(typeof netem.works, 'boolean')
    assert.ok(netem.detail.length > 0)
    assert.equal(shaping.works, true, shaping.detail) // this test's own shaping above used the same pieces
    assert.ok(shaping.pieces.every((p) => p.works))
    const delayed: NetworkSpec = { ...spec, links: [{ from: 'a', to: 'b', shape: { ...flat, delayMs: 20 } }] }
    const tryNetem = [
      'ip',
      'netns',
      'exec',
      NS_B,
      'tc',
      'qdisc',
      'replace',
      'dev',
      VETH_B,
      'root',
      'netem',
      'delay',
      '1ms',
    ]
    if (!netem.works) {
      const direct = await run(tryNetem)
      assert.notEqual(direct.code, 0, 'the probe said netem fails, yet a netem qdisc was accepted')
      await assert.rejects(
        createKernelShaper({ layout, runId: `${RUN_ID}n` }).apply(delayed),
        (e: unknown) =>
          e instanceof CliError && e.exitCode === EXIT.missingEnvironment && /netem/.test(e.message),
      )
      return
    }
    // netem works: a 20 ms one-way delay each way shows as a ~40 ms TCP handshake
    await shaped!.close()
    const both: NetworkSpec = {
      ...spec,
      links: [
        { from: 'a', to: 'b', shape: { ...flat, delayMs: 20 } },
        { from: 'b', to: 'a', shape: { ...flat, delayMs: 20 } },
      ],
    }
    shaped = await createKernelShaper({ layout, runId: RUN_ID }).apply(both)
    const started = performance.now()
    assert.equal(await connect(ADDR.a, 5000), 'connected')
    const rttMs = performance.now() - started
    t.diagnostic(`netem: connect through 2 x 20 ms took ${rttMs.toFixed(1)} ms (includes a node start-up)`)
    assert.ok(rttMs >= 38, `connect took ${rttMs} ms, below the 40 ms RTT`)
  })

  test("every generated netem variant passes tc's own argument parser (the kernel alone may refuse it)", async (t) => {
    // tc parses netem's options (and loads its distribution tables) before asking the kernel, so on a
    // kernel without sch_netem a well-formed command fails with the kernel's "unknown kind" and nothing else
    const netem = await probeNetem()
    const scratch: KernelLayout = () => ({ netns: NS_B, device: 'lo', mtuBytes: 65536 })
    const shapes: LinkShape[] = [
      { ...flat, delayMs: 42.5 },
      { ...flat, delayMs: 42.5, jitterMs: 0.3, jitterDistribution: 'normal' },
      { ...flat, delayMs: 10, jitterMs: 2, jitterDistribution: 'pareto', lossRate: 0.001 },
      { ...flat, delayMs: 10, jitterMs: 2, jitterDistribution: 'paretonormal' },
      { ...flat, delayMs: 10, jitterMs: 2, jitterDistribution: 'uniform', lossRate: 0.25 },
      { ...flat, delayMs: 78, bandwidthBytesPerSec: 1_000_000 },
    ]
    const plan = planKernelShaping(
      { endpoints: spec.endpoints, links: [{ from: 'b', to: 'a', shape: flat }] },
      scratch,
      `${RUN_ID}p`,
    )
    const iface = plan.interfaces[0]!
    const link = iface.links[0]!
    try {
      await runCommands([...rootCommands(iface.ref), classCommand(iface.ref, link)])
      for (const shape of shapes) {
        const [first] = leafCommands(iface.ref, link, shape)
        const result = await run(first!.argv)
        t.diagnostic(`${first!.argv.slice(4).join(' ')} -> exit ${result.code} ${result.stderr.trim()}`)
        if (netem.works) assert.equal(result.code, 0, result.stderr)
        else assert.match(result.stderr.trim(), /^Error: Specified qdisc kind is unknown\.$/)
      }
    } finally {
      await runAll(cleanupCommands(plan))
    }
    assert.doesNotMatch(await sh(['ip', 'netns', 'exec', NS_B, 'tc', 'qdisc', 'show', 'dev', 'lo']), /htb/)
  })

  test('close() removes our qdiscs and chain; after teardown no namespace of ours is left', async () => {
    await shaped!.close()
    await shaped!.close() // idempotent
    for (const [ns, dev] of [
      [NS_A, VETH_A],
      [NS_B, VETH_B],
    ] as const) {
      const qdiscs = await sh(['ip', 'netns', 'exec', ns, 'tc', 'qdisc', 'show', 'dev', dev])
      assert.doesNotMatch(qdiscs, /htb|tbf|netem|pfifo/, `${ns} ${dev}: ${qdiscs}`)
      const rules = await sh(['ip', 'netns', 'exec', ns, 'iptables', '-S'])
      assert.doesNotMatch(rules, /CB-/, `${ns}: ${rules}`)
    }
    await teardown()
    const namespaces = await sh(['ip', 'netns', 'list'])
    assert.doesNotMatch(namespaces, new RegExp(`${TAG}|cb-probe-${process.pid}-`), namespaces)
    const links = await sh(['ip', '-o', 'link', 'show'])
    assert.ok(!links.includes(VETH_A) && !links.includes(VETH_B), 'the veth pair went with its namespaces')
    // the harness's own namespace was never touched
    assert.equal(await sh(['tc', 'qdisc', 'show', 'dev', 'lo']), hostLoopbackQdiscs)
    // other test files may add rules of their own at the same time: look for ours, and for changes to
    // the rules that existed before
    const rulesNow = await sh(['iptables', '-S'])
    assert.doesNotMatch(rulesNow, new RegExp(CHAIN))
    // dockerd adds and removes its own rules as compose tests create and drop networks meanwhile
    const dockersOwn = /DOCKER|docker0|\bbr-[0-9a-f]+/
    for (const rule of hostRules.trim().split('\n'))
      if (!dockersOwn.test(rule)) assert.ok(rulesNow.includes(rule), `host rule gone: ${rule}`)
  })
})
