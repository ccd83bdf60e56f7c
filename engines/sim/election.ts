/**
 * Election trials (Ongaro & Ousterhout, ATC'14, Fig. 16): how long a cluster goes without a leader after
 * its leader crashes. A dedicated, fast mode of the simulator: no clients, no drops, no checker, only the
 * engines, their timers (firing up to timerLateMsMax late, as a process's timers do) and a network whose
 * one-way delay is uniform in [oneWayMsMin, oneWayMsMax].
 *
 * One trial: boot every node, run until a leader is elected and every other node names it, let it lead for
 * `settleMs`, then crash it at a uniformly random time within one heartbeat interval (the paper's "crashed
 * uniformly randomly within its heartbeat interval"), and run until a surviving node emits `elected`. The
 * time from the crash to that event is the trial's figure; a trial with no election within `limitMs` says
 * null. Each trial's seed drives the delays and the engines' `random()` (and so their timeouts).
 */
import type { NodeId } from '../core/command.ts'
import type { Engine, EngineContext, EngineMessage, EngineModule } from '../core/engine.ts'
import { KvStateMachine } from '../core/kv.ts'
import { Rng } from '../core/runtime/rng.ts'
import { copyPlain } from './copy.ts'
import { EventQueue } from './event-queue.ts'
import { SimStorage } from './storage.ts'

export interface ElectionTrialOptions {
  // biome-ignore lint/suspicious/noExplicitAny: trials run any engine's messages and config
  readonly engine: EngineModule<any, any>
  readonly engineConfig?: unknown
  /** default 5, as in the paper */
  readonly nodes?: number
  readonly seed: number
  /** one-way message delay, uniform; default 6-9 ms (a broadcast, out and back, of about 15 ms) */
  readonly oneWayMsMin?: number
  readonly oneWayMsMax?: number
  /** a timer fires late by up to this much, uniform (a process's timer on a busy host); default 1 */
  readonly timerLateMsMax?: number
  /** the crash falls uniformly in [0, heartbeatMs) after the settle period */
  readonly heartbeatMs: number
  /** how long the first leader leads before the crash window; default 500 */
  readonly settleMs?: number
  /** give up on a first leader, or a new one, after this long; default 30 000 */
  readonly limitMs?: number
  /** a bound on processed events; default 500 000 */
  readonly maxEvents?: number
}

export interface ElectionTrial {
  readonly seed: number
  /** ms from the crash to the first `elected` at a survivor; null: none within limitMs */
  readonly electedAfterMs: number | null
  readonly crashed: NodeId | null
  readonly newLeader: NodeId | null
  /** elections started (emits of `elected` are not counted as starts; stepped-down + elected are) */
  readonly electedEvents: number
  /** why no figure: no first leader, or none after the crash */
  readonly problem?: string
}

type Ev =
  | { kind: 'timer'; node: number; name: string; token: number }
  | { kind: 'msg'; from: number; to: number; msg: EngineMessage }
  | { kind: 'crash' }

const US = 1000

interface TrialNode {
  readonly id: NodeId
  engine: Engine<EngineMessage> | null
  up: boolean
  readonly timers: Map<string, number>
  readonly rng: Rng
}

/** Runs one trial; deterministic for a seed. */
export function electionTrial(o: ElectionTrialOptions): ElectionTrial {
  const n = o.nodes ?? 5
  const config = o.engine.parseConfig(o.engineConfig ?? {})
  const oneWayMin = o.oneWayMsMin ?? 6
  const oneWayMax = o.oneWayMsMax ?? 9
  const settleUs = (o.settleMs ?? 500) * US
  const timerLateMsMax = o.timerLateMsMax ?? 1
  const timerRng = new Rng(o.seed, 'timers')
  const limitUs = (o.limitMs ?? 30_000) * US
  const maxEvents = o.maxEvents ?? 500_000
  const net = new Rng(o.seed, 'network')
  const faultRng = new Rng(o.seed, 'faults')
  const queue = new EventQueue<Ev>(maxEvents)
  const ids = Array.from({ length: n }, (_, i) => `r${i}`)
  let nowUs = 0
  let nextToken = 0
  let crashAtUs: number | null = null
  let crashed: number | null = null
  let firstLeaderAtUs: number | null = null
  let elected: { node: number; atUs: number } | null = null
  let electedEvents = 0
  const nodes: TrialNode[] = ids.map((id) => ({
    id,
    engine: null,
    up: true,
    timers: new Map(),
    rng: new Rng(o.seed, `node:${id}`),
  }))
  const ctxFor = (i: number): EngineContext<EngineMessage, unknown> => {
    const node = nodes[i]!
    const kv = new KvStateMachine()
    return {
      self: node.id,
      nodes: ids,
      config: Object.freeze(copyPlain(config)),
      now: () => nowUs / US,
      random: () => node.rng.next(),
      send: (to, msg) => {
        const j = ids.indexOf(to)
        if (j < 0) throw new Error(`${node.id} sent to unknown node ${to}`)
        const delayUs = j === i ? 0 : Math.round(net.between(oneWayMin, oneWayMax) * US)
        queue.push(nowUs + delayUs, { kind: 'msg', from: i, to: j, msg: copyPlain(msg) })
      },
      setTimer: (name, afterMs) => {
        const token = nextToken++
        node.timers.set(name, token)
        const lateUs = timerRng.next() * timerLateMsMax * US
        queue.push(nowUs + Math.max(0, Math.ceil(afterMs * US + lateUs)), {
          kind: 'timer',
          node: i,
          name,
          token,
        })
      },
      clearTimer: (name) => {
        node.timers.delete(name)
      },
      storage: new SimStorage(),
      execute: (cmd) => kv.apply(cmd).result,
      snapshotState: () => kv.snapshot(),
      installState: (snapshot) => kv.install(snapshot),
      reply: () => {},
      emit: (event) => {
        if (event.type !== 'elected') return
        electedEvents++
        if (crashAtUs !== null && nowUs >= crashAtUs && i !== crashed && elected === null)
          elected = { node: i, atUs: nowUs }
      },
    }
  }
  const leaderAgreed = (): number | null => {
    const statuses = nodes.map((nd) => nd.engine?.status() ?? null)
    const leaderIdx = statuses.findIndex((s) => s?.role === 'leader')
    if (leaderIdx < 0) return null
    const named = statuses.filter((s) => s?.leader === ids[leaderIdx]).length
    return named === n ? leaderIdx : null
  }
  for (const [i, node] of nodes.entries()) {
    node.engine = o.engine.create(ctxFor(i))
    node.engine.start()
  }
  let events = 0
  while (elected === null) {
    const next = queue.pop()
    if (next === undefined) break
    nowUs = next.timeUs
    if (++events > maxEvents || nowUs > (crashAtUs ?? 0) + limitUs) break
    const ev = next.item
    if (ev.kind === 'crash') {
      const leader = leaderAgreed()
      crashed = leader ?? nodes.findIndex((nd) => nd.engine?.status().role === 'leader')
      if (crashed < 0) crashed = null
      if (crashed !== null) {
        const node = nodes[crashed]!
        node.up = false
        node.engine = null
        node.timers.clear()
      }
      crashAtUs = nowUs
      continue
    }
    const target = ev.kind === 'timer' ? ev.node : ev.to
    const node = nodes[target]!
    if (!node.up || node.engine === null) continue
    if (ev.kind === 'timer') {
      if (node.timers.get(ev.name) !== ev.token) continue
      node.timers.delete(ev.name)
      node.engine.onTimer(ev.name)
    } else {
      if (!nodes[ev.from]!.up) continue // sent before its sender crashed: TCP would have lost it too
      node.engine.onMessage(ids[ev.from]!, ev.msg)
    }
    node.engine.assertInvariants?.()
    if (firstLeaderAtUs === null && crashAtUs === null && leaderAgreed() !== null) {
      firstLeaderAtUs = nowUs
      queue.push(nowUs + settleUs + Math.round(faultRng.next() * o.heartbeatMs * US), { kind: 'crash' })
    }
  }
  const base = { seed: o.seed, crashed: crashed === null ? null : ids[crashed]!, electedEvents }
  if (firstLeaderAtUs === null)
    return { ...base, electedAfterMs: null, newLeader: null, problem: 'no first leader' }
  const done = elected as { node: number; atUs: number } | null
  if (done === null || crashAtUs === null)
    return { ...base, electedAfterMs: null, newLeader: null, problem: 'no new leader within the limit' }
  return { ...base, electedAfterMs: (done.atUs - crashAtUs) / US, newLeader: ids[done.node]! }
}

/** `trials` trials from seeds seed0, seed0+1, ... */
export function electionTrials(
  o: Omit<ElectionTrialOptions, 'seed'> & { readonly seed0: number; readonly trials: number },
): ElectionTrial[] {
  return Array.from({ length: o.trials }, (_, k) => electionTrial({ ...o, seed: o.seed0 + k }))
}
