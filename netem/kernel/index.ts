/**
 * The kernel shaper: tc (HTB + netem/tbf leaves + u32 filters) and iptables (partitions), applied with
 * `replace` and removed completely by close(). See README.md for what is generated and why.
 *
 * The launcher uses it where `probeNetem()` says netem works (the lead wires that choice); without root,
 * without the tools, or without netem when a link needs it, apply() throws a CliError with exit code 4
 * and the fix.
 */
import { CliError, EXIT } from '../../harness/exit-codes.ts'
import { onInterrupt } from '../../harness/launchers/cleanup.ts'
import type { LinkShape, NetworkSpec, PartitionMode, ShapedNetwork, Shaper } from '../shaper.ts'
import {
  cleanupCommands,
  formatCommand,
  healCommands,
  type KernelLayout,
  type KernelPlan,
  KernelPlanError,
  loopbackLayout,
  needsNetem,
  partitionCommands,
  planKernelShaping,
  setLinkCommands,
  setupCommands,
} from './commands.ts'
import { run, runAll, runCommands } from './exec.ts'
import { isRoot, type ProbeResult, probeNetem } from './probe.ts'

export {
  type InterfaceRef,
  type KernelLayout,
  type KernelPlan,
  loopbackLayout,
  planKernelShaping,
} from './commands.ts'
export { KernelCommandError } from './exec.ts'
export { type ProbeResult, probeKernelShaping, probeNetem, type ShapingProbeResult } from './probe.ts'

export interface KernelShaperOptions {
  /** where each endpoint's packets leave; default: everything on `lo` (the local launcher) */
  readonly layout?: KernelLayout
  /** names our iptables chain `CB-<runId>`; default: derived from the PID and the time */
  readonly runId?: string
}

function missing(what: string, fix: string): CliError {
  return new CliError(`kernel shaper: ${what}\n  fix: ${fix}`, EXIT.missingEnvironment)
}

async function requireTools(): Promise<void> {
  const tools: [string, string[]][] = [
    ['tc', ['tc', '-V']],
    ['ip', ['ip', '-V']],
    ['iptables', ['iptables', '--version']],
  ]
  for (const [name, argv] of tools) {
    if ((await run(argv)).code === 127) {
      throw missing(
        `\`${name}\` is not installed`,
        'apt-get install -y iproute2 iptables (or use --shaper relay)',
      )
    }
  }
}

function requireNetem(probe: ProbeResult): void {
  if (!probe.works) {
    throw missing(
      `a link needs delay, jitter or loss, and netem does not work on this kernel: ${probe.detail}`,
      'modprobe sch_netem (on Ubuntu: apt-get install linux-modules-extra-$(uname -r)), or use the relay shaper',
    )
  }
}

export function createKernelShaper(options: KernelShaperOptions = {}): Shaper {
  const layout = options.layout ?? loopbackLayout
  return {
    kind: 'kernel',
    async apply(spec: NetworkSpec): Promise<ShapedNetwork> {
      if ((spec.inbound ?? []).length > 0)
        throw new Error(
          'kernel shaper: shared inbound addresses (an external system such as etcd) need the relay shaper',
        )
      if (!isRoot()) {
        throw missing(
          'needs root (CAP_NET_ADMIN) for tc and iptables',
          'run as root (sudo), or use the relay shaper',
        )
      }
      await requireTools()
      const runId = options.runId ?? `${process.pid.toString(36)}-${Date.now().toString(36)}`
      let plan: KernelPlan
      try {
        plan = planKernelShaping(spec, layout, runId)
      } catch (error) {
        if (error instanceof KernelPlanError) throw new CliError(error.message, EXIT.invalidInput)
        throw error
      }
      // netem is probed only when a link needs it: a bandwidth cap or a partition works without it
      let netem: ProbeResult | null = null
      const ensureNetem = async () => {
        netem ??= await probeNetem()
        requireNetem(netem)
      }
      if (spec.links.some((l) => needsNetem(l.shape))) await ensureNetem()
      return applyPlan(plan, ensureNetem)
    },
  }
}

async function applyPlan(plan: KernelPlan, ensureNetem: () => Promise<void>): Promise<ShapedNetwork> {
  let closed: Promise<void> | null = null
  const close = (): Promise<void> => {
    closed ??= (async () => {
      removeHook()
      const failures = await runAll(cleanupCommands(plan))
      if (failures.length > 0) {
        throw new Error(
          `kernel shaper: cleanup left something behind:\n  ${failures.map((f) => f.message).join('\n  ')}`,
        )
      }
    })()
    return closed
  }
  const removeHook = onInterrupt(close)
  try {
    await runCommands(setupCommands(plan))
  } catch (error) {
    await close().catch(() => {})
    throw error
  }
  // Runtime changes go one at a time: two tc replaces of one leaf must not interleave.
  let queue: Promise<unknown> = Promise.resolve()
  const serial = (step: () => Promise<void>): Promise<void> => {
    const next = queue.then(() => {
      if (closed) throw new Error('kernel shaper: the shaped network is closed')
      return step()
    })
    queue = next.catch(() => {})
    return next
  }
  return {
    addressFor(from: string, to: string): string {
      const target = plan.endpoints.get(to)?.endpoint
      if (!plan.endpoints.has(from) || !target) {
        throw new Error(
          `kernel shaper: addressFor(${from}, ${to}): unknown endpoint; known: ${[...plan.endpoints.keys()].join(', ')}`,
        )
      }
      if (target.listenAddress === null)
        throw new Error(`kernel shaper: addressFor(${from}, ${to}): ${to} listens nowhere`)
      // the kernel shapes packets on their way: peers dial each other's real address
      return target.listenAddress
    },
    setLink: (from: string, to: string, shape: LinkShape) =>
      serial(async () => {
        const commands = setLinkCommands(plan, from, to, shape)
        if (needsNetem(shape)) await ensureNetem()
        await runCommands(commands)
      }),
    partition: (from: string, to: string, mode: PartitionMode) =>
      serial(() => runCommands(partitionCommands(plan, from, to, mode))),
    heal: (from: string, to: string) => serial(() => runCommands(healCommands(plan, from, to))),
    close,
  }
}

/** The shaper for the local launcher: every endpoint on `lo` (per-pair filters). */
export const kernelShaper: Shaper = createKernelShaper()

/** The commands apply() and close() would run, one per line (for dry runs and debugging). */
export function describeKernelSetup(
  spec: NetworkSpec,
  layout: KernelLayout,
  runId: string,
): { setup: string[]; cleanup: string[] } {
  const plan = planKernelShaping(spec, layout, runId)
  return { setup: setupCommands(plan).map(formatCommand), cleanup: cleanupCommands(plan).map(formatCommand) }
}
