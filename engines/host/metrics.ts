/**
 * The counters behind GET /metrics. Every counter only grows, so the harness can take deltas between
 * two scrapes; inFlight is the one gauge.
 */
import type { EngineEvent } from '../core/engine.ts'
import type { StorageStats } from './storage.ts'

export interface TypeCounter {
  count: number
  bytes: number
}

export type EventCounts = Record<EngineEvent['type'], number>

export interface TransportCounters {
  /** frames dropped from a full outbound queue or a backed-up socket (protocols retransmit) */
  framesDropped: number
  /** outbound connections established (the first one and every reconnect) */
  connects: number
  /** inbound connections closed for a malformed frame, a missing hello or an unknown sender */
  malformedConnections: number
}

export class ReplicaMetrics {
  readonly sent = new Map<string, TypeCounter>()
  readonly received = new Map<string, TypeCounter>()
  /** messages an engine sent to itself, per type: also in sent and received (with 0 bytes), never on a wire */
  readonly self = new Map<string, number>()
  readonly events: EventCounts = {
    commit: 0,
    'fast-path': 0,
    'slow-path': 0,
    elected: 0,
    'stepped-down': 0,
    recovery: 0,
    'snapshot-taken': 0,
    'snapshot-installed': 0,
    'snapshot-restored': 0,
  }
  commandsCommitted = 0
  readonly requests = { received: 0, replied: 0, inFlight: 0 }
  readonly transport: TransportCounters = { framesDropped: 0, connects: 0, malformedConnections: 0 }
  private readonly startedAtMs = performance.now()
  private readonly cpuAtStart = process.cpuUsage()

  constructor(
    private readonly id: string,
    private readonly engine: string,
    private readonly storageStats: () => StorageStats,
  ) {}

  countSent(type: string, bytes: number): void {
    count(this.sent, type, bytes)
  }

  countReceived(type: string, bytes: number): void {
    count(this.received, type, bytes)
  }

  /** a message to itself: counts it as sent now (received is counted at delivery, as for any message) */
  countSelfSent(type: string): void {
    count(this.sent, type, 0)
    this.self.set(type, (this.self.get(type) ?? 0) + 1)
  }

  countEvent(event: EngineEvent): void {
    this.events[event.type]++
    if (event.type === 'commit') this.commandsCommitted += event.commands
  }

  uptimeMs(): number {
    return Math.round(performance.now() - this.startedAtMs)
  }

  snapshot(): MetricsSnapshot {
    const cpu = process.cpuUsage(this.cpuAtStart)
    const storage = this.storageStats()
    return {
      id: this.id,
      engine: this.engine,
      uptimeMs: this.uptimeMs(),
      cpuUs: { user: cpu.user, system: cpu.system, total: cpu.user + cpu.system },
      rssBytes: process.memoryUsage.rss(),
      messages: {
        sent: Object.fromEntries(this.sent),
        received: Object.fromEntries(this.received),
        self: Object.fromEntries(this.self),
      },
      events: { ...this.events },
      commandsCommitted: this.commandsCommitted,
      requests: { ...this.requests },
      storage: { fsyncs: storage.fsyncs, bytesWritten: storage.bytesWritten },
      transport: { ...this.transport },
    }
  }
}

function count(map: Map<string, TypeCounter>, type: string, bytes: number): void {
  const counter = map.get(type)
  if (counter === undefined) map.set(type, { count: 1, bytes })
  else {
    counter.count++
    counter.bytes += bytes
  }
}

export interface MetricsSnapshot {
  id: string
  engine: string
  uptimeMs: number
  /** process CPU time since the replica started, microseconds */
  cpuUs: { user: number; system: number; total: number }
  rssBytes: number
  /** `self` counts messages to itself per type; each is also one sent and one received (0 bytes) */
  messages: {
    sent: Record<string, TypeCounter>
    received: Record<string, TypeCounter>
    self: Record<string, number>
  }
  events: EventCounts
  commandsCommitted: number
  requests: { received: number; replied: number; inFlight: number }
  storage: StorageStats
  transport: TransportCounters
}
