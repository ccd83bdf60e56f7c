/**
 * What the kernel can shape, found by trying it inside a throwaway network namespace (`cb-probe-<pid>-<n>`)
 * that the probe creates and always deletes: the probe never touches the harness's own interfaces.
 * The launcher asks `probeNetem()` to choose between the kernel shaper and the relay.
 */
import { run } from './exec.ts'

export interface ProbeResult {
  readonly works: boolean
  /** what worked, or the failing command and its error text */
  readonly detail: string
}

export interface ShapingProbeResult extends ProbeResult {
  /** one entry per piece the kernel shaper uses: htb, u32, tbf, iptables, REJECT tcp-reset */
  readonly pieces: readonly { readonly piece: string; readonly works: boolean; readonly detail: string }[]
}

let probeCounter = 0

/** Root is needed to create namespaces and qdiscs (CAP_NET_ADMIN would do, but we cannot tell cheaply). */
export function isRoot(): boolean {
  return process.geteuid?.() === 0
}

const NOT_ROOT =
  'needs root (CAP_NET_ADMIN) to create a network namespace and qdiscs: run as root, or use the relay shaper'

/** Runs `body` with a fresh namespace whose lo is up, and deletes the namespace whatever happens. */
async function withThrowawayNetns<T>(body: (ns: string) => Promise<T>): Promise<T | ProbeResult> {
  const ns = `cb-probe-${process.pid}-${++probeCounter}`
  const created = await run(['ip', 'netns', 'add', ns])
  if (created.code !== 0)
    return { works: false, detail: `\`ip netns add ${ns}\` failed: ${created.stderr.trim()}` }
  try {
    const up = await run(['ip', 'netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up'])
    if (up.code !== 0)
      return { works: false, detail: `\`ip link set lo up\` in ${ns} failed: ${up.stderr.trim()}` }
    return await body(ns)
  } finally {
    await run(['ip', 'netns', 'del', ns])
  }
}

/** Whether `tc qdisc ... netem` works here (the kernel has sch_netem, built in or as a module). */
export async function probeNetem(): Promise<ProbeResult> {
  if (!isRoot()) return { works: false, detail: NOT_ROOT }
  return withThrowawayNetns(async (ns) => {
    const argv = [
      'tc',
      'qdisc',
      'replace',
      'dev',
      'lo',
      'root',
      'netem',
      'delay',
      '1ms',
      '100us',
      'distribution',
      'normal',
    ]
    const result = await run(['ip', 'netns', 'exec', ns, ...argv])
    if (result.code === 0)
      return { works: true, detail: `\`${argv.join(' ')}\` succeeded in a throwaway namespace` }
    return {
      works: false,
      detail: `\`${argv.join(' ')}\` failed: ${result.stderr.trim()} (the kernel lacks sch_netem: \`modprobe sch_netem\`, or on Ubuntu install linux-modules-extra-$(uname -r); else use the relay shaper)`,
    }
  })
}

/** The pieces besides netem: HTB + u32 + tbf on an interface, and iptables with a chain and REJECT. */
export async function probeKernelShaping(): Promise<ShapingProbeResult> {
  if (!isRoot()) return { works: false, detail: NOT_ROOT, pieces: [] }
  const result = await withThrowawayNetns(async (ns) => {
    const steps: [string, string[]][] = [
      ['htb', ['tc', 'qdisc', 'replace', 'dev', 'lo', 'root', 'handle', '1:', 'htb']],
      [
        'htb class',
        [
          'tc',
          'class',
          'replace',
          'dev',
          'lo',
          'parent',
          '1:',
          'classid',
          '1:1',
          'htb',
          'rate',
          '1gbit',
          'quantum',
          '60000',
        ],
      ],
      [
        'tbf',
        [
          'tc',
          'qdisc',
          'replace',
          'dev',
          'lo',
          'parent',
          '1:1',
          'handle',
          '10:',
          'tbf',
          'rate',
          '8mbit',
          'burst',
          '132000',
          'latency',
          '100ms',
        ],
      ],
      [
        'u32',
        [
          'tc',
          'filter',
          'replace',
          'dev',
          'lo',
          'parent',
          '1:',
          'protocol',
          'ip',
          'prio',
          '1',
          'handle',
          '800::1',
          'u32',
          'match',
          'ip',
          'dst',
          '127.0.0.2/32',
          'flowid',
          '1:1',
        ],
      ],
      ['iptables chain', ['iptables', '-w', '-N', 'CB-probe']],
      [
        'iptables REJECT tcp-reset',
        ['iptables', '-w', '-A', 'CB-probe', '-p', 'tcp', '-j', 'REJECT', '--reject-with', 'tcp-reset'],
      ],
      [
        'iptables comment',
        ['iptables', '-w', '-A', 'CB-probe', '-m', 'comment', '--comment', 'cb:probe', '-j', 'DROP'],
      ],
      ['iptables jump', ['iptables', '-w', '-I', 'OUTPUT', '1', '-j', 'CB-probe']],
    ]
    const pieces: { piece: string; works: boolean; detail: string }[] = []
    for (const [piece, argv] of steps) {
      const r = await run(['ip', 'netns', 'exec', ns, ...argv])
      pieces.push({
        piece,
        works: r.code === 0,
        detail: r.code === 0 ? 'ok' : `\`${argv.join(' ')}\`: ${r.stderr.trim()}`,
      })
    }
    const failed = pieces.filter((p) => !p.works)
    return {
      works: failed.length === 0,
      detail:
        failed.length === 0
          ? `${pieces.map((p) => p.piece).join(', ')} work`
          : failed.map((p) => p.detail).join('; '),
      pieces,
    }
  })
  return 'pieces' in result ? result : { ...result, pieces: [] }
}
