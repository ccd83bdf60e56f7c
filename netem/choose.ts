/**
 * Which shaper a run uses (DESIGN.md: "chosen per host by probing what works"). For now always the
 * userspace relay: the kernel shaper's netem probe is wired in here later, and then the kernel shaper
 * is chosen where the probe says netem works. The kind and the reason go into env.json.
 */
import { raiseToRealtime } from './priority.ts'
import { relayShaper } from './relay/index.ts'
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
  /** run each relay process under SCHED_RR (netem/priority.ts); default true */
  readonly realtime?: boolean
}

export function chooseShaper(options: ChooseOptions = {}): ShaperChoice {
  if (options.realtime === false)
    return { shaper: relayShaper, kind: 'relay', reason: 'kernel netem not probed', priority: () => 'normal' }
  const shaper = realtimeRelay(relayShaper)
  return { shaper, kind: 'relay', reason: 'kernel netem not probed', priority: () => shaper.lastPriority }
}

/** The relay with each process it starts raised to real-time priority (when the host allows it). */
function realtimeRelay(relay: Shaper): Shaper & { lastPriority: string | null } {
  const wrapped = {
    kind: relay.kind,
    lastPriority: null as string | null,
    apply: async (spec: Parameters<Shaper['apply']>[0]) => {
      const network = await relay.apply(spec)
      const pid = (network as { pid?: unknown }).pid
      if (typeof pid === 'number') wrapped.lastPriority = raiseToRealtime(pid).detail
      return network
    },
  }
  return wrapped
}
