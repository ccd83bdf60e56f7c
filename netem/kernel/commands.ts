/**
 * The kernel shaper's commands, generated as data: argv arrays (never shell strings) for `tc` and
 * `iptables`, built from a NetworkSpec and a layout that says where each endpoint's traffic leaves.
 * Nothing here runs anything; `exec.ts` runs the lists and `index.ts` decides when. Keeping generation
 * pure lets the unit tests check every command without root, and lets a user print the plan.
 *
 * Per interface (egress only; a link from->to is shaped where `from`'s packets leave):
 *   root     tc qdisc replace dev D root handle 1: htb            (unclassified traffic: HTB's direct queue)
 *   per link tc class replace dev D parent 1: classid 1:<i> htb rate 10gbit ...
 *            leaf: netem (delay/jitter/loss), netem + tbf child (and a bandwidth cap), tbf alone, or pfifo
 *            tc filter replace ... u32 match ip dst <to>/32 [match ip src <from>/32] flowid 1:<i>
 * Partitions: iptables rules in a chain of our own (`CB-<runId>`), jumped to from OUTPUT.
 */

import type { Endpoint, LinkShape, NetworkSpec, PartitionMode } from '../shaper.ts'

/** Where one endpoint's outgoing packets leave: the interface the kernel shaper puts its qdisc on. */
export interface InterfaceRef {
  /** network namespace name (`ip netns`), or null for the namespace the harness runs in */
  readonly netns: string | null
  readonly device: string
  /** the device MTU: a tbf bucket must hold one whole packet or that packet is dropped */
  readonly mtuBytes: number
}

/** Which interface each endpoint sends on; the local launcher puts everything on `lo`. */
export type KernelLayout = (endpoint: Endpoint) => InterfaceRef

/** Every endpoint shares the loopback device of the harness's namespace (local launcher). */
export const loopbackLayout: KernelLayout = () => ({ netns: null, device: 'lo', mtuBytes: 65536 })

/**
 * - `per-destination`: one sender on the interface (a container's eth0): filters match the
 *   destination address only.
 * - `per-pair`: several endpoints send on the interface (loopback in the local launcher): filters match
 *   source and destination, which needs every endpoint to bind its own `host` as its source address.
 */
export type FilterMode = 'per-destination' | 'per-pair'

export interface PlannedLink {
  readonly from: string
  readonly to: string
  readonly srcAddress: string
  readonly dstAddress: string
  /** 1-based index on its interface: HTB class minor, u32 filter item and leaf handles derive from it */
  readonly index: number
  readonly shape: LinkShape
}

export interface PlannedInterface {
  readonly ref: InterfaceRef
  readonly mode: FilterMode
  readonly links: readonly PlannedLink[]
}

export interface KernelPlan {
  readonly runId: string
  /** our iptables chain, `CB-<runId>` */
  readonly chain: string
  readonly interfaces: readonly PlannedInterface[]
  /** every namespace where we add iptables rules (each one that has a sender) */
  readonly netnsWithRules: readonly (string | null)[]
  /** link key `from->to` -> where it is shaped */
  readonly linkIndex: ReadonlyMap<string, { readonly iface: PlannedInterface; readonly link: PlannedLink }>
  /** endpoint id -> (interface, source address), for links added at runtime (partition of an unshaped pair) */
  readonly endpoints: ReadonlyMap<string, { readonly endpoint: Endpoint; readonly ref: InterfaceRef }>
}

/** A check run before a command: it decides whether the command runs (how iptables gets idempotent). */
export type Guard =
  | { readonly kind: 'unless-succeeds'; readonly argv: readonly string[] }
  | { readonly kind: 'only-if-succeeds'; readonly argv: readonly string[] }
  | { readonly kind: 'only-if-output-includes'; readonly argv: readonly string[]; readonly text: string }

export interface KernelCommand {
  readonly argv: readonly string[]
  readonly guard?: Guard
}

/** HTB class rate for links without a bandwidth cap: high enough never to be the bottleneck. */
export const UNCAPPED_CLASS_RATE = '10gbit'
/** netem queue length in packets: 1000 (the default) overflows at 150 ms and 10k messages/s */
export const NETEM_LIMIT_PACKETS = 100_000
/** tbf queues at most this long before dropping, as a WAN router buffer would */
export const TBF_LATENCY_MS = 100
/** handle bases: distinct leaf structures get distinct handles so `replace` can switch between them */
const HANDLE_NETEM = 0x1000
const HANDLE_NETEM_TBF = 0x2000
const HANDLE_TBF_UNDER_NETEM = 0x3000
const HANDLE_TBF = 0x4000
const HANDLE_FIFO = 0x5000
/** u32 item ids are 12 bits, and the handle bases above leave 0xfff per interface */
export const MAX_LINKS_PER_INTERFACE = 0xfff

const CHAIN_PATTERN = /^[A-Za-z0-9_-]{1,25}$/

export class KernelPlanError extends Error {
  override readonly name = 'KernelPlanError'
}

/** `CB-<runId>`: iptables chain names are at most 28 characters. */
export function chainName(runId: string): string {
  if (!CHAIN_PATTERN.test(runId)) {
    throw new KernelPlanError(
      `kernel shaper: runId ${JSON.stringify(runId)} must be 1-25 characters of [A-Za-z0-9_-] (it names the iptables chain CB-<runId>)`,
    )
  }
  return `CB-${runId}`
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/

function ipv4(endpoint: Endpoint): string {
  const m = IPV4.exec(endpoint.host)
  if (!m || m.slice(1).some((octet) => Number(octet) > 255)) {
    throw new KernelPlanError(
      `kernel shaper: endpoint ${endpoint.id}: host ${JSON.stringify(endpoint.host)} is not an IPv4 address (u32 filters and iptables rules match IPv4 addresses; give the endpoint its numeric address)`,
    )
  }
  return endpoint.host
}

function refKey(ref: InterfaceRef): string {
  return `${ref.netns ?? ''}/${ref.device}`
}

export function linkKey(from: string, to: string): string {
  return `${from}->${to}`
}

/** Assigns every shaped link to its sender's interface and picks each interface's filter mode. */
export function planKernelShaping(spec: NetworkSpec, layout: KernelLayout, runId: string): KernelPlan {
  const chain = chainName(runId)
  const endpoints = new Map<string, { endpoint: Endpoint; ref: InterfaceRef }>()
  for (const endpoint of spec.endpoints) {
    if (endpoints.has(endpoint.id))
      throw new KernelPlanError(`kernel shaper: endpoint ${endpoint.id} is listed twice`)
    ipv4(endpoint)
    endpoints.set(endpoint.id, { endpoint, ref: layout(endpoint) })
  }
  // Senders per interface decide the mode: one sender -> destination alone identifies the link.
  const senders = new Map<string, Set<string>>()
  for (const { endpoint, ref } of endpoints.values()) {
    const set = senders.get(refKey(ref)) ?? new Set<string>()
    set.add(endpoint.id)
    senders.set(refKey(ref), set)
  }
  const byInterface = new Map<string, { ref: InterfaceRef; links: PlannedLink[] }>()
  const seen = new Set<string>()
  for (const { from, to, shape } of spec.links) {
    const a = endpoints.get(from)
    const b = endpoints.get(to)
    if (!a || !b) {
      throw new KernelPlanError(
        `kernel shaper: link ${linkKey(from, to)} names an endpoint that is not in spec.endpoints (${[...endpoints.keys()].join(', ')})`,
      )
    }
    if (from === to) throw new KernelPlanError(`kernel shaper: link ${linkKey(from, to)} goes nowhere`)
    if (seen.has(linkKey(from, to)))
      throw new KernelPlanError(`kernel shaper: link ${linkKey(from, to)} is listed twice`)
    seen.add(linkKey(from, to))
    validateShape(linkKey(from, to), shape)
    const entry = byInterface.get(refKey(a.ref)) ?? { ref: a.ref, links: [] }
    entry.links.push({
      from,
      to,
      srcAddress: a.endpoint.host,
      dstAddress: b.endpoint.host,
      index: entry.links.length + 1,
      shape,
    })
    if (entry.links.length > MAX_LINKS_PER_INTERFACE) {
      throw new KernelPlanError(
        `kernel shaper: more than ${MAX_LINKS_PER_INTERFACE} links leave ${refKey(a.ref)} (u32 item ids are 12 bits)`,
      )
    }
    byInterface.set(refKey(a.ref), entry)
  }
  const interfaces: PlannedInterface[] = []
  const linkIndex = new Map<string, { iface: PlannedInterface; link: PlannedLink }>()
  for (const [key, { ref, links }] of byInterface) {
    const mode: FilterMode = (senders.get(key)?.size ?? 0) > 1 ? 'per-pair' : 'per-destination'
    const iface: PlannedInterface = { ref, mode, links }
    interfaces.push(iface)
    for (const link of links) linkIndex.set(linkKey(link.from, link.to), { iface, link })
  }
  // Rules go wherever an endpoint sends from, so a partition of an unshaped pair also has a chain.
  const netnsWithRules = [...new Set([...endpoints.values()].map(({ ref }) => ref.netns))]
  return { runId, chain, interfaces, netnsWithRules, linkIndex, endpoints }
}

export function validateShape(where: string, shape: LinkShape): void {
  const bad = (field: string, problem: string) =>
    new KernelPlanError(`kernel shaper: link ${where}: ${field} ${problem}`)
  if (!Number.isFinite(shape.delayMs) || shape.delayMs < 0) throw bad('delayMs', 'must be a number >= 0')
  if (!Number.isFinite(shape.jitterMs) || shape.jitterMs < 0) throw bad('jitterMs', 'must be a number >= 0')
  if (!(shape.lossRate >= 0 && shape.lossRate < 1)) throw bad('lossRate', 'must be in [0, 1)')
  if (shape.bandwidthBytesPerSec !== null && !(shape.bandwidthBytesPerSec >= 1)) {
    throw bad('bandwidthBytesPerSec', 'must be null (no cap) or at least 1 byte per second')
  }
}

/** Whether a shape needs the netem qdisc (delay, jitter or loss); a bandwidth cap alone does not. */
export function needsNetem(shape: LinkShape): boolean {
  return shape.delayMs > 0 || shape.jitterMs > 0 || shape.lossRate > 0
}

function inNetns(netns: string | null, argv: readonly string[]): string[] {
  return netns === null ? [...argv] : ['ip', 'netns', 'exec', netns, ...argv]
}

function tc(ref: InterfaceRef, ...args: string[]): string[] {
  return inNetns(ref.netns, ['tc', ...args])
}

function iptables(netns: string | null, ...args: string[]): string[] {
  // -w: wait for the xtables lock instead of failing when another iptables runs at the same time
  return inNetns(netns, ['iptables', '-w', ...args])
}

const hex = (n: number) => n.toString(16)

/** Microseconds as tc reads them: integers avoid locale and rounding surprises in "12.5ms". */
function usec(ms: number): string {
  return `${Math.round(ms * 1000)}us`
}

function percent(rate: number): string {
  return `${Number((rate * 100).toFixed(6))}%`
}

function bitsPerSec(bytesPerSec: number): string {
  return `${Math.round(bytesPerSec * 8)}bit`
}

/** 5 ms of line rate, and never less than two packets: a bucket smaller than a packet drops it. */
export function tbfBurstBytes(bytesPerSec: number, mtuBytes: number): number {
  return Math.max(Math.ceil(bytesPerSec * 0.005), 2 * (mtuBytes + 14))
}

function tbfArgs(bytesPerSec: number, mtuBytes: number): string[] {
  return [
    'tbf',
    'rate',
    bitsPerSec(bytesPerSec),
    'burst',
    String(tbfBurstBytes(bytesPerSec, mtuBytes)),
    'latency',
    `${TBF_LATENCY_MS}ms`,
  ]
}

/** netem's arguments; tc's jitter without `distribution` is uniform, so 'uniform' names no table. */
export function netemArgs(shape: LinkShape): string[] {
  const args = ['netem', 'limit', String(NETEM_LIMIT_PACKETS), 'delay', usec(shape.delayMs)]
  if (shape.jitterMs > 0) {
    args.push(usec(shape.jitterMs))
    if (shape.jitterDistribution !== 'uniform') args.push('distribution', shape.jitterDistribution)
  }
  if (shape.lossRate > 0) args.push('loss', percent(shape.lossRate))
  return args
}

/** The root HTB; a leftover HTB root (a crashed run) is deleted first so no stale class survives. */
export function rootCommands(ref: InterfaceRef): KernelCommand[] {
  return [
    {
      argv: tc(ref, 'qdisc', 'del', 'dev', ref.device, 'root'),
      guard: {
        kind: 'only-if-output-includes',
        argv: tc(ref, 'qdisc', 'show', 'dev', ref.device, 'root'),
        text: 'qdisc htb 1: root',
      },
    },
    { argv: tc(ref, 'qdisc', 'replace', 'dev', ref.device, 'root', 'handle', '1:', 'htb') },
  ]
}

/** The HTB class a link's packets are sorted into (its rate never limits: tbf does). */
export function classCommand(ref: InterfaceRef, link: PlannedLink): KernelCommand {
  const classid = `1:${hex(link.index)}`
  const rate = UNCAPPED_CLASS_RATE
  // an explicit quantum: the default (rate / r2q) is huge at 10gbit and makes tc warn
  return {
    argv: tc(
      ref,
      'class',
      'replace',
      'dev',
      ref.device,
      'parent',
      '1:',
      'classid',
      classid,
      'htb',
      'rate',
      rate,
      'quantum',
      '60000',
    ),
  }
}

/**
 * The qdisc(s) under a link's class. Each structure has its own handles, so `replace` with the same
 * structure changes the qdisc in place (no packet loss) and a different one grafts a fresh leaf (the old
 * one and its children go away); the kernel refuses to change a qdisc's kind under one handle.
 */
export function leafCommands(ref: InterfaceRef, link: PlannedLink, shape: LinkShape): KernelCommand[] {
  const parent = `1:${hex(link.index)}`
  const handle = (base: number) => `${hex(base + link.index)}:`
  const leaf = (base: number, args: string[]): KernelCommand => ({
    argv: tc(ref, 'qdisc', 'replace', 'dev', ref.device, 'parent', parent, 'handle', handle(base), ...args),
  })
  const cap = shape.bandwidthBytesPerSec
  if (needsNetem(shape) && cap !== null) {
    const netemHandle = `${hex(HANDLE_NETEM_TBF + link.index)}:1`
    return [
      leaf(HANDLE_NETEM_TBF, netemArgs(shape)),
      {
        argv: tc(
          ref,
          'qdisc',
          'replace',
          'dev',
          ref.device,
          'parent',
          netemHandle,
          'handle',
          handle(HANDLE_TBF_UNDER_NETEM),
          ...tbfArgs(cap, ref.mtuBytes),
        ),
      },
    ]
  }
  if (needsNetem(shape)) return [leaf(HANDLE_NETEM, netemArgs(shape))]
  if (cap !== null) return [leaf(HANDLE_TBF, tbfArgs(cap, ref.mtuBytes))]
  return [leaf(HANDLE_FIFO, ['pfifo', 'limit', '10000'])]
}

export function filterCommand(iface: PlannedInterface, link: PlannedLink): KernelCommand {
  const { ref } = iface
  const match = ['match', 'ip', 'dst', `${link.dstAddress}/32`]
  if (iface.mode === 'per-pair') match.push('match', 'ip', 'src', `${link.srcAddress}/32`)
  return {
    argv: tc(
      ref,
      'filter',
      'replace',
      'dev',
      ref.device,
      'parent',
      '1:',
      'protocol',
      'ip',
      'prio',
      '1',
      'handle',
      `800::${hex(link.index)}`,
      'u32',
      ...match,
      'flowid',
      `1:${hex(link.index)}`,
    ),
  }
}

/** Our chain exists and is empty, and OUTPUT jumps to it once (first, so nothing accepts earlier). */
export function chainSetupCommands(chain: string, netns: string | null): KernelCommand[] {
  return [
    {
      argv: iptables(netns, '-N', chain),
      guard: { kind: 'unless-succeeds', argv: iptables(netns, '-L', chain, '-n') },
    },
    { argv: iptables(netns, '-F', chain) },
    {
      argv: iptables(netns, '-I', 'OUTPUT', '1', '-j', chain),
      guard: { kind: 'unless-succeeds', argv: iptables(netns, '-C', 'OUTPUT', '-j', chain) },
    },
  ]
}

/** Everything apply() runs, in order. */
export function setupCommands(plan: KernelPlan): KernelCommand[] {
  const out: KernelCommand[] = []
  for (const iface of plan.interfaces) {
    out.push(...rootCommands(iface.ref))
    for (const link of iface.links) {
      out.push(
        classCommand(iface.ref, link),
        ...leafCommands(iface.ref, link, link.shape),
        filterCommand(iface, link),
      )
    }
  }
  for (const netns of plan.netnsWithRules) out.push(...chainSetupCommands(plan.chain, netns))
  return out
}

/** Changing a link's shape while the run goes: only its leaf changes; class and filter stay. */
export function setLinkCommands(
  plan: KernelPlan,
  from: string,
  to: string,
  shape: LinkShape,
): KernelCommand[] {
  const entry = plan.linkIndex.get(linkKey(from, to))
  if (!entry) {
    throw new KernelPlanError(
      `kernel shaper: setLink(${linkKey(from, to)}): the link was not shaped at apply(); the kernel shaper changes links it shapes (list it in spec.links)`,
    )
  }
  validateShape(linkKey(from, to), shape)
  return leafCommands(entry.iface.ref, entry.link, shape)
}

/**
 * The iptables match of one direction. In a shared namespace the source address tells senders apart;
 * a comment names the link so `iptables -S` shows what a rule is for.
 */
function ruleMatch(plan: KernelPlan, from: string, to: string): { netns: string | null; match: string[] } {
  const a = plan.endpoints.get(from)
  const b = plan.endpoints.get(to)
  if (!a || !b) {
    throw new KernelPlanError(
      `kernel shaper: partition/heal(${linkKey(from, to)}): unknown endpoint; known: ${[...plan.endpoints.keys()].join(', ')}`,
    )
  }
  const sharedNamespace =
    [...plan.endpoints.values()].filter(({ ref }) => ref.netns === a.ref.netns).length > 1
  const match = sharedNamespace ? ['-s', `${a.endpoint.host}/32`] : []
  match.push('-d', `${b.endpoint.host}/32`, '-m', 'comment', '--comment', `cb:${linkKey(from, to)}`)
  return { netns: a.ref.netns, match }
}

/**
 * The rules of each partition mode. 'hold' = DROP: packets are discarded and TCP retransmits them, so
 * bytes arrive after heal at the next retransmission (not queued by us, as the relay does). 'reset' =
 * REJECT with a TCP reset to the sender (established connections break, new ones are refused), and DROP
 * for anything that is not TCP.
 */
export function partitionRules(mode: PartitionMode): string[][] {
  return mode === 'hold'
    ? [['-j', 'DROP']]
    : [
        ['-p', 'tcp', '-j', 'REJECT', '--reject-with', 'tcp-reset'],
        ['-j', 'DROP'],
      ]
}

export function healCommands(plan: KernelPlan, from: string, to: string): KernelCommand[] {
  const { netns, match } = ruleMatch(plan, from, to)
  const out: KernelCommand[] = []
  for (const mode of ['hold', 'reset'] as const) {
    for (const rule of partitionRules(mode)) {
      const spec = [...match, ...rule]
      out.push({
        argv: iptables(netns, '-D', plan.chain, ...spec),
        guard: { kind: 'only-if-succeeds', argv: iptables(netns, '-C', plan.chain, ...spec) },
      })
    }
  }
  return out
}

/** A partition replaces any earlier one of the same direction (hold -> reset switches cleanly). */
export function partitionCommands(
  plan: KernelPlan,
  from: string,
  to: string,
  mode: PartitionMode,
): KernelCommand[] {
  const { netns, match } = ruleMatch(plan, from, to)
  return [
    ...healCommands(plan, from, to),
    ...partitionRules(mode).map((rule) => ({ argv: iptables(netns, '-A', plan.chain, ...match, ...rule) })),
  ]
}

/**
 * Removes all we created, each step guarded so cleanup is idempotent and runs after a partial apply:
 * the root qdisc of every interface we shaped (if it is still our HTB 1:), then per namespace the OUTPUT
 * jump (repeated in case it was inserted twice), flush and delete of our chain.
 */
export function cleanupCommands(plan: KernelPlan): KernelCommand[] {
  const out: KernelCommand[] = []
  for (const iface of plan.interfaces) out.push(rootCommands(iface.ref)[0]!)
  for (const netns of plan.netnsWithRules) {
    const jump = ['OUTPUT', '-j', plan.chain]
    for (let i = 0; i < 3; i++) {
      out.push({
        argv: iptables(netns, '-D', ...jump),
        guard: { kind: 'only-if-succeeds', argv: iptables(netns, '-C', ...jump) },
      })
    }
    const exists: Guard = { kind: 'only-if-succeeds', argv: iptables(netns, '-L', plan.chain, '-n') }
    out.push(
      { argv: iptables(netns, '-F', plan.chain), guard: exists },
      { argv: iptables(netns, '-X', plan.chain), guard: exists },
    )
  }
  return out
}

/** One line per command, for logs and error messages. */
export function formatCommand(command: KernelCommand): string {
  const line = command.argv.join(' ')
  if (!command.guard) return line
  const check = command.guard.argv.join(' ')
  switch (command.guard.kind) {
    case 'unless-succeeds':
      return `${check} || ${line}`
    case 'only-if-succeeds':
      return `${check} && ${line}`
    case 'only-if-output-includes':
      return `${check} | grep -qF '${command.guard.text}' && ${line}`
  }
}
