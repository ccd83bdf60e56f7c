/** Lamport's value selection rule (rule.ts) on hand-made quorum reports, and the latency bounds. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Ballot } from '../core/ballot.ts'
import type { LatencyModel } from '../core/engine.ts'
import { fastPaxosExpectedLatencyMs, fastPaxosSlowPathLatencyMs } from './latency.ts'
import type { FpValue, FpVote } from './messages.ts'
import { FAST0, FAST1, selectValue, unionOf, valueKey } from './rule.ts'

const cmd = (client: string): FpValue => ({
  kind: 'cmds',
  cmds: [{ id: { client, seq: 1 }, op: 'put', key: 'x', value: client }],
})
const A = cmd('a')
const B = cmd('b')
const vote = (ballot: Ballot, value: FpValue): FpVote => ({ ballot, value })
const picked = (votes: Array<FpVote | null>, e: number): string => {
  const s = selectValue(votes, e)
  return s.kind === 'forced' ? `forced ${valueKey(s.value)}` : `free ${s.candidates.map(valueKey).join(',')}`
}

describe('selectValue (Fast Paxos 3.3)', () => {
  it('no votes: free choice with no candidates', () => {
    assert.equal(picked([null, null, null], 1), 'free ')
  })

  it('a classic round among the highest forces its value, over fast votes below it', () => {
    const classic = { round: 2, node: 'r1' }
    assert.equal(picked([vote(FAST0, A), vote(classic, B), vote(FAST0, A)], 1), 'forced b#1')
  })

  it('fast round: forced when at most e members of Q did not vote the value', () => {
    // n=5, e=1: Q of 3 with 2 votes for a: a fast quorum of 4 could hold both plus the 2 outside Q
    assert.equal(picked([vote(FAST0, A), vote(FAST0, A), vote(FAST0, B)], 1), 'forced a#1')
    // Q of 5 with 3 for a, 2 for b: every fast quorum of 4 holds a b vote: nothing was chosen
    assert.equal(
      picked([vote(FAST0, A), vote(FAST0, A), vote(FAST0, A), vote(FAST0, B), vote(FAST0, B)], 1),
      'free a#1,b#1',
    )
    // n=3, e=0: only a unanimous Q forces
    assert.equal(picked([vote(FAST0, A), vote(FAST0, B)], 0), 'free a#1,b#1')
    assert.equal(picked([vote(FAST0, B), vote(FAST0, B)], 0), 'forced b#1')
  })

  it('only the highest round counts: a member that voted in a lower round counts against', () => {
    assert.equal(picked([vote(FAST1, B), vote(FAST1, B), vote(FAST0, A)], 1), 'forced b#1')
    assert.equal(picked([vote(FAST1, B), vote(FAST0, A), vote(FAST0, A)], 1), 'free b#1')
  })
})

describe('unionOf (the free choice of a recovery round)', () => {
  const batch = (...clients: string[]): FpValue => ({
    kind: 'cmds',
    cmds: clients.map((c) => ({ id: { client: c, seq: 1 }, op: 'put', key: 'x', value: c })),
  })

  it('keeps the candidates in order, each command once, and skips no-ops', () => {
    const u = unionOf([batch('b', 'a'), { kind: 'noop' }, batch('a', 'c'), batch('d')], 10)
    assert.equal(valueKey(u), 'b#1,a#1,c#1,d#1')
  })

  it('is a no-op when there is no command, and stops at the limit', () => {
    assert.deepEqual(unionOf([], 10), { kind: 'noop' })
    assert.deepEqual(unionOf([{ kind: 'noop' }], 10), { kind: 'noop' })
    assert.equal(valueKey(unionOf([batch('a', 'b'), batch('c')], 2)), 'a#1,b#1')
  })
})

describe('latency bounds', () => {
  const rtt: Record<string, number> = { 'r0-r1': 10, 'r0-r2': 30, 'r1-r2': 25 }
  const model = (origin: string, leader = 'r0'): LatencyModel => ({
    nodes: ['r0', 'r1', 'r2'],
    rttMs: (a, b) => (a === b ? 0 : (rtt[`${a}-${b}`] ?? rtt[`${b}-${a}`]!)),
    origin,
    clientRttMs: 2,
    leader,
  })

  it('fast path: client RTT plus the RTT to the nearest fast quorum (n=3: all three)', () => {
    assert.equal(fastPaxosExpectedLatencyMs(model('r0'), { quorumChoice: 'max-f' }), 2 + 30)
    assert.equal(fastPaxosExpectedLatencyMs(model('r1'), { quorumChoice: 'max-e' }), 2 + 25)
  })

  it('slow path adds the coordinator round trip to a classic quorum and the hop to it', () => {
    assert.equal(fastPaxosSlowPathLatencyMs(model('r0'), { quorumChoice: 'max-f' }), 32 + 10)
    assert.equal(fastPaxosSlowPathLatencyMs(model('r2', 'r1'), { quorumChoice: 'max-f' }), 32 + 10 + 25)
  })
})
