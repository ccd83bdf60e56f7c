/**
 * EPaxos configuration: explicit data with units in the names, parsed strictly (a misspelt field is an
 * error). See README.md for what each field does.
 */
import { z } from 'zod'
import { parseEngineConfig } from '../core/config.ts'

const positiveMs = z.number().positive().max(3_600_000)
const count = z.number().int().min(1).max(1_000_000)

export const epaxosConfigSchema = z
  .strictObject({
    /** how often the replica looks at its timers (retransmits, recoveries, sync); one timer for all */
    tickMs: positiveMs,
    /** a PreAccept, Accept or Prepare unanswered for this long is sent again to the replicas that have not answered */
    retransmitMs: positiveMs,
    /** an instance this replica knows of (or a dependency it has not seen) that stays uncommitted for a random 1-2x this starts explicit prepare */
    recoveryTimeoutMs: positiveMs,
    /** how often a replica tells its peers the highest instance it knows per command leader (catch-up of missed commits) */
    syncIntervalMs: positiveMs,
    /** thrifty mode: PreAccept goes to a fast quorum only and Accept to a slow quorum only (all others after a retransmit) */
    thrifty: z.boolean(),
    /** the most instances this replica leads at once (its own proposals); more commands wait in its queue */
    maxInflightInstances: count,
    /** the most explicit prepares this replica runs at once */
    maxRecoveries: count,
    /** the most client commands waiting at this replica for execution */
    maxPendingCommands: count,
    /** the most unseen instance numbers a sync makes this replica watch per tick */
    maxWatchPerTick: count,
    /**
     * TEST-ONLY fault injection, to prove the conformance suite catches real bugs. Never set it in a
     * benchmark. 'fast-path-one-short': the command leader takes the fast path with one PreAcceptOK
     * fewer than the fast quorum needs.
     */
    testFault: z.enum(['none', 'fast-path-one-short']),
  })
  .refine((c) => c.retransmitMs < c.recoveryTimeoutMs, {
    message:
      'retransmitMs must be below recoveryTimeoutMs (a leader retransmits before others recover its instance)',
    path: ['retransmitMs'],
  })

export type EpaxosConfig = z.output<typeof epaxosConfigSchema>
export type EpaxosTestFault = EpaxosConfig['testFault']

export const EPAXOS_DEFAULTS: EpaxosConfig = {
  tickMs: 20,
  retransmitMs: 200,
  recoveryTimeoutMs: 500,
  syncIntervalMs: 200,
  thrifty: false,
  maxInflightInstances: 64,
  maxRecoveries: 32,
  maxPendingCommands: 10_000,
  maxWatchPerTick: 256,
  testFault: 'none',
}

export function parseEpaxosConfig(raw: unknown): EpaxosConfig {
  return parseEngineConfig('epaxos', epaxosConfigSchema, EPAXOS_DEFAULTS, raw)
}
