/**
 * The replica process: `node --import tsx engines/host/main.ts --config <file.json>` (cwd = repo root).
 * Prints one JSON line {"event":"listening",...} on stdout when both listeners are up; logs go to stderr.
 * Exit codes: 0 after SIGTERM/SIGINT, 2 for a bad config (file, field, fix), 1 for `port taken: <address>`
 * and any other failure. See engines/host/README.md.
 */
import { runReplicaProcessOrExit } from './replica-process.ts'

runReplicaProcessOrExit()
