/**
 * Which shaper a run uses (DESIGN.md: "chosen per host by probing what works"). For now always the
 * userspace relay: the kernel shaper's netem probe is wired in here later, and then the kernel shaper
 * is chosen where the probe says netem works. The kind and the reason go into env.json.
 */
import { relayShaper } from './relay/index.ts'
import type { Shaper } from './shaper.ts'

export interface ShaperChoice {
  readonly shaper: Shaper
  readonly kind: Shaper['kind']
  /** one line: why this shaper (env.json `shaperReason`) */
  readonly reason: string
}

export function chooseShaper(): ShaperChoice {
  return { shaper: relayShaper, kind: 'relay', reason: 'kernel netem not probed' }
}
