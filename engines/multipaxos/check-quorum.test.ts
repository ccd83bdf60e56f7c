/**
 * Check-quorum on the simulator: the leader's inbound links are cut and not healed
 * (engines/check-quorum.case.ts). The bound, from the default timeouts:
 *
 * - the leader heard its last heartbeat-ack or accepted at the cut at the latest; it checks at every
 *   heartbeat and steps down once no majority answered within leaderTimeoutMsMin:
 *   <= leaderTimeoutMsMin + heartbeatIntervalMs;
 * - a takeover round: a follower's timeout (<= leaderTimeoutMsMax after the last heartbeat), then a
 *   prepare round trip and the first accept's (the simulator's LAN RTTs are <= 20 ms);
 * - the deposed leader, which hears nobody, takes over too: the others promise its higher ballot and
 *   restart their timers, and it never learns it won. Each time it times out first (about one round in
 *   three) costs a round, until a leader is in place (then the lease ignores it). Over simulator seeds
 *   1-200 the first commit came within 4.7 s (p99 4.2 s): allow four rounds;
 * - a client whose command waited at the cut leader retries after clientTimeoutMs (200) + <= 50 ms.
 */
import { checkQuorumCase } from '../check-quorum.case.ts'
import { MULTIPAXOS_DEFAULTS } from './config.ts'
import { multipaxosEngine } from './index.ts'

const LAN_RTT_MS_MAX = 20
const CLIENT_RETRY_MS = 200 + 50
const stepDownMs = MULTIPAXOS_DEFAULTS.leaderTimeoutMsMin + MULTIPAXOS_DEFAULTS.heartbeatIntervalMs
const roundMs = MULTIPAXOS_DEFAULTS.leaderTimeoutMsMax + 2 * LAN_RTT_MS_MAX

checkQuorumCase(multipaxosEngine, {
  engineConfig: {},
  offConfig: { checkQuorum: false },
  boundMs: stepDownMs + 4 * roundMs + CLIENT_RETRY_MS,
  seeds: [1, 2, 3, 4, 5],
})
