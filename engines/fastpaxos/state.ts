/**
 * The durable part of a Fast Paxos replica: per instance (key, idx), the acceptor's promised ballot and
 * its vote, and the learner's decided values (per key). Every mutation writes through to storage in the
 * same handler, so it is durable before any message the handler sends (persist, then send). A decided
 * instance drops its acceptor state and answers every later message with the decision.
 */
import { type Ballot, compareBallots } from '../core/ballot.ts'
import type { Storage } from '../core/engine.ts'
import { InstanceState } from '../paxos/state.ts'
import { type FpValue, sameValue } from './messages.ts'

export { instanceId } from '../paxos/state.ts'

export type VoteResult = 'voted' | 'same' | 'refused'

/**
 * Fast Paxos's acceptor and learner state (storage under `fp/`): the per-key instances of classic Paxos,
 * each deciding a batch of commands on its key, with a vote rule for fast rounds.
 */
export class FastPaxosState extends InstanceState<FpValue> {
  private constructor(storage: Storage) {
    super(storage, 'fp/', sameValue)
  }

  static load(storage: Storage): FastPaxosState {
    const state = new FastPaxosState(storage)
    state.reload()
    return state
  }

  /**
   * Phase 2b: vote (ballot, value) if ballot >= the promise and no vote was cast in this ballot yet.
   * In a fast round several proposers send different values at the one ballot: the acceptor votes for
   * the first and refuses the rest ('refused'); 'same' is a retransmission of the value it voted for.
   */
  vote(key: string, idx: number, ballot: Ballot, value: FpValue): VoteResult {
    const current = this.slot(key, idx)
    if (compareBallots(ballot, current.promised) < 0) return 'refused'
    const prior = current.accepted
    if (prior !== null && compareBallots(prior.ballot, ballot) === 0)
      return this.sameValue(prior.value, value) ? 'same' : 'refused'
    this.write(key, idx, { promised: ballot, accepted: { ballot, value } })
    return 'voted'
  }
}
