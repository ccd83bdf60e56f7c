import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { bruteForceLinearizable } from './brute-force.ts'
import { generateHistory, perturbHistory } from './generate.ts'
import type { HistoryOp } from './history.ts'
import { checkHistory } from './linearizability.ts'
import { createRandom } from './random.ts'

/** One op, terse: `put('c1', 'x', 'a', 0, 10)`; outcome 'unknown' forces completeUs null. */
function op(
  kind: 'get' | 'put',
  client: string,
  key: string,
  value: string | null,
  invokeUs: number,
  completeUs: number | null,
  outcome: HistoryOp['outcome'] = 'ok',
): HistoryOp {
  seqByClient.set(client, (seqByClient.get(client) ?? 0) + 1)
  return {
    client,
    seq: seqByClient.get(client)!,
    key,
    op: kind,
    value,
    invokeUs,
    completeUs: outcome === 'unknown' ? null : completeUs,
    outcome,
  }
}
const seqByClient = new Map<string, number>()
const put = (
  client: string,
  key: string,
  value: string | null,
  invokeUs: number,
  completeUs: number | null,
) => op('put', client, key, value, invokeUs, completeUs)
const get = (
  client: string,
  key: string,
  value: string | null,
  invokeUs: number,
  completeUs: number | null,
) => op('get', client, key, value, invokeUs, completeUs)

/** The verdict, after checking that the search, the default method and the brute force all agree. */
function verdictOf(history: HistoryOp[]): string {
  const result = checkHistory(history)
  const reference = bruteForceLinearizable(history) ? 'linearizable' : 'violation'
  assert.equal(result.verdict, reference, `brute force says ${reference}`)
  assert.equal(checkHistory(history, { method: 'search' }).verdict, reference, 'the search disagrees')
  return result.verdict
}

describe('hand-written histories that must be rejected', () => {
  it('stale read: a get returns a value overwritten before it began', () => {
    const h = [put('a', 'x', '1', 0, 10), put('a', 'x', '2', 20, 30), get('b', 'x', '1', 40, 50)]
    assert.equal(verdictOf(h), 'violation')
  })
  it('lost write: an acknowledged put is not seen by a later get', () => {
    const h = [put('a', 'x', '1', 0, 10), get('b', 'x', null, 20, 30)]
    assert.equal(verdictOf(h), 'violation')
  })
  it('write visible before its invocation', () => {
    const h = [get('b', 'x', '1', 0, 10), put('a', 'x', '1', 20, 30)]
    assert.equal(verdictOf(h), 'violation')
  })
  it('write visible before its invocation, when the put got no answer', () => {
    const h = [get('b', 'x', '1', 0, 10), op('put', 'a', 'x', '1', 20, null, 'unknown')]
    assert.equal(verdictOf(h), 'violation')
  })
  it('read of a value never written', () => {
    const h = [put('a', 'x', '1', 0, 10), get('b', 'x', 'zzz', 20, 30)]
    assert.equal(verdictOf(h), 'violation')
  })
  it('read of a value whose only put failed', () => {
    const h = [op('put', 'a', 'x', '1', 0, 10, 'fail'), get('b', 'x', '1', 20, 30)]
    assert.equal(verdictOf(h), 'violation')
  })
  it('concurrent writes seen in both orders by sequential reads', () => {
    const h = [
      put('a', 'x', '1', 0, 10),
      put('b', 'x', '2', 0, 10),
      get('c', 'x', '2', 20, 30),
      get('c', 'x', '1', 40, 50),
    ]
    assert.equal(verdictOf(h), 'violation')
  })
  it('a violation on one key among linearizable keys, reported with that key', () => {
    const h = [
      put('a', 'y', '1', 0, 10),
      get('b', 'y', '1', 20, 30),
      put('a', 'x', '1', 0, 10),
      get('b', 'x', null, 20, 30),
    ]
    const result = checkHistory(h)
    assert.equal(result.verdict, 'violation')
    assert.equal(result.violation?.key, 'x')
    assert.match(result.violation?.message ?? '', /"x"/)
  })
})

describe('hand-written histories that must be accepted', () => {
  for (const first of ['1', '2']) {
    it(`concurrent writes read in either order (${first} first)`, () => {
      const second = first === '1' ? '2' : '1'
      const h = [
        put('a', 'x', '1', 0, 10),
        put('b', 'x', '2', 5, 15),
        get('c', 'x', first, 3, 12),
        get('d', 'x', second, 20, 30),
        get('c', 'x', second, 40, 50),
      ]
      assert.equal(verdictOf(h), 'linearizable')
    })
  }
  it('an unanswered put that took effect late', () => {
    const h = [
      op('put', 'a', 'x', '1', 0, null, 'unknown'),
      get('b', 'x', null, 100, 110),
      get('b', 'x', '1', 1000, 1010),
    ]
    assert.equal(verdictOf(h), 'linearizable')
  })
  it('an unanswered put that never took effect', () => {
    const h = [
      op('put', 'a', 'x', '1', 0, null, 'unknown'),
      get('b', 'x', null, 100, 110),
      get('b', 'x', null, 1000, 1010),
    ]
    assert.equal(verdictOf(h), 'linearizable')
  })
  it('failed ops and unanswered gets impose nothing', () => {
    const h = [
      op('put', 'a', 'x', '1', 0, 10, 'fail'),
      op('get', 'b', 'x', 'garbage', 0, null, 'unknown'),
      op('get', 'b', 'x', 'garbage', 20, 30, 'fail'),
      get('c', 'x', null, 40, 50),
    ]
    assert.equal(verdictOf(h), 'linearizable')
  })
  it('touching intervals (one ends when the other starts) count as concurrent', () => {
    const h = [put('a', 'x', '1', 0, 10), get('b', 'x', null, 10, 20)]
    assert.equal(verdictOf(h), 'linearizable')
  })
  it('an empty history', () => {
    const result = checkHistory([])
    assert.deepEqual([result.verdict, result.keys, result.ops], ['linearizable', 0, 0])
  })
})

/** A small random history: a real execution (linearizable), or that execution perturbed. */
function smallRandomHistory(seed: number): HistoryOp[] {
  const random = createRandom(seed)
  const history = generateHistory({
    seed,
    clients: random.int(1, 4),
    keys: random.int(1, 2),
    ops: random.int(1, 7),
    // short, jittery intervals on a coarse clock: many overlaps and ties
    latencyUsMin: 1,
    latencyUsMax: 12,
    thinkUsMax: 6,
    failShare: 0.1,
    unknownShare: 0.15,
    ...(random.chance(0.4) ? { distinctValues: 2 } : {}),
  })
  return random.chance(0.75) ? perturbHistory(history, random, random.int(1, 3)) : history
}

describe('agreement with brute force', () => {
  // 'auto' uses the zone test where every read value has one writer (unique-value histories) and the
  // search elsewhere (the generator repeats values in 40% of histories); 'search' forces the search.
  for (const method of ['auto', 'search'] as const) {
    it(`agrees on 10,000 seeded random small histories, with both verdicts common (method ${method})`, () => {
      const historyCount = 10_000
      const verdicts = { linearizable: 0, violation: 0 }
      for (let seed = 1; seed <= historyCount; seed++) {
        const history = smallRandomHistory(seed)
        const expected = bruteForceLinearizable(history) ? 'linearizable' : 'violation'
        const result = checkHistory(history, { method })
        assert.equal(result.verdict, expected, `seed ${seed}: ${JSON.stringify(history)}`)
        verdicts[expected]++
        if (result.violation) {
          // the minimised failing key history is itself a violation, made of the key's ops
          assert.equal(bruteForceLinearizable(result.violation.ops), false, `seed ${seed}: minimised`)
          const keyOps = history.filter((o) => o.key === result.violation?.key)
          assert.ok(result.violation.ops.length <= keyOps.length)
          assert.ok(result.violation.ops.every((o) => keyOps.includes(o)))
        }
      }
      console.log(
        `method ${method}: checked ${historyCount} random histories against brute force: ` +
          `${verdicts.linearizable} linearizable, ${verdicts.violation} violations, 0 disagreements`,
      )
      assert.ok(verdicts.linearizable >= 1000, `only ${verdicts.linearizable} linearizable`)
      assert.ok(verdicts.violation >= 1000, `only ${verdicts.violation} violations`)
    })
  }
})

describe('zone test against the search on medium histories (too big for brute force)', () => {
  it('agrees on 2,000 single-key histories of 10-60 ops with up to 10 clients', () => {
    const verdicts = { linearizable: 0, violation: 0 }
    for (let seed = 1; seed <= 2_000; seed++) {
      const random = createRandom(seed)
      const history = generateHistory({
        seed,
        clients: random.int(2, 10),
        keys: 1,
        ops: random.int(10, 60),
        latencyUsMin: 1,
        latencyUsMax: random.int(5, 60),
        thinkUsMax: 6,
        failShare: 0.05,
        unknownShare: 0.1,
      })
      const subject = random.chance(0.5) ? perturbHistory(history, random, random.int(1, 2)) : history
      const byZones = checkHistory(subject).verdict
      const bySearch = checkHistory(subject, { method: 'search' }).verdict
      if (bySearch === 'unknown') assert.fail(`seed ${seed}: the search ran out of time`)
      assert.equal(byZones, bySearch, `seed ${seed}: ${JSON.stringify(subject)}`)
      verdicts[bySearch]++
    }
    assert.ok(verdicts.linearizable >= 300 && verdicts.violation >= 300, JSON.stringify(verdicts))
  })
})

describe('realistic histories', () => {
  it('decides a generated 10k-op history (100 keys, 8 clients) as linearizable', () => {
    const history = generateHistory({ seed: 7, clients: 8, keys: 100, ops: 10_000, unknownShare: 0.01 })
    const result = checkHistory(history)
    assert.equal(result.verdict, 'linearizable')
    assert.equal(result.ops, 10_000)
    assert.ok(result.keys > 90 && result.keys <= 100)
  })
  it('decides a hot key with 30 concurrent clients and 3000 ops', () => {
    const history = generateHistory({
      seed: 3,
      clients: 30,
      keys: 1,
      ops: 3_000,
      failShare: 0.01,
      unknownShare: 0.01,
    })
    assert.equal(checkHistory(history).verdict, 'linearizable')
  })
  it('finds one stale read among thousands of ops and minimises it to a few ops', () => {
    const history = generateHistory({ seed: 11, clients: 10, keys: 3, ops: 3_000 })
    // make one late get read the key's very first written value: stale by then
    const firstPut = history.find((o) => o.op === 'put' && o.key === 'k1' && o.outcome === 'ok')!
    const lateGetIndex = history.findLastIndex((o) => o.op === 'get' && o.key === 'k1' && o.outcome === 'ok')
    const broken = history.map((o, i) => (i === lateGetIndex ? { ...o, value: firstPut.value } : o))
    const result = checkHistory(broken)
    assert.equal(result.verdict, 'violation')
    assert.equal(result.violation?.key, 'k1')
    const minimised = result.violation!.ops
    // the stale get, the put it read, and a put (with a read of it) that overwrote it in between
    assert.ok(minimised.length <= 4, `minimised to ${JSON.stringify(minimised)}`)
    assert.equal(bruteForceLinearizable(minimised), false)
    assert.ok(minimised.includes(broken[lateGetIndex]!))
    assert.ok(minimised.includes(firstPut))
  })
})

describe('generateHistory', () => {
  it('is deterministic per seed and linearizable by construction, faults included', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const random = createRandom(seed)
      const options = {
        seed,
        clients: random.int(1, 12),
        keys: random.int(1, 5),
        ops: random.int(1, 300),
        failShare: 0.05,
        unknownShare: 0.05,
        ...(random.chance(0.3) ? { distinctValues: random.int(1, 6) } : {}),
      }
      const history = generateHistory(options)
      assert.deepEqual(generateHistory(options), history)
      assert.equal(history.length, options.ops)
      assert.equal(checkHistory(history).verdict, 'linearizable', `seed ${seed}`)
    }
  })
})

describe('time budget', () => {
  /**
   * 40 concurrent puts of two values (so the zone test does not apply), then gets that read one value,
   * then the other: impossible, but the search must rule out 2^40 sets of puts to say so.
   */
  function hardHistory(): HistoryOp[] {
    const puts = Array.from({ length: 40 }, (_, i) => put(`p${i}`, 'x', i % 2 === 0 ? 'a' : 'b', 0, 100))
    return [...puts, get('r', 'x', 'a', 200, 210), get('r', 'x', 'b', 220, 230)]
  }
  it('answers unknown, naming the key, when the budget is 0', () => {
    const result = checkHistory(hardHistory(), { timeBudgetMs: 0 })
    assert.equal(result.verdict, 'unknown')
    assert.deepEqual(result.unknownKeys, ['x'])
  })
  it('shares the budget: a hard key does not stop the easy keys from being decided', () => {
    const easy = generateHistory({ seed: 5, clients: 4, keys: 50, ops: 2_000 }).map((o) => ({
      ...o,
      key: `e${o.key}`,
    }))
    const result = checkHistory([...hardHistory(), ...easy], { timeBudgetMs: 200 })
    assert.equal(result.verdict, 'unknown')
    assert.deepEqual(result.unknownKeys, ['x'])
    assert.equal(result.keys, new Set(easy.map((o) => o.key)).size + 1)
  })
  it('still reports a violation on an easy key next to an undecided hard one', () => {
    const broken = [put('a', 'y', '1', 0, 10), get('b', 'y', null, 20, 30)]
    const result = checkHistory([...hardHistory(), ...broken], { timeBudgetMs: 100 })
    assert.equal(result.verdict, 'violation')
    assert.equal(result.violation?.key, 'y')
  })
  it('answers unknown within about the budget', () => {
    const result = checkHistory(hardHistory(), { timeBudgetMs: 100 })
    assert.equal(result.verdict, 'unknown')
    assert.ok(result.elapsedMs < 1_000, `took ${result.elapsedMs} ms`)
  })
})
