// Quorum math checked against a naive reference (etcd's quorum/quick_test.go habit): enumerate every
// subset of the nodes and test the intersection properties directly.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  epaxosQuorums,
  fastPaxosQuorums,
  flexibleQuorums,
  isValidFastPaxos,
  majority,
  maxFailures,
  VoteSet,
} from './quorum.ts'

/** Every subset of {0..n-1} of the given size, as bitmasks. */
function subsetsOfSize(n: number, size: number): number[] {
  const out: number[] = []
  for (let mask = 0; mask < 1 << n; mask++) if (popcount(mask) === size) out.push(mask)
  return out
}

function popcount(x: number): number {
  let c = 0
  for (let v = x; v !== 0; v &= v - 1) c++
  return c
}

/** Naive: do all pairs of quorums of size q intersect? */
function allPairsIntersect(n: number, q: number): boolean {
  const qs = subsetsOfSize(n, q)
  return qs.every((a) => qs.every((b) => (a & b) !== 0))
}

/** Naive: does every classic quorum (n-f) meet every two fast quorums (n-e) in a common node? */
function fastPaxosSafe(n: number, e: number, f: number): boolean {
  const classic = subsetsOfSize(n, n - f)
  const fast = subsetsOfSize(n, n - e)
  return (
    allPairsIntersect(n, n - f) &&
    classic.every((c) => fast.every((r1) => fast.every((r2) => (c & r1 & r2) !== 0)))
  )
}

const SIZES = [1, 2, 3, 4, 5, 6, 7, 8, 9]

test('majority is the smallest quorum size whose pairs always intersect', () => {
  for (const n of SIZES) {
    const q = majority(n)
    assert.ok(allPairsIntersect(n, q), `n=${n} q=${q} must intersect`)
    if (q > 1) assert.ok(!allPairsIntersect(n, q - 1), `n=${n} q=${q - 1} must not always intersect`)
    assert.equal(maxFailures(n), n - q, `n=${n}: tolerated failures = n - quorum`)
  }
})

test('Fast Paxos validity matches the naive intersection check for every e <= f < n', () => {
  for (const n of SIZES) {
    for (let f = 0; f < n; f++) {
      for (let e = 0; e <= f; e++) {
        assert.equal(isValidFastPaxos(n, e, f), fastPaxosSafe(n, e, f), `n=${n} e=${e} f=${f}`)
      }
    }
  }
})

test('Fast Paxos quorum choices are safe and maximal in the chosen dimension', () => {
  for (const n of SIZES) {
    const maxF = fastPaxosQuorums(n, 'max-f')
    assert.ok(fastPaxosSafe(n, maxF.e, maxF.f))
    assert.equal(maxF.f, maxFailures(n))
    assert.ok(!isValidFastPaxos(n, maxF.e + 1, maxF.f), `n=${n}: e could be larger under max-f`)
    const maxE = fastPaxosQuorums(n, 'max-e')
    assert.ok(fastPaxosSafe(n, maxE.e, maxE.f))
    for (let f = maxE.e + 1; f < n; f++) {
      assert.ok(!isValidFastPaxos(n, maxE.e + 1, f), `n=${n}: e=${maxE.e + 1} should be impossible`)
    }
    assert.ok(!isValidFastPaxos(n, maxE.e, maxE.f + 1), `n=${n}: f could be larger under max-e`)
    assert.equal(maxE.classicQuorum, n - maxE.f)
    assert.equal(maxE.fastQuorum, n - maxE.e)
  }
  // Lamport's examples: n=5 gives classic 3 / fast 4; n=7 with max-e gives 5 / 5.
  assert.deepEqual(
    [fastPaxosQuorums(5, 'max-f').classicQuorum, fastPaxosQuorums(5, 'max-f').fastQuorum],
    [3, 4],
  )
  assert.deepEqual(
    [fastPaxosQuorums(7, 'max-e').classicQuorum, fastPaxosQuorums(7, 'max-e').fastQuorum],
    [5, 5],
  )
})

test('flexible quorums are accepted exactly when every q1 and q2 quorum intersect', () => {
  for (const n of SIZES) {
    for (let q1 = 1; q1 <= n; q1++) {
      for (let q2 = 1; q2 <= n; q2++) {
        const naive = subsetsOfSize(n, q1).every((a) => subsetsOfSize(n, q2).every((b) => (a & b) !== 0))
        let accepted = true
        try {
          flexibleQuorums(n, q1, q2)
        } catch {
          accepted = false
        }
        assert.equal(accepted, naive, `n=${n} q1=${q1} q2=${q2}`)
      }
    }
  }
  assert.throws(() => flexibleQuorums(5, 0, 5), /q1 must be an integer/)
  assert.throws(() => flexibleQuorums(5, 2, 3), /must exceed n/)
})

test('EPaxos quorums follow the paper: fast F + floor((F+1)/2), slow F + 1', () => {
  assert.deepEqual(epaxosQuorums(3), { n: 3, f: 1, fastQuorum: 2, slowQuorum: 2 })
  assert.deepEqual(epaxosQuorums(5), { n: 5, f: 2, fastQuorum: 3, slowQuorum: 3 })
  assert.deepEqual(epaxosQuorums(7), { n: 7, f: 3, fastQuorum: 5, slowQuorum: 4 })
})

test('VoteSet counts each node once and reports the threshold exactly once', () => {
  const votes = new VoteSet(2)
  assert.equal(votes.add('a'), false)
  assert.equal(votes.add('a'), false, 'a duplicate vote must not count')
  assert.equal(votes.reached, false)
  assert.equal(votes.add('b'), true)
  assert.equal(votes.add('c'), false, 'threshold is reported once')
  assert.equal(votes.reached, true)
  assert.deepEqual(votes.nodes().sort(), ['a', 'b', 'c'])
  assert.throws(() => new VoteSet(0))
})
