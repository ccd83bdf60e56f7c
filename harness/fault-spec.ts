/**
 * The fault schedule of a run (run options `faults`, experiment files `faults:`): what can be scheduled,
 * its validation, and the expansion of `random` entries into fixed faults from a seed.
 *
 * Run options give times in milliseconds (`atMs`, `restartAfterMs`, ...); experiment files give
 * durations (`at: 3s`, `restartAfter: 2s`), turned into the same objects by experiments/schema.ts.
 * A replica may be named `leader` (pause, slow, partition sides): whichever replica leads at that moment.
 */
import { z } from 'zod'
import type { NodeId } from '../engines/core/command.ts'
import { Rng } from '../engines/core/runtime/rng.ts'

const ms = z.number().nonnegative()
const positiveMs = z.number().positive()
const signal = z.enum(['SIGKILL', 'SIGTERM'])
/** a replica id (r0..), or `leader`: the replica the others name at that moment */
const replicaRef = z.string().regex(/^(r\d+|leader)$/, 'a replica id like r1, or leader')
const side = z.array(replicaRef).min(1)

export const FAULT_KINDS = ['kill', 'kill-leader', 'partition', 'slow', 'pause'] as const
export type FaultKind = (typeof FAULT_KINDS)[number]

export const faultSpecSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('kill'),
    atMs: ms,
    replica: z.string().regex(/^r\d+$/, 'a replica id like r1'),
    signal: signal.optional(),
    /** start it again (same ports and storage) this long after the kill; absent: it stays down */
    restartAfterMs: positiveMs.optional(),
  }),
  z.strictObject({
    kind: z.literal('kill-leader'),
    atMs: ms,
    signal: signal.optional(),
    restartAfterMs: positiveMs.optional(),
  }),
  z.strictObject({
    kind: z.literal('partition'),
    atMs: ms,
    /** [A, B]: A cut from B; [A]: A cut from every other replica */
    sides: z.union([z.tuple([side]), z.tuple([side, side])]),
    /** only A -> B is blocked (B -> A still flows); needs mode hold */
    oneWay: z.boolean().default(false),
    /** hold: bytes queue until heal (TCP keeps retrying); reset: connections are reset and refused */
    mode: z.enum(['hold', 'reset']).default('hold'),
    healAfterMs: positiveMs.optional(),
  }),
  z.strictObject({
    kind: z.literal('slow'),
    atMs: ms,
    replica: replicaRef,
    /** added to the one-way delay of every shaped link to and from the replica */
    delayMs: positiveMs,
    forMs: positiveMs.optional(),
  }),
  z.strictObject({
    /** SIGSTOP, then SIGCONT after forMs: a replica that stops and resumes with its state */
    kind: z.literal('pause'),
    atMs: ms,
    replica: replicaRef,
    forMs: positiveMs,
  }),
  z.strictObject({
    /** `count` faults of the given kinds at seeded uniform times in [fromMs, toMs), each lasting forMs */
    kind: z.literal('random'),
    seed: z.number().int().optional(),
    count: z.number().int().min(1).max(1000),
    fromMs: ms,
    toMs: positiveMs,
    kinds: z.array(z.enum(FAULT_KINDS)).min(1),
    forMs: positiveMs,
    delayMs: positiveMs.default(100),
  }),
])

export type FaultSpecInput = z.input<typeof faultSpecSchema>
export type FaultSpecEntry = z.output<typeof faultSpecSchema>
/** A fault at a fixed time: a `random` entry is expanded into these before the run. */
export type FaultSpec = Exclude<FaultSpecEntry, { kind: 'random' }>

/** A problem with one fault of a schedule, for a RunOptionError on `faults.<index>`. */
export interface FaultProblem {
  readonly index: number
  readonly problem: string
  readonly fix: string
}

/** What a schedule is checked against: the run's replicas, length and network. */
export interface FaultContext {
  readonly replicas: number
  readonly durationMs: number
  /** why partitions and slow links cannot run in this run (they act on a topology run's shaper), or null */
  readonly linkFaultsUnavailable: { readonly problem: string; readonly fix: string } | null
  readonly seed: number
}

/** Expands `random` entries (seed: the entry's, or the run's) and validates every fault; sorted by time. */
export function resolveFaultSchedule(
  entries: readonly FaultSpecEntry[],
  ctx: FaultContext,
): { faults: FaultSpec[] } | FaultProblem {
  const ids = Array.from({ length: ctx.replicas }, (_, i) => `r${i}`)
  const out: FaultSpec[] = []
  for (const [index, entry] of entries.entries()) {
    const expanded = entry.kind === 'random' ? expandRandom(entry, ids, ctx.seed) : [entry]
    if (entry.kind === 'random' && entry.toMs <= entry.fromMs)
      return { index, problem: 'toMs is not after fromMs', fix: 'give a window like from: 2s, to: 8s' }
    for (const f of expanded) {
      const problem = checkFault(f, ids, ctx)
      if (problem !== null) return { index, ...problem }
      out.push(f)
    }
  }
  return { faults: out.sort((a, b) => a.atMs - b.atMs) }
}

function checkFault(f: FaultSpec, ids: readonly string[], ctx: FaultContext) {
  const range = `r0..r${ids.length - 1}`
  if (f.atMs >= ctx.durationMs)
    return { problem: `fault at ${f.atMs} ms is after the run`, fix: 'schedule it inside the duration' }
  const named = f.kind === 'partition' ? f.sides.flat() : 'replica' in f ? [f.replica] : []
  for (const r of named)
    if (r !== 'leader' && !ids.includes(r))
      return { problem: `no replica ${r} in a run of ${ids.length}`, fix: `use one of ${range}` }
  if ((f.kind === 'partition' || f.kind === 'slow') && ctx.linkFaultsUnavailable !== null)
    return { problem: `a ${f.kind} ${ctx.linkFaultsUnavailable.problem}`, fix: ctx.linkFaultsUnavailable.fix }
  if (f.kind === 'partition') {
    const [a, b] = f.sides
    if (b !== undefined && a.some((r) => b.includes(r)))
      return { problem: 'a replica is on both sides', fix: 'give two disjoint sets, like [[r0], [r1, r2]]' }
    if (b === undefined && a.length >= ids.length && !a.includes('leader'))
      return { problem: 'one side holds every replica', fix: 'leave at least one replica out of it' }
    if (f.oneWay && f.mode === 'reset')
      return {
        problem: 'a one-way partition cannot reset connections (TCP needs both ways)',
        fix: 'use mode: hold with oneWay',
      }
  }
  return null
}

/** Seeded faults: uniform times, kinds and replicas; a partition cuts a random minority off. */
function expandRandom(
  r: Extract<FaultSpecEntry, { kind: 'random' }>,
  ids: readonly NodeId[],
  runSeed: number,
): FaultSpec[] {
  const rng = new Rng(r.seed ?? runSeed, 'faults')
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rng.next() * xs.length)]!
  const out: FaultSpec[] = []
  for (let i = 0; i < r.count; i++) {
    const atMs = Math.round(r.fromMs + rng.next() * (r.toMs - r.fromMs))
    const kind = pick(r.kinds)
    const replica = pick(ids)
    if (kind === 'kill') out.push({ kind, atMs, replica, restartAfterMs: r.forMs })
    else if (kind === 'kill-leader') out.push({ kind, atMs, restartAfterMs: r.forMs })
    else if (kind === 'pause') out.push({ kind, atMs, replica, forMs: r.forMs })
    else if (kind === 'slow') out.push({ kind, atMs, replica, delayMs: r.delayMs, forMs: r.forMs })
    else {
      const size = 1 + Math.floor(rng.next() * Math.max(1, Math.floor((ids.length - 1) / 2)))
      const side = ids
        .map((id) => ({ id, k: rng.next() }))
        .sort((a, b) => a.k - b.k)
        .slice(0, size)
        .map((x) => x.id)
        .sort()
      out.push({ kind, atMs, sides: [side], oneWay: false, mode: 'hold', healAfterMs: r.forMs })
    }
  }
  return out
}

/** One line per fault, for progress and the timeline: `kill -9 r1 (restart after 2000 ms)`. */
export function describeFault(f: FaultSpec): string {
  switch (f.kind) {
    case 'kill':
    case 'kill-leader': {
      const sig = (f.signal ?? 'SIGKILL') === 'SIGKILL' ? 'kill -9' : 'kill -TERM'
      const who = f.kind === 'kill' ? f.replica : 'the leader'
      return `${sig} ${who}${f.restartAfterMs !== undefined ? `, restart after ${f.restartAfterMs} ms` : ''}`
    }
    case 'partition': {
      const [a, b] = f.sides
      const arrow = f.oneWay ? '->' : '<->'
      return `partition {${a.join(',')}} ${arrow} {${b?.join(',') ?? 'rest'}} (${f.mode})${f.healAfterMs !== undefined ? `, heal after ${f.healAfterMs} ms` : ''}`
    }
    case 'slow':
      return `slow ${f.replica}: +${f.delayMs} ms on its links${f.forMs !== undefined ? ` for ${f.forMs} ms` : ''}`
    case 'pause':
      return `pause ${f.replica} (SIGSTOP) for ${f.forMs} ms`
  }
}
