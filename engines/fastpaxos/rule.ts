/**
 * Ballots of the fast rounds, and Lamport's value selection rule (Fast Paxos, section 3.3, "Picking a
 * value in phase 2a") that a recovery round applies to the votes of a quorum Q of acceptors.
 *
 * Rounds per instance, in ballot order:
 *   FAST0 = 0.~        the fast round every proposer sends to directly (the "any" message is implicit)
 *   1.<coordinator>    the coordinated recovery round, used only by the key's coordinator
 *   FAST1 = 1.~        the uncoordinated recovery round (a second fast round), when so configured
 *   >= 2.<node>        classic failover rounds, with a phase 1 of their own
 * No ballot lies between FAST0 and 1.<coordinator> that anyone uses (only the coordinator of a key uses
 * round 1 there), nor between FAST0 and FAST1 when recovery is uncoordinated (round 1 is unused): that
 * is what lets a recovery round treat the fast round's phase 2b votes as its phase 1b promises.
 */
import { type Ballot, compareBallots } from '../core/ballot.ts'
import { type Command, commandIdKey } from '../core/command.ts'
import { type FpValue, type FpVote, NOOP } from './messages.ts'

/** The fast-round marker: sorts above every node id made of characters below '~' (r0, r1, ...). */
export const FAST_NODE = '~'
export const FAST0: Ballot = Object.freeze({ round: 0, node: FAST_NODE })
export const FAST1: Ballot = Object.freeze({ round: 1, node: FAST_NODE })

export function isFastBallot(b: Ballot): boolean {
  return b.node === FAST_NODE
}

/** A stable identity of a value, for counting votes (a batch is named by its command ids, in order). */
export function valueKey(v: FpValue): string {
  return v.kind === 'noop' ? '-' : v.cmds.map((c) => commandIdKey(c.id)).join(',')
}

export type Selection =
  /** the rule forces this value: it was, or might have been, chosen in an earlier round */
  | { readonly kind: 'forced'; readonly value: FpValue }
  /** no value can have been chosen: any value is safe; candidates are the highest round's, most votes first */
  | { readonly kind: 'free'; readonly candidates: readonly FpValue[] }

/**
 * The rule, for the reports (votes) of the acceptors of Q (|Q| = votes.length, at least a classic
 * quorum) and a fast quorum that may miss e acceptors:
 * - k: the highest ballot any member of Q voted in; none: free.
 * - k classic: the one value voted in k.
 * - k fast: v such that, for some fast quorum R, every member of R ∩ Q voted v in k. R can leave out at
 *   most e members of Q, so that is: at most e members of Q did not vote v in k, i.e.
 *   count(v) >= |Q| - e. Two such values cannot exist since |Q| > 2e (n - f > 2e). None: free.
 */
export function selectValue(votes: ReadonlyArray<FpVote | null>, e: number): Selection {
  let k: Ballot | null = null
  for (const v of votes) if (v !== null && (k === null || compareBallots(v.ballot, k) > 0)) k = v.ballot
  if (k === null) return { kind: 'free', candidates: [] }
  const atK = votes.filter((v): v is FpVote => v !== null && compareBallots(v.ballot, k) === 0)
  if (!isFastBallot(k)) return { kind: 'forced', value: atK[0]!.value }
  const tally = new Map<string, { value: FpValue; count: number }>()
  for (const v of atK) {
    const id = valueKey(v.value)
    const entry = tally.get(id)
    if (entry === undefined) tally.set(id, { value: v.value, count: 1 })
    else entry.count++
  }
  const ranked = [...tally.entries()].sort((a, b) => b[1].count - a[1].count || (a[0] < b[0] ? -1 : 1))
  const top = ranked[0]![1]
  if (top.count >= votes.length - e) return { kind: 'forced', value: top.value }
  return { kind: 'free', candidates: ranked.map(([, t]) => t.value) }
}

/**
 * The value a recovery round proposes when the rule leaves the choice free (no value can have been
 * chosen in any earlier round, so every value is safe, FP 3.3): the union of the candidate batches, in
 * the candidates' order (most votes first), each command once; a no-op when there is none. Proposing
 * the union instead of one candidate means a collision costs its commands one recovery, not one
 * instance each: in Lamport's terms the coordinator, itself a proposer, proposes a value made of the
 * commands proposed in the collided round (the least upper bound of Generalized Paxos, for batches).
 */
export function unionOf(candidates: readonly FpValue[], maxCommands: number): FpValue {
  const seen = new Set<string>()
  const cmds: Command[] = []
  for (const v of candidates) {
    if (v.kind === 'noop') continue
    for (const c of v.cmds) {
      if (cmds.length >= maxCommands) break
      const id = commandIdKey(c.id)
      if (seen.has(id)) continue
      seen.add(id)
      cmds.push(c)
    }
  }
  return cmds.length === 0 ? NOOP : { kind: 'cmds', cmds }
}
