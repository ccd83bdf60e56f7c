/**
 * Which shaper a run uses (DESIGN.md: "chosen per host by probing what works"): the kernel shaper
 * (tc + netem + iptables) where the netem probe says netem works on this kernel (root, sch_netem
 * present), else the userspace relay. The kind and the reason go into env.json.
 */
import { kernelShaper, probeNetem } from './kernel/index.ts'
import { RELAY_PRIORITY } from './priority.ts'
import { createRelayShaper, type RelayNetwork, relayShaper } from './relay/index.ts'
import type { Shaper } from './shaper.ts'

export interface ShaperChoice {
  readonly shaper: Shaper
  readonly kind: Shaper['kind']
  /** one line: why this shaper (env.json `shaperReason`) */
  readonly reason: string
  /** the scheduling the shaper's last process got (env.json `shaperPriority`), or null before any */
  priority(): string | null
}

export interface ChooseOptions {
  /** 'auto' (default) probes; 'relay' or 'kernel' force one (kernel fails at apply when netem is missing) */
  readonly prefer?: 'auto' | 'relay' | 'kernel'
  /** the netem probe (tests replace it); default netem/kernel's probeNetem */
  readonly probe?: () => Promise<{ readonly works: boolean; readonly detail: string }>
  /** run each relay process under SCHED_FIFO (netem/priority.ts); default true */
  readonly realtime?: boolean
}

export async function chooseShaper(options: ChooseOptions = {}): Promise<ShaperChoice> {
  const prefer = options.prefer ?? 'auto'
  if (prefer === 'kernel')
    return { shaper: kernelShaper, kind: 'kernel', reason: 'asked for', priority: () => 'kernel' }
  let reason = 'relay asked for'
  if (prefer === 'auto') {
    const probe = await (options.probe ?? probeNetem)()
    if (probe.works)
      return {
        shaper: kernelShaper,
        kind: 'kernel',
        reason: 'netem works on this kernel',
        priority: () => 'kernel',
      }
    reason = `kernel netem unavailable: ${probe.detail.split('\n')[0]}`
  }
  if (options.realtime === false)
    return { shaper: relayShaper, kind: 'relay', reason, priority: () => 'normal' }
  const relay = createRelayShaper({ realtimePriority: RELAY_PRIORITY })
  let last: string | null = null
  const shaper: Shaper = {
    kind: relay.kind,
    apply: async (spec) => {
      const network = (await relay.apply(spec)) as RelayNetwork
      const rt = network.realtime
      last =
        rt === null ? 'normal' : rt.applied ? `SCHED_FIFO ${rt.priority}` : `normal priority (${rt.reason})`
      return network
    },
  }
  return { shaper, kind: 'relay', reason, priority: () => last }
}
