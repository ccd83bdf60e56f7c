/** main.ts hosting the test-sequencer fixture engine, for process-level tests before a real engine exists. */
import { runReplicaProcessOrExit } from '../replica-process.ts'
import { sequencerEngine } from './sequencer-engine.ts'

runReplicaProcessOrExit({ engineOverride: sequencerEngine })
