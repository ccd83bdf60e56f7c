/**
 * Classic Paxos configuration: explicit data with units in the names, parsed strictly (a misspelt field
 * is an error). See README.md for what each field does.
 */
import { z } from 'zod'
import { parseEngineConfig } from '../core/config.ts'

const positiveMs = z.number().positive().max(3_600_000)
const count = z.number().int().min(1).max(1_000_000)

export const paxosConfigSchema = z
  .strictObject({
    /** a prepare or accept unanswered by some acceptor for this long is sent to it again (same ballot) */
    retransmitMs: positiveMs,
    /** a preempted proposer waits a uniform draw in [min, upper] before retrying with a higher ballot */
    backoffMsMin: positiveMs,
    /** the cap of that upper bound, which doubles with each consecutive preemption of one instance */
    backoffMsMax: positiveMs,
    /** how often a replica tells its peers how far its per-key sequences are decided (learners catch up from it) */
    syncIntervalMs: positiveMs,
    /** the most keys one sync message describes (a cursor walks all keys, this many per sync) */
    syncBatchKeys: count,
    /** how long a key's executed prefix may stall on an undecided instance below a decided one before this replica runs an instance to fill it */
    holeTimeoutMs: positiveMs,
    /** the most instances this replica runs as proposer at once */
    maxInflightInstances: count,
    /** the most client commands waiting at this replica (queued or in an instance) for execution */
    maxPendingCommands: count,
    /** the most decided instances one catch-up reply carries */
    catchupBatchInstances: count,
    /**
     * TEST-ONLY fault injection, to prove the conformance suite catches real bugs. Never set it in a
     * benchmark. 'ignore-promise-values': phase 2 proposes the proposer's own command even when a
     * promise reported an accepted value (it should propose the value of the highest accepted ballot).
     */
    testFault: z.enum(['none', 'ignore-promise-values']),
  })
  .refine((c) => c.backoffMsMin <= c.backoffMsMax, {
    message: 'backoffMsMin must not exceed backoffMsMax',
    path: ['backoffMsMin'],
  })

export type PaxosConfig = z.output<typeof paxosConfigSchema>
export type PaxosTestFault = PaxosConfig['testFault']

export const PAXOS_DEFAULTS: PaxosConfig = {
  retransmitMs: 300,
  backoffMsMin: 5,
  backoffMsMax: 200,
  syncIntervalMs: 200,
  syncBatchKeys: 256,
  holeTimeoutMs: 500,
  maxInflightInstances: 64,
  maxPendingCommands: 10_000,
  catchupBatchInstances: 256,
  testFault: 'none',
}

export function parsePaxosConfig(raw: unknown): PaxosConfig {
  return parseEngineConfig('paxos', paxosConfigSchema, PAXOS_DEFAULTS, raw)
}
