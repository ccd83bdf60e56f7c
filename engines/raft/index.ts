/**
 * Raft (Ongaro & Ousterhout, "In Search of an Understandable Consensus Algorithm", USENIX ATC'14): a
 * strong leader elected with randomized timeouts replicates its log with AppendEntries. See README.md.
 */
import type { EngineModule, LatencyModel } from '../core/engine.ts'
import { parseRaftConfig, type RaftConfig } from './config.ts'
import { raftExpectedLatencyMs } from './latency.ts'
import type { RaftMessage } from './messages.ts'
import { RaftReplica } from './replica.ts'

export type { RaftConfig, RaftTestFault } from './config.ts'
export { parseRaftConfig, RAFT_DEFAULTS } from './config.ts'
export { raftExpectedLatencyMs } from './latency.ts'
export type { EntryValue, LogEntry, RaftMessage } from './messages.ts'
export { RaftReplica } from './replica.ts'

export const raftEngine: EngineModule<RaftMessage, RaftConfig> = {
  name: 'raft',
  leadership: 'leader',
  // the ATC paper's sec. 7 sketches compaction; check-quorum and pre-vote are from the thesis
  extras: ['log compaction', 'check-quorum', 'pre-vote'],
  description: 'Raft (Ongaro & Ousterhout, ATC 2014): elected leader, log replication, 1 RTT at the leader',
  parseConfig: parseRaftConfig,
  create: (ctx) => new RaftReplica(ctx),
  expectedLatencyMs: (model: LatencyModel, _config: RaftConfig) => raftExpectedLatencyMs(model),
}
