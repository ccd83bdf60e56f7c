/**
 * The interaction test language shared by every engine (README.md): scenario files replayed against real
 * engine code on a manual network, with golden output (REWRITE=1 rewrites it).
 *
 *   interactionTests(raftEngine, new URL('./testdata/interaction', import.meta.url).pathname)
 */
export { type ExecutedEntry, ManualCluster, type MessageFilter, type QueuedMessage } from './cluster.ts'
export { COMMANDS, Session } from './commands.ts'
export { formatMessage, formatValue } from './format.ts'
export { InteractionError, parseScript, rewriteScript, type Script, type ScriptCommand } from './parser.ts'
export {
  diffLines,
  type InteractionResult,
  type InteractionRunOptions,
  interactionTests,
  runInteractionFile,
  runScript,
} from './runner.ts'
