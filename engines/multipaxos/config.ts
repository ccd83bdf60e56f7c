/**
 * Multi-Paxos configuration: explicit data with units in the names, parsed strictly (a misspelt field
 * is an error). See README.md for what each field does.
 */
import { z } from 'zod'
import type { NodeId } from '../core/command.ts'
import { parseEngineConfig } from '../core/config.ts'
import { ConfigError } from '../core/engine.ts'

const positiveMs = z.number().positive().max(3_600_000)
const count = z.number().int().min(1).max(1_000_000)

export const multiPaxosConfigSchema = z
  .strictObject({
    /** how often the leader sends a heartbeat (carrying its commit index) to every follower */
    heartbeatIntervalMs: positiveMs,
    /** a follower that hears nothing from a leader for a uniform draw in [min, max] starts a takeover */
    leaderTimeoutMsMin: positiveMs,
    leaderTimeoutMsMax: positiveMs,
    /**
     * how often the leader looks for unanswered accepts, and the floor of their resend deadline (see
     * retransmitFactor); a catch-up request unanswered for this long is sent again
     */
    retransmitMs: positiveMs,
    /**
     * an accept is resent once it has waited this many times the leader's mean phase-2 latency (at least
     * retransmitMs), doubled per resend of the same slot; 0: the floor retransmitMs alone (still doubling)
     */
    retransmitFactor: z.number().min(0).max(1000),
    /**
     * the longest an unanswered accept waits before it is resent, whatever the mean and the doubling: a
     * mean inflated by slots that waited out a partition must not delay a lost accept's resend for long
     */
    retransmitMsMax: positiveMs,
    /** a command forwarded to a leader and not executed within this long is forwarded again */
    forwardRetryMs: positiveMs,
    /**
     * each re-forward of the same command doubles its wait, at most this many times (3: 8 x forwardRetryMs);
     * 0 re-forwards every forwardRetryMs, however slow the path (README "Forwarding")
     */
    forwardRetryDoublingsMax: z.number().int().min(0).max(10),
    /** when true the leader packs up to batchMaxCommands queued commands into one slot */
    batching: z.boolean(),
    batchMaxCommands: count,
    /** how long the leader waits for a batch to fill before proposing a partial one */
    batchDelayMs: z.number().min(0).max(60_000),
    /** the most slots the leader has proposed and not yet seen chosen (the pipeline window) */
    maxInflightSlots: count,
    /** the most slots one catch-up reply carries */
    catchupBatchSlots: count,
    /** the most commands waiting at the leader for a slot; beyond it forwarded commands are dropped */
    maxQueuedCommands: count,
    /** the most client commands waiting for execution at the replica where they arrived */
    maxPendingCommands: count,
    /**
     * log compaction: once this many slots executed follow the last snapshot, snapshot the state machine
     * and discard the chosen values up to the previous snapshot (one interval stays, for replicas a little
     * behind); 0: never (chosen values are kept for ever)
     */
    snapshotEveryEntries: z.number().int().min(0).max(1_000_000_000),
    /**
     * check-quorum (as in Raft, thesis sec. 6.2): followers answer each heartbeat with a heartbeat-ack; a
     * leader that has heard no ack or accepted from a majority (itself included) within leaderTimeoutMsMin
     * steps down; and a replica that heard a leader within leaderTimeoutMsMin ignores prepares of a higher
     * ballot, so the deposed leader cannot disrupt the one elected without it. false: neither
     */
    checkQuorum: z.boolean({ message: 'checkQuorum must be true or false' }),
    /** the replica that tries to lead first, without waiting a timeout: an index into nodes, or an id */
    initialLeader: z.union([z.number().int().min(0), z.string().min(1)]),
    /**
     * TEST-ONLY fault injection, to prove the conformance suite catches real bugs. Never set it in a
     * benchmark. 'skip-accept-persist': acceptors answer phase 2 without making the accepted value
     * durable. 'ignore-promise-values': a new leader ignores the values reported in promises.
     */
    testFault: z.enum(['none', 'skip-accept-persist', 'ignore-promise-values']),
  })
  .refine((c) => c.leaderTimeoutMsMin <= c.leaderTimeoutMsMax, {
    message: 'leaderTimeoutMsMin must not exceed leaderTimeoutMsMax',
    path: ['leaderTimeoutMsMin'],
  })
  .refine((c) => c.retransmitMs <= c.retransmitMsMax, {
    message: 'retransmitMs (the resend floor) must not exceed retransmitMsMax (its ceiling)',
    path: ['retransmitMs'],
  })
  .refine((c) => c.heartbeatIntervalMs < c.leaderTimeoutMsMin, {
    message: 'heartbeatIntervalMs must be below leaderTimeoutMsMin, or followers suspect a live leader',
    path: ['heartbeatIntervalMs'],
  })
  .refine((c) => !c.checkQuorum || 2 * c.heartbeatIntervalMs <= c.leaderTimeoutMsMin, {
    message:
      'with checkQuorum, heartbeatIntervalMs must be at most half of leaderTimeoutMsMin (the leader needs its ' +
      "followers' answers within leaderTimeoutMsMin, or it steps down): lower heartbeatIntervalMs, or set checkQuorum: false",
    path: ['heartbeatIntervalMs'],
  })

export type MultiPaxosConfig = z.output<typeof multiPaxosConfigSchema>
export type MultiPaxosTestFault = MultiPaxosConfig['testFault']

export const MULTIPAXOS_DEFAULTS: MultiPaxosConfig = {
  heartbeatIntervalMs: 50,
  leaderTimeoutMsMin: 500,
  leaderTimeoutMsMax: 1000,
  retransmitMs: 300,
  retransmitFactor: 4,
  retransmitMsMax: 3000,
  forwardRetryMs: 1000,
  forwardRetryDoublingsMax: 3,
  batching: false,
  batchMaxCommands: 64,
  batchDelayMs: 1,
  maxInflightSlots: 256,
  catchupBatchSlots: 256,
  maxQueuedCommands: 10_000,
  maxPendingCommands: 10_000,
  snapshotEveryEntries: 10_000,
  checkQuorum: true,
  initialLeader: 0,
  testFault: 'none',
}

export function parseMultiPaxosConfig(raw: unknown): MultiPaxosConfig {
  return parseEngineConfig('multipaxos', multiPaxosConfigSchema, MULTIPAXOS_DEFAULTS, raw)
}

/** The node named by `initialLeader`, checked against the cluster (the schema does not know the nodes). */
export function resolveInitialLeader(config: MultiPaxosConfig, nodes: readonly NodeId[]): NodeId {
  const chosen = config.initialLeader
  if (typeof chosen === 'number') {
    const node = nodes[chosen]
    if (node === undefined)
      throw new ConfigError(
        'multipaxos.initialLeader',
        `index ${chosen} is outside the cluster of ${nodes.length} nodes`,
        `use an index in 0..${nodes.length - 1} or a node id`,
      )
    return node
  }
  if (!nodes.includes(chosen))
    throw new ConfigError(
      'multipaxos.initialLeader',
      `'${chosen}' is not a node of this cluster`,
      `use one of: ${nodes.join(', ')}`,
    )
  return chosen
}
