/**
 * Raft configuration: explicit data with units in the names, parsed strictly (a misspelt field is an
 * error). See README.md for what each field does.
 */
import { z } from 'zod'
import type { NodeId } from '../core/command.ts'
import { parseEngineConfig } from '../core/config.ts'
import { ConfigError } from '../core/engine.ts'

const positiveMs = z.number().positive().max(3_600_000)
const count = z.number().int().min(1).max(1_000_000)

export const raftConfigSchema = z
  .strictObject({
    /** a follower (or candidate) that hears no leader for a uniform draw in [min, max] starts an election */
    electionTimeoutMsMin: positiveMs,
    electionTimeoutMsMax: positiveMs,
    /** how often the leader sends AppendEntries (empty when there is nothing new) to every follower */
    heartbeatIntervalMs: positiveMs,
    /** AppendEntries unacknowledged for this long are sent again (the follower goes back to probing) */
    retransmitMs: positiveMs,
    /** a command forwarded to a leader and not executed within this long is forwarded again */
    forwardRetryMs: positiveMs,
    /**
     * each re-forward of the same command doubles its wait, at most this many times (3: 8 x forwardRetryMs);
     * 0 re-forwards every forwardRetryMs, however slow the path (README "Forwarding")
     */
    forwardRetryDoublingsMax: z.number().int().min(0).max(10),
    /** the most log entries one AppendEntries carries */
    maxEntriesPerAppend: count,
    /** the most AppendEntries with entries in flight to one follower (the pipeline window) */
    maxInflightAppends: count,
    /** the most client commands one log entry (and one forward message) carries */
    maxCommandsPerEntry: count,
    /** the most commands the leader holds appended and not yet executed; beyond it new ones are dropped */
    maxUncommittedCommands: count,
    /** the most client commands waiting for execution at the replica where they arrived */
    maxPendingCommands: count,
    /**
     * log compaction (sec. 7): once this many applied entries follow the last snapshot, snapshot the state
     * machine and discard the log up to the last applied entry; 0: never (the log grows for ever)
     */
    snapshotEveryEntries: z.number().int().min(0).max(1_000_000_000),
    /** run the pre-vote phase (Raft thesis sec. 9.6) before incrementing the term */
    preVote: z.boolean(),
    /**
     * check-quorum (thesis sec. 6.2, etcd's CheckQuorum): a leader that has not heard from a majority
     * (itself included) within electionTimeoutMsMin steps down; and a server that heard a leader within
     * electionTimeoutMsMin ignores RequestVote of a higher term (thesis sec. 4.2.3), so the deposed
     * leader cannot disrupt the one elected without it. false: neither (the paper's algorithm)
     */
    checkQuorum: z.boolean({ message: 'checkQuorum must be true or false' }),
    /**
     * the replica that campaigns at once on its first start (empty durable state), so benchmarks can place
     * the leader: an index into nodes or a node id; null: every replica waits its election timeout
     */
    initialLeader: z.union([z.number().int().min(0), z.string().min(1), z.null()]),
    /**
     * TEST-ONLY fault injection, to prove the conformance suite catches real bugs. Never set it in a
     * benchmark. 'commit-previous-term-by-counting': the leader commits any entry stored on a majority,
     * whatever its term (drops the Figure 8 rule of sec. 5.4.2).
     */
    testFault: z.enum(['none', 'commit-previous-term-by-counting']),
  })
  .refine((c) => c.electionTimeoutMsMin <= c.electionTimeoutMsMax, {
    message: 'electionTimeoutMsMin must not exceed electionTimeoutMsMax',
    path: ['electionTimeoutMsMin'],
  })
  .refine((c) => c.heartbeatIntervalMs < c.electionTimeoutMsMin, {
    message: 'heartbeatIntervalMs must be below electionTimeoutMsMin, or followers suspect a live leader',
    path: ['heartbeatIntervalMs'],
  })
  .refine((c) => !c.checkQuorum || 2 * c.heartbeatIntervalMs <= c.electionTimeoutMsMin, {
    message:
      'with checkQuorum, heartbeatIntervalMs must be at most half of electionTimeoutMsMin (the leader needs its ' +
      "followers' answers within electionTimeoutMsMin, or it steps down): lower heartbeatIntervalMs, or set checkQuorum: false",
    path: ['heartbeatIntervalMs'],
  })

export type RaftConfig = z.output<typeof raftConfigSchema>
export type RaftTestFault = RaftConfig['testFault']

export const RAFT_DEFAULTS: RaftConfig = {
  electionTimeoutMsMin: 500,
  electionTimeoutMsMax: 1000,
  heartbeatIntervalMs: 50,
  retransmitMs: 300,
  forwardRetryMs: 1000,
  forwardRetryDoublingsMax: 3,
  maxEntriesPerAppend: 64,
  maxInflightAppends: 64,
  maxCommandsPerEntry: 64,
  maxUncommittedCommands: 10_000,
  maxPendingCommands: 10_000,
  snapshotEveryEntries: 10_000,
  preVote: false,
  checkQuorum: true,
  initialLeader: 0,
  testFault: 'none',
}

export function parseRaftConfig(raw: unknown): RaftConfig {
  return parseEngineConfig('raft', raftConfigSchema, RAFT_DEFAULTS, raw)
}

/** The node named by `initialLeader` (null: none), checked against the cluster. */
export function resolveInitialLeader(config: RaftConfig, nodes: readonly NodeId[]): NodeId | null {
  const chosen = config.initialLeader
  if (chosen === null) return null
  if (typeof chosen === 'number') {
    const node = nodes[chosen]
    if (node === undefined)
      throw new ConfigError(
        'raft.initialLeader',
        `index ${chosen} is outside the cluster of ${nodes.length} nodes`,
        `use an index in 0..${nodes.length - 1}, a node id, or null`,
      )
    return node
  }
  if (!nodes.includes(chosen))
    throw new ConfigError(
      'raft.initialLeader',
      `'${chosen}' is not a node of this cluster`,
      `use one of: ${nodes.join(', ')}, or null`,
    )
  return chosen
}
