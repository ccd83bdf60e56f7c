/**
 * Which shaper a run uses (DESIGN.md: "chosen per host by probing what works"). For now always the
 * userspace relay: the kernel shaper's netem probe is wired in here later, and then the kernel shaper
 * is chosen where the probe says netem works. The kind and the reason go into env.json.
 */
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
  /** run each relay process under SCHED_FIFO (netem/priority.ts); default true */
  readonly realtime?: boolean
}

export function chooseShaper(options: ChooseOptions = {}): ShaperChoice {
  const reason = 'kernel netem not probed'
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
