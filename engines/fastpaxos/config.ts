/**
 * Fast Paxos configuration: explicit data with units in the names, parsed strictly (a misspelt field is
 * an error). See README.md for what each field does.
 */
import { z } from 'zod'
import { parseEngineConfig } from '../core/config.ts'

const positiveMs = z.number().positive().max(3_600_000)
const count = z.number().int().min(1).max(1_000_000)

export const fastPaxosConfigSchema = z
  .strictObject({
    /** which failures the quorums favour (core/quorum.ts fastPaxosQuorums): classic (max-f) or fast (max-e) */
    quorumChoice: z.enum(['max-f', 'max-e']),
    /** 'coordinated': the key's coordinator runs the recovery round; 'uncoordinated': acceptors recover themselves in a second fast round */
    recovery: z.enum(['coordinated', 'uncoordinated']),
    /** an own fast proposal unanswered by some acceptor for this long is sent to it again */
    retransmitMs: positiveMs,
    /** the key's coordinator recovers an instance still undecided this long after it first heard of it */
    recoveryTimeoutMs: positiveMs,
    /** any other replica takes over (classic phase 1) after a uniform draw in [1, 2] times this */
    failoverTimeoutMs: positiveMs,
    /** a preempted failover coordinator waits a uniform draw in [min, max] before retrying higher */
    backoffMsMin: positiveMs,
    backoffMsMax: positiveMs,
    /** how often a replica tells its peers how far its per-key logs are decided (learners catch up) */
    syncIntervalMs: positiveMs,
    /** the most keys one sync message describes (a cursor walks the rest in later syncs) */
    syncBatchKeys: count,
    /** the most decided instances one catch-up reply carries */
    catchupBatchInstances: count,
    /** the most commands in one proposed batch (a key's commands queued here while its instance runs) */
    maxBatchCommands: count,
    /** the most keys this replica has an own fast proposal in flight for */
    maxInflightInstances: count,
    /** the most client commands waiting here (queued or proposed) for execution */
    maxPendingCommands: count,
    /** the most undecided instances this replica tracks (votes, recovery watches, recoveries) */
    maxOpenInstances: count,
    /**
     * TEST-ONLY fault injection, to prove the conformance suite catches real bugs. Never set it in a
     * benchmark. 'recovery-ignores-selection-rule': a recovery round proposes this replica's own command
     * for the key (or a no-op) instead of the value Lamport's rule selects.
     */
    testFault: z.enum(['none', 'recovery-ignores-selection-rule']),
  })
  .refine((c) => c.backoffMsMin <= c.backoffMsMax, {
    message: 'backoffMsMin must not exceed backoffMsMax',
    path: ['backoffMsMin'],
  })

export type FastPaxosConfig = z.output<typeof fastPaxosConfigSchema>
export type FastPaxosTestFault = FastPaxosConfig['testFault']

export const FASTPAXOS_DEFAULTS: FastPaxosConfig = {
  quorumChoice: 'max-f',
  recovery: 'coordinated',
  retransmitMs: 300,
  recoveryTimeoutMs: 150,
  failoverTimeoutMs: 500,
  backoffMsMin: 5,
  backoffMsMax: 200,
  syncIntervalMs: 200,
  syncBatchKeys: 256,
  catchupBatchInstances: 256,
  maxBatchCommands: 64,
  maxInflightInstances: 1024,
  maxPendingCommands: 10_000,
  maxOpenInstances: 4096,
  testFault: 'none',
}

export function parseFastPaxosConfig(raw: unknown): FastPaxosConfig {
  return parseEngineConfig('fastpaxos', fastPaxosConfigSchema, FASTPAXOS_DEFAULTS, raw)
}
