/**
 * The generated tc/iptables commands, checked as data (no root needed). The expected lines are written
 * out in full where the exact syntax matters, so a change in generation shows up as a readable diff.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { Endpoint, LinkShape, NetworkSpec } from '../shaper.ts'
import {
  chainName,
  cleanupCommands,
  formatCommand,
  healCommands,
  type KernelLayout,
  type KernelPlan,
  leafCommands,
  loopbackLayout,
  netemArgs,
  partitionCommands,
  planKernelShaping,
  setLinkCommands,
  setupCommands,
  tbfBurstBytes,
} from './commands.ts'

const flat: LinkShape = {
  delayMs: 0,
  jitterMs: 0,
  jitterDistribution: 'normal',
  lossRate: 0,
  bandwidthBytesPerSec: null,
}
const wan = (delayMs: number, extra: Partial<LinkShape> = {}): LinkShape => ({ ...flat, delayMs, ...extra })

function replica(i: number, site: string): Endpoint {
  return { id: `r${i}`, site, host: `127.0.0.${i + 1}`, listenAddress: `127.0.0.${i + 1}:${7101 + i}` }
}

const threeSites: NetworkSpec = {
  endpoints: [replica(0, 'CA'), replica(1, 'VA'), replica(2, 'EU')],
  links: [
    { from: 'r0', to: 'r1', shape: wan(42.5, { jitterMs: 0.3 }) },
    { from: 'r1', to: 'r0', shape: wan(42.5, { jitterMs: 0.3 }) },
    { from: 'r0', to: 'r2', shape: wan(78, { bandwidthBytesPerSec: 1_000_000 }) },
  ],
}

const lines = (plan: KernelPlan, f: (p: KernelPlan) => { argv: readonly string[] }[]) =>
  f(plan).map((c) => formatCommand(c as never))

describe('kernel shaper commands: loopback (per-pair)', () => {
  const plan = planKernelShaping(threeSites, loopbackLayout, 'run1')

  test('everything on lo shares one interface, so filters match source and destination', () => {
    assert.equal(plan.chain, 'CB-run1')
    assert.equal(plan.interfaces.length, 1)
    assert.equal(plan.interfaces[0]!.mode, 'per-pair')
    assert.deepEqual(
      plan.interfaces[0]!.links.map((l) => [l.from, l.to, l.index]),
      [
        ['r0', 'r1', 1],
        ['r1', 'r0', 2],
        ['r0', 'r2', 3],
      ],
    )
    assert.deepEqual(plan.netnsWithRules, [null])
  })

  test('setup: stale root removed, HTB root replaced, then class + leaf + filter per link, then the chain', () => {
    assert.deepEqual(lines(plan, setupCommands), [
      "tc qdisc show dev lo root | grep -qF 'qdisc htb 1: root' && tc qdisc del dev lo root",
      'tc qdisc replace dev lo root handle 1: htb',
      'tc class replace dev lo parent 1: classid 1:1 htb rate 10gbit quantum 60000',
      'tc qdisc replace dev lo parent 1:1 handle 1001: netem limit 100000 delay 42500us 300us distribution normal',
      'tc filter replace dev lo parent 1: protocol ip prio 1 handle 800::1 u32 match ip dst 127.0.0.2/32 match ip src 127.0.0.1/32 flowid 1:1',
      'tc class replace dev lo parent 1: classid 1:2 htb rate 10gbit quantum 60000',
      'tc qdisc replace dev lo parent 1:2 handle 1002: netem limit 100000 delay 42500us 300us distribution normal',
      'tc filter replace dev lo parent 1: protocol ip prio 1 handle 800::2 u32 match ip dst 127.0.0.1/32 match ip src 127.0.0.2/32 flowid 1:2',
      'tc class replace dev lo parent 1: classid 1:3 htb rate 10gbit quantum 60000',
      'tc qdisc replace dev lo parent 1:3 handle 2003: netem limit 100000 delay 78000us',
      'tc qdisc replace dev lo parent 2003:1 handle 3003: tbf rate 8000000bit burst 131100 latency 100ms',
      'tc filter replace dev lo parent 1: protocol ip prio 1 handle 800::3 u32 match ip dst 127.0.0.3/32 match ip src 127.0.0.1/32 flowid 1:3',
      'iptables -w -L CB-run1 -n || iptables -w -N CB-run1',
      'iptables -w -F CB-run1',
      'iptables -w -C OUTPUT -j CB-run1 || iptables -w -I OUTPUT 1 -j CB-run1',
    ])
  })

  test('every mutating tc command uses replace (never add), so applying twice is safe', () => {
    const tcVerbs = setupCommands(plan)
      .map((c) => c.argv)
      .filter((a) => a[0] === 'tc')
      .map((a) => a[2])
    assert.ok(tcVerbs.length > 0)
    assert.ok(
      tcVerbs.every((verb) => verb === 'replace' || verb === 'del'),
      tcVerbs.join(' '),
    )
    assert.ok(!setupCommands(plan).some((c) => c.argv.includes('add')))
  })

  test('partition hold = DROP, reset = REJECT tcp-reset + DROP; each first heals the direction', () => {
    assert.deepEqual(lines(plan, (p) => partitionCommands(p, 'r0', 'r1', 'hold')).slice(-1), [
      'iptables -w -A CB-run1 -s 127.0.0.1/32 -d 127.0.0.2/32 -m comment --comment cb:r0->r1 -j DROP',
    ])
    const reset = lines(plan, (p) => partitionCommands(p, 'r1', 'r0', 'reset'))
    assert.deepEqual(reset.slice(-2), [
      'iptables -w -A CB-run1 -s 127.0.0.2/32 -d 127.0.0.1/32 -m comment --comment cb:r1->r0 -p tcp -j REJECT --reject-with tcp-reset',
      'iptables -w -A CB-run1 -s 127.0.0.2/32 -d 127.0.0.1/32 -m comment --comment cb:r1->r0 -j DROP',
    ])
    // the heal part deletes only rules that exist (-C guard), for both modes
    assert.deepEqual(
      reset.slice(0, -2),
      lines(plan, (p) => healCommands(p, 'r1', 'r0')),
    )
  })

  test('a partition of a pair that has no shaped link still works (rules do not need a class)', () => {
    const cmds = lines(plan, (p) => partitionCommands(p, 'r2', 'r1', 'hold'))
    assert.match(cmds.at(-1)!, /-A CB-run1 -s 127\.0\.0\.3\/32 -d 127\.0\.0\.2\/32 .* -j DROP$/)
  })

  test('heal: guarded deletes of every rule either mode may have added', () => {
    assert.deepEqual(
      lines(plan, (p) => healCommands(p, 'r0', 'r1')),
      [
        'iptables -w -C CB-run1 -s 127.0.0.1/32 -d 127.0.0.2/32 -m comment --comment cb:r0->r1 -j DROP && iptables -w -D CB-run1 -s 127.0.0.1/32 -d 127.0.0.2/32 -m comment --comment cb:r0->r1 -j DROP',
        'iptables -w -C CB-run1 -s 127.0.0.1/32 -d 127.0.0.2/32 -m comment --comment cb:r0->r1 -p tcp -j REJECT --reject-with tcp-reset && iptables -w -D CB-run1 -s 127.0.0.1/32 -d 127.0.0.2/32 -m comment --comment cb:r0->r1 -p tcp -j REJECT --reject-with tcp-reset',
        'iptables -w -C CB-run1 -s 127.0.0.1/32 -d 127.0.0.2/32 -m comment --comment cb:r0->r1 -j DROP && iptables -w -D CB-run1 -s 127.0.0.1/32 -d 127.0.0.2/32 -m comment --comment cb:r0->r1 -j DROP',
      ],
    )
  })

  test('cleanup: our root qdisc, the OUTPUT jump (even if doubled), our chain, all guarded', () => {
    assert.deepEqual(lines(plan, cleanupCommands), [
      "tc qdisc show dev lo root | grep -qF 'qdisc htb 1: root' && tc qdisc del dev lo root",
      'iptables -w -C OUTPUT -j CB-run1 && iptables -w -D OUTPUT -j CB-run1',
      'iptables -w -C OUTPUT -j CB-run1 && iptables -w -D OUTPUT -j CB-run1',
      'iptables -w -C OUTPUT -j CB-run1 && iptables -w -D OUTPUT -j CB-run1',
      'iptables -w -L CB-run1 -n && iptables -w -F CB-run1',
      'iptables -w -L CB-run1 -n && iptables -w -X CB-run1',
    ])
    assert.ok(
      cleanupCommands(plan).every((c) => c.guard !== undefined),
      'every cleanup step is guarded: idempotent',
    )
  })
})

describe('kernel shaper commands: one endpoint per namespace (per-destination)', () => {
  const endpoints: Endpoint[] = [
    { id: 'r0', site: 'CA', host: '10.9.0.1', listenAddress: '10.9.0.1:7101' },
    { id: 'r1', site: 'VA', host: '10.9.0.2', listenAddress: '10.9.0.2:7101' },
    { id: 'clients@CA', site: 'CA', host: '10.9.0.3', listenAddress: null },
  ]
  const containers: KernelLayout = (e) => ({
    netns: `cb-${e.id.replace('@', '-')}`,
    device: 'eth0',
    mtuBytes: 1500,
  })
  const spec: NetworkSpec = {
    endpoints,
    links: [
      { from: 'r0', to: 'r1', shape: wan(40) },
      { from: 'clients@CA', to: 'r1', shape: wan(40, { lossRate: 0.001 }) },
      { from: 'r1', to: 'r0', shape: { ...flat, bandwidthBytesPerSec: 125_000 } },
    ],
  }
  const plan = planKernelShaping(spec, containers, 'abc')

  test('each namespace has its own interface with one sender: destination-only filters, commands in the netns', () => {
    assert.deepEqual(
      plan.interfaces.map((i) => [i.ref.netns, i.mode, i.links.length]),
      [
        ['cb-r0', 'per-destination', 1],
        ['cb-clients-CA', 'per-destination', 1],
        ['cb-r1', 'per-destination', 1],
      ],
    )
    const setup = lines(plan, setupCommands)
    assert.ok(
      setup.includes(
        'ip netns exec cb-r0 tc filter replace dev eth0 parent 1: protocol ip prio 1 handle 800::1 u32 match ip dst 10.9.0.2/32 flowid 1:1',
      ),
    )
    assert.ok(
      setup.includes(
        'ip netns exec cb-clients-CA tc qdisc replace dev eth0 parent 1:1 handle 1001: netem limit 100000 delay 40000us loss 0.1%',
      ),
    )
    // a bandwidth cap alone is a tbf leaf (no netem needed), its bucket sized for the 1500-byte MTU
    assert.ok(
      setup.includes(
        'ip netns exec cb-r1 tc qdisc replace dev eth0 parent 1:1 handle 4001: tbf rate 1000000bit burst 3028 latency 100ms',
      ),
    )
    assert.equal(setup.filter((l) => l.includes('-I OUTPUT 1 -j CB-abc')).length, 3, 'one jump per namespace')
  })

  test('iptables rules in a one-endpoint namespace match the destination only', () => {
    assert.deepEqual(lines(plan, (p) => partitionCommands(p, 'r0', 'r1', 'hold')).slice(-1), [
      'ip netns exec cb-r0 iptables -w -A CB-abc -d 10.9.0.2/32 -m comment --comment cb:r0->r1 -j DROP',
    ])
  })
})

describe('kernel shaper commands: leaves and runtime changes', () => {
  const plan = planKernelShaping(threeSites, loopbackLayout, 'run1')
  const ref = plan.interfaces[0]!.ref
  const link = plan.interfaces[0]!.links[0]!

  test('each leaf structure has its own handle, so replace can switch structures (the kernel refuses a kind change under one handle)', () => {
    const handleOf = (shape: LinkShape) =>
      leafCommands(ref, link, shape).map((c) => c.argv[c.argv.indexOf('handle') + 1])
    const handles = [
      handleOf(wan(10)),
      handleOf(wan(10, { bandwidthBytesPerSec: 1000 })),
      handleOf({ ...flat, bandwidthBytesPerSec: 1000 }),
      handleOf(flat),
    ]
    assert.deepEqual(handles, [['1001:'], ['2001:', '3001:'], ['4001:'], ['5001:']])
    assert.deepEqual(
      leafCommands(ref, link, flat).map((c) => c.argv.join(' ')),
      ['tc qdisc replace dev lo parent 1:1 handle 5001: pfifo limit 10000'],
    )
  })

  test('netem arguments: microseconds, uniform jitter names no table, loss in percent', () => {
    assert.deepEqual(netemArgs(wan(0.25, { jitterMs: 1, jitterDistribution: 'uniform', lossRate: 0.0125 })), [
      'netem',
      'limit',
      '100000',
      'delay',
      '250us',
      '1000us',
      'loss',
      '1.25%',
    ])
    assert.deepEqual(netemArgs(wan(5, { jitterMs: 2, jitterDistribution: 'paretonormal' })).slice(-2), [
      'distribution',
      'paretonormal',
    ])
  })

  test('tbf bucket: 5 ms of rate, never below two MTU-sized packets', () => {
    assert.equal(tbfBurstBytes(125_000_000, 1500), 625_000)
    assert.equal(tbfBurstBytes(1_000_000, 1500), 5000)
    assert.equal(tbfBurstBytes(125_000, 1500), 3028)
    assert.equal(tbfBurstBytes(1_000_000, 65536), 131100)
  })

  test('setLink changes only the leaf of a shaped link, and refuses links it does not shape', () => {
    assert.deepEqual(
      setLinkCommands(plan, 'r0', 'r2', wan(90)).map((c) => c.argv.join(' ')),
      ['tc qdisc replace dev lo parent 1:3 handle 1003: netem limit 100000 delay 90000us'],
    )
    assert.throws(() => setLinkCommands(plan, 'r2', 'r0', wan(90)), /setLink\(r2->r0\).*not shaped/)
    assert.throws(() => setLinkCommands(plan, 'r0', 'r1', wan(-1)), /delayMs must be a number >= 0/)
  })
})

describe('kernel shaper commands: bad input', () => {
  test('names the field and the fix', () => {
    assert.throws(() => chainName('has space'), /runId "has space" must be 1-25 characters/)
    assert.throws(() => chainName('x'.repeat(26)), /1-25 characters/)
    const v6: NetworkSpec = {
      endpoints: [{ id: 'r0', site: 'A', host: '::1', listenAddress: null }],
      links: [],
    }
    assert.throws(
      () => planKernelShaping(v6, loopbackLayout, 'x'),
      /endpoint r0: host "::1" is not an IPv4 address/,
    )
    const unknown: NetworkSpec = {
      endpoints: [replica(0, 'A')],
      links: [{ from: 'r0', to: 'r9', shape: flat }],
    }
    assert.throws(
      () => planKernelShaping(unknown, loopbackLayout, 'x'),
      /link r0->r9 names an endpoint that is not in spec.endpoints \(r0\)/,
    )
    const twice: NetworkSpec = {
      endpoints: [replica(0, 'A'), replica(1, 'B')],
      links: [
        { from: 'r0', to: 'r1', shape: flat },
        { from: 'r0', to: 'r1', shape: flat },
      ],
    }
    assert.throws(() => planKernelShaping(twice, loopbackLayout, 'x'), /link r0->r1 is listed twice/)
    const lossy: NetworkSpec = {
      endpoints: twice.endpoints,
      links: [{ from: 'r0', to: 'r1', shape: { ...flat, lossRate: 1 } }],
    }
    assert.throws(
      () => planKernelShaping(lossy, loopbackLayout, 'x'),
      /link r0->r1: lossRate must be in \[0, 1\)/,
    )
  })
})
