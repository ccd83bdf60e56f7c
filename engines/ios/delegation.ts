/**
 * The master's choice of coordinator for each batch of slots, and how it moves delegation away from
 * coordinators that miss their deadline or are slow (the "dynamic" part of Ios's delegation).
 *
 * - 'rotate': round-robin over the rotateAmong nodes after the master in node order (0: all others).
 * - 'reverse': the origin, the node that forwarded the commands, coordinates them (it already holds
 *   them and answers their client, so the coordinator's commit reaches the client one hop sooner).
 * A suspected coordinator (missed a deadline, or a mean commit latency above slowFactor x the typical one)
 * gets no new slots for suspectMs; when every candidate is suspected the master coordinates itself.
 *
 * A slot's deadline adapts to how long commits take now: slowFactor x the mean commit latency over every
 * coordinator, at least coordinatorTimeoutMs, doubled each time the slot has already been moved. With a
 * fixed deadline a cluster slowed down as a whole (a CPU-starved host) moved every in-flight slot again and
 * again, each move adding a phase 2, until it collapsed; a late slot must be late compared with the others.
 * The mean and the deadline rule are engines/core/adaptive.ts (Multi-Paxos' accept resends use them too).
 */
import { adaptiveDeadlineMs, LatencyMean } from '../core/adaptive.ts'
import type { NodeId } from '../core/command.ts'

export interface DelegationConfig {
  readonly delegation: 'rotate' | 'reverse'
  readonly rotateAmong: number
  readonly coordinatorTimeoutMs: number
  readonly coordinatorTimeoutMsMax: number
  readonly suspectMs: number
  readonly slowFactor: number
}

/** samples before a coordinator's mean latency is trusted for the slowness test */
const MIN_SAMPLES = 8

interface CoordinatorStats {
  readonly latency: LatencyMean
  suspectUntilMs: number
}

/** The coordinators a master takes turns with: the rotateAmong nodes after it (0: all others). */
export function rotation(nodes: readonly NodeId[], master: NodeId, rotateAmong: number): NodeId[] {
  const at = nodes.indexOf(master)
  if (at < 0) throw new Error(`master ${master} is not a node`)
  const others = nodes.length - 1
  const k = rotateAmong === 0 ? others : Math.min(rotateAmong, others)
  return Array.from({ length: k }, (_, i) => nodes[(at + 1 + i) % nodes.length]!)
}

export class Delegation {
  private readonly rotation: readonly NodeId[]
  private next = 0
  private readonly stats = new Map<NodeId, CoordinatorStats>()
  /** commit latency over every coordinator, the master included */
  private readonly typical = new LatencyMean()

  constructor(
    private readonly cfg: DelegationConfig,
    nodes: readonly NodeId[],
    private readonly master: NodeId,
  ) {
    this.rotation = rotation(nodes, master, cfg.rotateAmong)
  }

  /** The coordinator for commands that arrived at `origin`. */
  pick(origin: NodeId, nowMs: number): NodeId {
    if (this.cfg.delegation === 'reverse' && this.usable(origin, nowMs)) return origin
    // rotation is empty in a one-node cluster: the master coordinates
    for (let tried = 0; tried < this.rotation.length; tried++) {
      const node = this.rotation[this.next]!
      this.next = (this.next + 1) % this.rotation.length
      if (this.usable(node, nowMs)) return node
    }
    return this.master
  }

  /** A different coordinator than `failed` for a slot that missed its deadline. */
  pickOther(failed: NodeId, origin: NodeId, nowMs: number): NodeId {
    const choice = this.pick(origin, nowMs)
    return choice === failed ? this.master : choice
  }

  /** A coordinator committed a slot `latencyMs` after the master assigned it. */
  committed(node: NodeId, latencyMs: number): void {
    this.typical.add(latencyMs)
    this.statsOf(node).latency.add(latencyMs)
  }

  /** How long a slot already moved `moves` times may stay uncommitted before it moves again. */
  deadlineMs(moves: number): number {
    return Math.min(
      this.cfg.coordinatorTimeoutMsMax,
      adaptiveDeadlineMs(this.cfg.coordinatorTimeoutMs, this.cfg.slowFactor, this.typical, moves),
    )
  }

  /** A coordinator missed its deadline: no new slots for suspectMs. Returns whether it was news. */
  suspect(node: NodeId, nowMs: number): boolean {
    if (node === this.master) return false
    const s = this.statsOf(node)
    const fresh = s.suspectUntilMs <= nowMs
    s.suspectUntilMs = nowMs + this.cfg.suspectMs
    s.latency.reset() // judged afresh when it comes back
    return fresh
  }

  /**
   * Whether `node` may coordinate now. A node found slow compared with the typical coordinator (the
   * lower median of the unsuspected coordinators' means) is suspected here (for suspectMs, then judged
   * afresh), so slowness never excludes a node for good. The median, not the best: on a loaded host one
   * coordinator's mean is often far below the others' for a while, and comparing with it suspected
   * every other coordinator in turn and piled the slots on that one.
   */
  usable(node: NodeId, nowMs: number): boolean {
    if (node === this.master) return true
    const s = this.stats.get(node)
    if (s === undefined) return true
    if (s.suspectUntilMs > nowMs) return false
    if (s.latency.samples < MIN_SAMPLES) return true
    const means: number[] = []
    for (const other of this.stats.values())
      if (other.latency.samples >= MIN_SAMPLES && other.suspectUntilMs <= nowMs) means.push(other.latency.ms)
    means.sort((a, b) => a - b)
    const typical = means[Math.floor((means.length - 1) / 2)]!
    if (s.latency.ms <= this.cfg.slowFactor * Math.max(typical, 1)) return true
    this.suspect(node, nowMs)
    return false
  }

  private statsOf(node: NodeId): CoordinatorStats {
    let s = this.stats.get(node)
    if (s === undefined) {
      s = { latency: new LatencyMean(), suspectUntilMs: 0 }
      this.stats.set(node, s)
    }
    return s
  }
}
