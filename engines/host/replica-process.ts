/**
 * The replica process body, shared by main.ts and test entry points that host a fixture engine.
 * Usage: `node --import tsx engines/host/main.ts --config <file.json>`.
 * Prints one JSON line {"event":"listening",...} on stdout when both listeners are up; logs go to stderr.
 * Exit codes: 0 after SIGTERM/SIGINT, 2 for a bad config (file, field, fix), 1 for `port taken: <address>`
 * and any other failure.
 */
import { parseArgs } from 'node:util'
import { EXIT } from '../../harness/exit-codes.ts'
import { loadReplicaConfig, ReplicaConfigError } from './config.ts'
import { PortTakenError, type ReplicaHandle, type ReplicaOptions, startReplica } from './replica.ts'

function fail(message: string, code: number): never {
  process.stderr.write(`${message}\n`)
  process.exit(code)
}

/** Parses process.argv, starts the replica, prints the listening line, exits on SIGTERM/SIGINT. */
export async function runReplicaProcess(
  options: Omit<ReplicaOptions, 'configFile' | 'onFatal'> = {},
): Promise<void> {
  let configFile: string | undefined
  try {
    configFile = parseArgs({ options: { config: { type: 'string' } }, strict: true }).values.config
  } catch (err) {
    fail(
      `${(err as Error).message}\n  usage: node --import tsx engines/host/main.ts --config <file.json>`,
      EXIT.invalidInput,
    )
  }
  if (configFile === undefined) {
    fail(
      'missing --config <file.json>\n  usage: node --import tsx engines/host/main.ts --config <file.json>',
      EXIT.invalidInput,
    )
  }
  // Handlers go in before the replica starts, so a SIGTERM during startup is a clean exit 0 too.
  let replica: ReplicaHandle | null = null
  let stopSignal: string | null = null
  const stop = (running: ReplicaHandle): void => {
    process.stderr.write(`[${running.id}] ${stopSignal}: shutting down\n`)
    // A shutdown that hangs must not outlive the launcher's patience.
    setTimeout(() => fail(`[${running.id}] shutdown took over 2 s, exiting`, 1), 2_000).unref()
    running.close().then(
      () => process.exit(0),
      (err: unknown) => fail(`[${running.id}] shutdown failed: ${(err as Error).message}`, 1),
    )
  }
  const onSignal = (signal: string): void => {
    if (stopSignal !== null) return
    stopSignal = signal
    if (replica !== null) stop(replica)
  }
  process.on('SIGTERM', () => onSignal('SIGTERM'))
  process.on('SIGINT', () => onSignal('SIGINT'))
  try {
    const config = loadReplicaConfig(configFile)
    replica = await startReplica(config, {
      ...options,
      configFile,
      onFatal: (err) => fail(`[${config.id}] fatal: ${err.stack ?? err.message}`, 1),
    })
  } catch (err) {
    if (err instanceof ReplicaConfigError) fail(err.message, EXIT.invalidInput)
    if (err instanceof PortTakenError) fail(err.message, 1)
    fail(`replica failed to start: ${(err as Error).stack ?? String(err)}`, 1)
  }
  if (stopSignal !== null) {
    stop(replica)
    return
  }
  process.stdout.write(
    `${JSON.stringify({
      event: 'listening',
      id: replica.id,
      peer: replica.peerAddress,
      client: replica.clientAddress,
      pid: process.pid,
    })}\n`,
  )
}

export function runReplicaProcessOrExit(options: Omit<ReplicaOptions, 'configFile' | 'onFatal'> = {}): void {
  runReplicaProcess(options).catch((err: unknown) =>
    fail(`replica crashed: ${(err as Error).stack ?? String(err)}`, 1),
  )
}
