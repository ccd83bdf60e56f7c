/**
 * Seeded history generators for tests and the microbenchmark.
 *
 * generateHistory simulates closed-loop clients against one linearizable key-value store: each op gets
 * an interval, a linearization point inside it, and reads see the writes whose points come earlier. So
 * every generated history is linearizable by construction. perturbHistory then breaks some of them.
 */
import type { HistoryOp } from './history.ts'
import { createRandom, type Random } from './random.ts'

export interface GenerateOptions {
  seed: number
  clients: number
  keys: number
  /** total ops across clients */
  ops: number
  /** share of ops that are puts (default 0.5) */
  putShare?: number
  /** share of ops on the hot key 'k0'; the rest are uniform over all keys (default 0) */
  hotKeyShare?: number
  /** share of ops rejected before execution: outcome 'fail', no effect (default 0) */
  failShare?: number
  /** share of ops left unanswered (outcome 'unknown'); a put among them takes effect half the time */
  unknownShare?: number
  latencyUsMin?: number
  latencyUsMax?: number
  /** pause between a client's ops, uniform in [0, thinkUsMax] (default 50) */
  thinkUsMax?: number
  /** if set, puts write one of this many values ('v0', 'v1', ...), so values repeat; default unique */
  distinctValues?: number
}

interface Draft {
  client: string
  seq: number
  key: string
  op: 'get' | 'put'
  value: string | null
  invokeUs: number
  completeUs: number | null
  outcome: 'ok' | 'fail' | 'unknown'
  /** when it took effect; null if it never did */
  pointUs: number | null
}

export function generateHistory(options: GenerateOptions): HistoryOp[] {
  const random = createRandom(options.seed)
  const putShare = options.putShare ?? 0.5
  const hotKeyShare = options.hotKeyShare ?? 0
  const failShare = options.failShare ?? 0
  const unknownShare = options.unknownShare ?? 0
  const latencyUsMin = options.latencyUsMin ?? 200
  const latencyUsMax = options.latencyUsMax ?? 2_000
  const thinkUsMax = options.thinkUsMax ?? 50
  if (options.clients < 1 || options.keys < 1)
    throw new Error('generateHistory needs clients >= 1, keys >= 1')
  if (latencyUsMin > latencyUsMax) throw new Error('latencyUsMin > latencyUsMax')

  const clockUs = new Array<number>(options.clients).fill(0)
  const seqs = new Array<number>(options.clients).fill(0)
  const drafts: Draft[] = []
  for (let n = 0; n < options.ops; n++) {
    // Closed loop: the client whose previous op ended first issues the next one.
    let c = 0
    for (let i = 1; i < options.clients; i++) if (clockUs[i]! < clockUs[c]!) c = i
    const invokeUs = clockUs[c]! + random.int(0, thinkUsMax)
    const latencyUs = random.int(latencyUsMin, latencyUsMax)
    const endUs = invokeUs + latencyUs
    clockUs[c] = endUs
    const client = `c${c}`
    const seq = seqs[c]!++
    const key = random.chance(hotKeyShare) ? 'k0' : `k${random.int(0, options.keys - 1)}`
    const op = random.chance(putShare) ? 'put' : 'get'
    const value =
      op === 'get'
        ? null
        : options.distinctValues === undefined
          ? `${client}-${seq}`
          : `v${random.int(0, options.distinctValues - 1)}`
    const roll = random.next()
    const outcome = roll < failShare ? 'fail' : roll < failShare + unknownShare ? 'unknown' : 'ok'
    let pointUs: number | null = null
    if (outcome === 'ok') pointUs = invokeUs + random.next() * latencyUs
    // An unanswered put may take effect late (after the client gave up) or never.
    if (outcome === 'unknown' && op === 'put' && random.chance(0.5)) {
      pointUs = invokeUs + random.next() * 3 * latencyUs
    }
    drafts.push({
      client,
      seq,
      key,
      op,
      value,
      invokeUs,
      completeUs: outcome === 'unknown' ? null : endUs,
      outcome,
      pointUs,
    })
  }

  // Replay the effects in linearization-point order against a plain map.
  const effects = drafts.filter((d) => d.pointUs !== null).sort((a, b) => a.pointUs! - b.pointUs!)
  const store = new Map<string, string | null>()
  for (const d of effects) {
    if (d.op === 'put') store.set(d.key, d.value)
    else d.value = store.get(d.key) ?? null
  }
  return drafts.map(({ pointUs: _, ...op }) => op)
}

/**
 * Applies `mutations` random changes that often (not always) make a history non-linearizable: a get
 * reads another value, an op's interval moves, an outcome flips, two puts swap values.
 */
export function perturbHistory(history: readonly HistoryOp[], random: Random, mutations = 1): HistoryOp[] {
  const ops = history.map((op) => ({ ...op }))
  if (ops.length === 0) return ops
  const written = [...new Set(ops.filter((o) => o.op === 'put').map((o) => o.value))]
  const okGets = ops.filter((o) => o.op === 'get' && o.outcome === 'ok')
  for (let n = 0; n < mutations; n++) {
    const target = random.pick(ops)
    const kind = random.int(0, 5)
    if (kind <= 2 && okGets.length > 0) {
      // the most telling mutation, so the most frequent: a get returns another value
      const get = random.pick(okGets)
      get.value = random.chance(0.15) ? 'never-written' : random.pick([null, ...written])
    } else if (kind === 3) {
      const shiftUs = random.int(-20, 20)
      target.invokeUs += shiftUs
      if (target.completeUs !== null) target.completeUs += shiftUs
    } else if (kind === 4 && target.op === 'put') {
      if (target.outcome === 'ok') {
        target.outcome = 'fail'
      } else {
        target.outcome = 'ok'
        target.completeUs = target.invokeUs + random.int(0, 20)
      }
    } else {
      const other = random.pick(ops)
      if (target.op === 'put' && other.op === 'put') [target.value, other.value] = [other.value, target.value]
    }
  }
  return ops
}
