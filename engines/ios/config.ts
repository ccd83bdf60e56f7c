/**
 * Ios configuration: explicit data with units in the names, parsed strictly (a misspelt field is an
 * error). See README.md for what each field does. Quorum sizes depend on the cluster size, which the
 * schema does not know: `resolveQuorums` checks them against the nodes when a replica is created.
 */
import { z } from 'zod'
import { parseEngineConfig } from '../core/config.ts'
import { ConfigError } from '../core/engine.ts'
import { flexibleQuorums, majority } from '../core/quorum.ts'

const positiveMs = z.number().positive().max(3_600_000)
const count = z.number().int().min(1).max(1_000_000)

export const iosConfigSchema = z
  .strictObject({
    /** how often the master sends a heartbeat (carrying its view and commit index) to every replica */
    heartbeatIntervalMs: positiveMs,
    /** a replica that hears nothing from its master for a uniform draw in [min, max] moves to the next view */
    masterTimeoutMsMin: positiveMs,
    masterTimeoutMsMax: positiveMs,
    /** an accept, prepare or catch-up request unanswered for this long is sent again */
    retransmitMs: positiveMs,
    /**
     * the longest an accept waits before it is resent, whatever the latency mean says: a mean pushed up
     * by slots that waited out a partition must not leave a lost accept unsent for long after healing
     */
    retransmitMsMax: positiveMs,
    /** a delegated slot not committed within this long is moved to another coordinator */
    coordinatorTimeoutMs: positiveMs,
    /** the longest a delegated slot waits before it moves, whatever the latency mean says */
    coordinatorTimeoutMsMax: positiveMs,
    /** a coordinator that missed coordinatorTimeoutMs (or is slow) gets no new slots for this long */
    suspectMs: positiveMs,
    /**
     * a coordinator whose mean commit latency exceeds slowFactor x the typical (median) coordinator's is
     * skipped; a slot's deadline is slowFactor x the mean commit latency (at least coordinatorTimeoutMs)
     */
    slowFactor: z.number().min(1).max(1000),
    /** a command forwarded to the master and not executed within this long is forwarded again */
    forwardRetryMs: positiveMs,
    /** the most slots the master has assigned and not yet seen committed (the window of in-flight requests) */
    windowSize: count,
    /** 'rotate': round-robin over the next rotateAmong nodes after the master; 'reverse': the node that forwarded the command */
    delegation: z.enum(['rotate', 'reverse']),
    /** how many nodes after the master take turns coordinating; 0: every other node */
    rotateAmong: z.number().int().min(0).max(1000),
    /** when true the master packs up to batchMaxCommands queued commands (of one origin when reversing) into one slot */
    batching: z.boolean(),
    batchMaxCommands: count,
    /** how long the master waits for a batch to fill before assigning a partial one */
    batchDelayMs: z.number().min(0).max(60_000),
    /** recovery (phase-1) quorum; 0: a majority */
    q1: z.number().int().min(0).max(1000),
    /** replication (phase-2) quorum; 0: a majority. q1 + q2 must exceed the cluster size */
    q2: z.number().int().min(0).max(1000),
    /**
     * how long a coordinator may hold the master's copy of a commit, to send several in one message (or
     * with its next forward to the master); 0: at once. Never for commands that arrived at the master.
     */
    masterAckDelayMs: z.number().min(0).max(60_000),
    /**
     * the master asks for held commits only after this long without a client command of its own: a
     * master that serves clients executes in slot order and would wait for the held ones
     */
    lazyAckQuietMs: z.number().min(0).max(3_600_000),
    /** the most slots one catch-up reply or one coordinate message carries */
    catchupBatchSlots: count,
    /** the most commands waiting at the master for a slot; beyond it forwarded commands are dropped */
    maxQueuedCommands: count,
    /** the most client commands waiting for execution at the replica where they arrived */
    maxPendingCommands: count,
    /**
     * TEST-ONLY fault injection, to prove the conformance suite catches real bugs. Never set it in a
     * benchmark. 'small-replication-quorum': a coordinator commits with N - q1 votes, one fewer than the
     * N + 1 - q1 that every recovery quorum must intersect.
     */
    testFault: z.enum(['none', 'small-replication-quorum']),
  })
  .refine((c) => c.masterTimeoutMsMin <= c.masterTimeoutMsMax, {
    message: 'masterTimeoutMsMin must not exceed masterTimeoutMsMax',
    path: ['masterTimeoutMsMin'],
  })
  .refine((c) => c.retransmitMs <= c.retransmitMsMax, {
    message: 'retransmitMs must not exceed retransmitMsMax',
    path: ['retransmitMsMax'],
  })
  .refine((c) => c.coordinatorTimeoutMs <= c.coordinatorTimeoutMsMax, {
    message: 'coordinatorTimeoutMs must not exceed coordinatorTimeoutMsMax',
    path: ['coordinatorTimeoutMsMax'],
  })
  .refine((c) => c.heartbeatIntervalMs < c.masterTimeoutMsMin, {
    message: 'heartbeatIntervalMs must be below masterTimeoutMsMin, or replicas suspect a live master',
    path: ['heartbeatIntervalMs'],
  })

export type IosConfig = z.output<typeof iosConfigSchema>
export type IosTestFault = IosConfig['testFault']

export const IOS_DEFAULTS: IosConfig = {
  heartbeatIntervalMs: 50,
  masterTimeoutMsMin: 500,
  masterTimeoutMsMax: 1000,
  retransmitMs: 300,
  retransmitMsMax: 3000,
  coordinatorTimeoutMs: 400,
  coordinatorTimeoutMsMax: 5000,
  suspectMs: 2000,
  slowFactor: 4,
  forwardRetryMs: 1000,
  windowSize: 256,
  delegation: 'rotate',
  rotateAmong: 0,
  batching: false,
  batchMaxCommands: 64,
  batchDelayMs: 1,
  q1: 0,
  q2: 0,
  masterAckDelayMs: 20,
  lazyAckQuietMs: 1000,
  catchupBatchSlots: 256,
  maxQueuedCommands: 10_000,
  maxPendingCommands: 10_000,
  testFault: 'none',
}

export function parseIosConfig(raw: unknown): IosConfig {
  return parseEngineConfig('ios', iosConfigSchema, IOS_DEFAULTS, raw)
}

export interface IosQuorums {
  readonly q1: number
  readonly q2: number
  /** the votes a coordinator waits for before it commits (q2, unless the test fault shrinks it) */
  readonly commitVotes: number
}

/** Quorum sizes for a cluster of n, checked: q1 + q2 > n (Flexible Paxos). */
export function resolveQuorums(config: IosConfig, n: number): IosQuorums {
  const q1 = config.q1 === 0 ? majority(n) : config.q1
  const q2 = config.q2 === 0 ? majority(n) : config.q2
  try {
    flexibleQuorums(n, q1, q2)
  } catch (err) {
    throw new ConfigError(
      'ios.q1',
      `${(err as Error).message} with ${n} nodes`,
      `choose q1, q2 in 1..${n} with q1 + q2 > ${n} (0 means a majority)`,
    )
  }
  // TEST-ONLY: one vote short of what intersects every recovery quorum.
  const commitVotes = config.testFault === 'small-replication-quorum' ? Math.max(1, n - q1) : q2
  return { q1, q2, commitVotes }
}
