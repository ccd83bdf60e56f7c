/**
 * Viewstamped Replication configuration: explicit data with units in the names, parsed strictly (a
 * misspelt field is an error). See README.md for what each field does.
 */
import { z } from 'zod'
import { parseEngineConfig } from '../core/config.ts'

const positiveMs = z.number().positive().max(3_600_000)
const count = z.number().int().min(1).max(1_000_000)

export const vrConfigSchema = z
  .strictObject({
    /** how often the primary sends Commit(view, commit-number) to every backup (its heartbeat) */
    commitIntervalMs: positiveMs,
    /** a backup that hears nothing from its primary for a uniform draw in [min, max] starts a view change */
    viewChangeTimeoutMsMin: positiveMs,
    viewChangeTimeoutMsMax: positiveMs,
    /** unanswered Prepare, StartViewChange, DoViewChange, Recovery or GetState messages are resent */
    retransmitMs: positiveMs,
    /** a command forwarded to the primary and not executed within this long is forwarded again */
    forwardRetryMs: positiveMs,
    /**
     * each re-forward of the same command doubles its wait, at most this many times (3: 8 x forwardRetryMs);
     * 0 re-forwards every forwardRetryMs, however slow the path (README "Forwarding")
     */
    forwardRetryDoublingsMax: z.number().int().min(0).max(10),
    /** the most client commands one op (log entry) carries; also per forward message */
    batchMaxCommands: count,
    /** the most ops the primary has prepared and not yet committed (the pipeline window) */
    maxInflightOps: count,
    /** the most ops one NewState (state transfer) message carries */
    stateTransferBatchOps: count,
    /** the most commands waiting at the primary for an op; beyond it forwarded commands are dropped */
    maxQueuedCommands: count,
    /** the most client commands waiting for execution at the replica where they arrived */
    maxPendingCommands: count,
    /** the view every replica starts in at first boot; its primary is nodes[initialView mod n] */
    initialView: z.number().int().min(0).max(1_000_000),
    /**
     * At first boot, a backup that has not yet heard from the initial primary waits this much longer
     * before its first view change: replica processes start at different times, and a primary that
     * starts a little late should keep the place initialView gave it.
     */
    firstBootGraceMs: z.number().min(0).max(3_600_000),
    /**
     * 'durable': view, status, log and commit-number are written to storage and a restart resumes from
     * them. 'volatile': the paper's VRR, which keeps nothing on disk but a boot marker; a restarted
     * replica rebuilds its state from its peers with the recovery protocol (sec. 4.3).
     */
    persistence: z.enum(['durable', 'volatile']),
    /**
     * TEST-ONLY fault injection, to prove the conformance suite catches real bugs. Never set it in a
     * benchmark. 'reply-before-quorum': the primary commits (executes and replies) an op as soon as it
     * is in its own log, without waiting for f PrepareOKs.
     */
    testFault: z.enum(['none', 'reply-before-quorum']),
  })
  .refine((c) => c.viewChangeTimeoutMsMin <= c.viewChangeTimeoutMsMax, {
    message: 'viewChangeTimeoutMsMin must not exceed viewChangeTimeoutMsMax',
    path: ['viewChangeTimeoutMsMin'],
  })
  .refine((c) => c.commitIntervalMs < c.viewChangeTimeoutMsMin, {
    message: 'commitIntervalMs must be below viewChangeTimeoutMsMin, or backups suspect a live primary',
    path: ['commitIntervalMs'],
  })

export type VrConfig = z.output<typeof vrConfigSchema>
export type VrTestFault = VrConfig['testFault']

export const VR_DEFAULTS: VrConfig = {
  commitIntervalMs: 50,
  viewChangeTimeoutMsMin: 500,
  viewChangeTimeoutMsMax: 1000,
  retransmitMs: 300,
  forwardRetryMs: 1000,
  forwardRetryDoublingsMax: 3,
  batchMaxCommands: 64,
  maxInflightOps: 256,
  stateTransferBatchOps: 256,
  maxQueuedCommands: 10_000,
  maxPendingCommands: 10_000,
  initialView: 0,
  firstBootGraceMs: 2000,
  persistence: 'durable',
  testFault: 'none',
}

export function parseVrConfig(raw: unknown): VrConfig {
  return parseEngineConfig('vr', vrConfigSchema, VR_DEFAULTS, raw)
}

/** The primary of `view`: the (view mod n)-th node of the sorted node list (sec. 4; the same at every replica). */
export function primaryOfView(view: number, nodes: readonly string[]): string {
  if (nodes.length === 0) throw new RangeError('no nodes')
  const sorted = [...nodes].sort()
  return sorted[view % sorted.length]!
}

/** Where the primary starts: what a benchmark passes as LatencyModel.leader for VR. */
export function initialPrimary(config: VrConfig, nodes: readonly string[]): string {
  return primaryOfView(config.initialView, nodes)
}
