/**
 * The fault profile: which faults a seed turns on and how hard. Derived from the seed, so a seed range
 * explores different mixes (some seeds only drop messages, some crash and partition, some do all).
 */
import { Rng } from '../core/runtime/rng.ts'

export interface FaultProfile {
  /** probability that a message (peer or client) is lost */
  readonly dropRate: number
  /** probability that a peer message is delivered twice (the copy with its own delay) */
  readonly duplicateRate: number
  /** extra one-way delay, uniform in [0, jitterMsMax): reorders messages on a link */
  readonly jitterMsMax: number
  readonly crashes: boolean
  /** most replicas down at once; engines claim to tolerate f = floor((n - 1) / 2) */
  readonly maxCrashed: number
  /** symmetric partitions: a side of the cluster cut off from the rest both ways */
  readonly partitions: boolean
  /** one-way partitions: a random set of directed links blocked */
  readonly oneWayPartitions: boolean
  readonly clockSkew: boolean
  /** a node's clock reads true time plus an offset in [0, max] ms (monotonic clocks start anywhere) */
  readonly clockOffsetMsMax: number
  /** and runs fast or slow by a rate in [-max, max] (0.001 = 1000 ppm) */
  readonly clockDriftMax: number
  /** mean time between fault injections (crash or partition) in the safety phase */
  readonly faultIntervalMsMean: number
  /** a crash or partition lasts uniformly up to this long */
  readonly faultDurationMsMax: number
}

export const NO_FAULTS: FaultProfile = {
  dropRate: 0,
  duplicateRate: 0,
  jitterMsMax: 0,
  crashes: false,
  maxCrashed: 0,
  partitions: false,
  oneWayPartitions: false,
  clockSkew: false,
  clockOffsetMsMax: 0,
  clockDriftMax: 0,
  faultIntervalMsMean: 500,
  faultDurationMsMax: 1000,
}

/**
 * Frequent short crashes on every seed. A vote that was never made durable, or a takeover interrupted
 * half way, only matters when a replica crashes in the short window around it; the random mix reaches
 * those windows on a few seeds in a hundred, this mix on many.
 */
export const CRASH_STORM: Partial<FaultProfile> = Object.freeze({
  crashes: true,
  faultIntervalMsMean: 60,
  faultDurationMsMax: 150,
})

/** Named fault mixes, for the `sim --fault-mix` flag and the conformance suite. */
export const FAULT_MIXES = { random: true, 'crash-storm': CRASH_STORM } as const
export type FaultMixName = keyof typeof FAULT_MIXES

export function isFaultMixName(name: string): name is FaultMixName {
  return Object.hasOwn(FAULT_MIXES, name)
}

export function maxTolerableCrashes(nodes: number): number {
  return Math.floor((nodes - 1) / 2)
}

/** The profile for a seed: every fault kind is on for a good share of seeds, and all at once for some. */
export function deriveFaultProfile(seed: number, nodes: number): FaultProfile {
  const rng = new Rng(seed, 'fault-profile')
  const partitions = rng.chance(0.6)
  // about a third of the seeds are storms: short faults in quick succession, so crashes land in the
  // narrow windows (between a vote and its durable learning, mid-takeover) where protocols break
  const storm = rng.chance(0.25)
  return {
    dropRate: rng.chance(0.6) ? rng.between(0.001, 0.05) : 0,
    duplicateRate: rng.chance(0.5) ? rng.between(0.001, 0.05) : 0,
    jitterMsMax: rng.chance(0.5) ? rng.between(2, 25) : rng.between(0, 1),
    crashes: rng.chance(0.7),
    maxCrashed: maxTolerableCrashes(nodes),
    partitions,
    oneWayPartitions: rng.chance(partitions ? 0.4 : 0.3),
    clockSkew: rng.chance(0.5),
    clockOffsetMsMax: 5000,
    clockDriftMax: rng.between(0.0001, 0.002),
    faultIntervalMsMean: storm ? rng.between(20, 80) : rng.between(100, 600),
    faultDurationMsMax: storm ? rng.between(30, 200) : rng.between(100, 1500),
  }
}

/** faults option -> profile: true = derived from the seed, false = none, partial = derived, overridden. */
export function resolveFaultProfile(
  faults: boolean | Partial<FaultProfile> | undefined,
  seed: number,
  nodes: number,
): FaultProfile {
  if (faults === false) return NO_FAULTS
  const derived = deriveFaultProfile(seed, nodes)
  if (faults === undefined || faults === true) return derived
  const profile = { ...derived, ...faults }
  if (profile.maxCrashed < 0 || profile.maxCrashed >= nodes)
    throw new RangeError(`faults.maxCrashed must be in [0, ${nodes - 1}], got ${profile.maxCrashed}`)
  for (const rate of ['dropRate', 'duplicateRate'] as const) {
    if (!(profile[rate] >= 0 && profile[rate] < 1))
      throw new RangeError(`faults.${rate} must be in [0, 1), got ${profile[rate]}`)
  }
  return profile
}

export function describeProfile(p: FaultProfile): string[] {
  const out: string[] = []
  if (p.dropRate > 0) out.push(`drop ${(p.dropRate * 100).toFixed(2)}% of messages`)
  if (p.duplicateRate > 0) out.push(`duplicate ${(p.duplicateRate * 100).toFixed(2)}% of messages`)
  if (p.jitterMsMax > 0) out.push(`jitter up to ${p.jitterMsMax.toFixed(1)} ms (reorders)`)
  if (p.crashes) out.push(`crashes (at most ${p.maxCrashed} down at once)`)
  if (p.partitions) out.push('symmetric partitions')
  if (p.oneWayPartitions) out.push('one-way partitions')
  if (p.clockSkew)
    out.push(
      `clock skew (offset up to ${p.clockOffsetMsMax} ms, drift up to ${(p.clockDriftMax * 1e6).toFixed(0)} ppm)`,
    )
  if (p.crashes || p.partitions || p.oneWayPartitions)
    out.push(
      `a fault every ${p.faultIntervalMsMean.toFixed(0)} ms on average, lasting up to ${p.faultDurationMsMax.toFixed(0)} ms`,
    )
  return out
}
