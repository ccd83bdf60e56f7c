/**
 * The one interface both link shapers implement (DESIGN.md, "Network emulation"): the userspace relay
 * (`netem/relay/`) and the kernel shaper (`netem/kernel/`, tc + netem + iptables). The launcher builds a
 * NetworkSpec from a topology and a placement, asks the chosen shaper to apply it, and hands every
 * replica (and the load driver) the addresses the shaped network gives back. Engines only see addresses.
 *
 * Links are directed and named by endpoint ids (replica ids like `r0`, and client groups like
 * `clients@CA`): a partition or a delay change during a run targets one direction of one pair.
 */

/** How one direction of one link behaves. */
export interface LinkShape {
  /** one-way delay: RTT/2 of the sites' measured RTT */
  readonly delayMs: number
  /** spread around delayMs (the ping data's mdev / 2 for one way); 0 = none */
  readonly jitterMs: number
  readonly jitterDistribution: 'normal' | 'uniform' | 'pareto' | 'paretonormal'
  /** fraction of segments lost in [0, 1); the relay models a loss as one retransmission delay */
  readonly lossRate: number
  /** bytes per second, or null for no cap */
  readonly bandwidthBytesPerSec: number | null
}

/** One thing that sends or listens: a replica, or the clients of a site. */
export interface Endpoint {
  readonly id: string
  readonly site: string
  /** 127.0.0.x (local launcher) or a container address: what the kernel shaper filters on */
  readonly host: string
  /** host:port this endpoint's server really listens on (peer port for replicas); null for clients */
  readonly listenAddress: string | null
}

export interface NetworkSpec {
  readonly endpoints: readonly Endpoint[]
  /** the shape of each direction that is shaped; a pair not listed is unshaped (direct) */
  readonly links: readonly { readonly from: string; readonly to: string; readonly shape: LinkShape }[]
  /**
   * Shared inbound addresses (relay only): one address for every peer of `to`, the source of each
   * connection told by the value of `header` in its first HTTP request (`sources`: value -> endpoint id).
   * For systems whose peers must all dial a member at one address (etcd's peer URL, `X-Server-From`).
   */
  readonly inbound?: readonly InboundSpec[]
}

export interface InboundSpec {
  readonly to: string
  readonly header: string
  readonly sources: Readonly<Record<string, string>>
  /**
   * host:port to listen on, chosen by the caller (a system that derives identities from its peers'
   * addresses, as etcd's member ids, must know the address before the shaper starts); default: any
   */
  readonly listen?: string
}

export type PartitionMode = 'hold' | 'reset'

export interface ShapedNetwork {
  /** the address `from` must dial to reach `to`'s listenAddress through the shaper */
  addressFor(from: string, to: string): string
  /** the shared inbound address of `to` (NetworkSpec `inbound`); shapers without it leave it out */
  inboundAddressFor?(to: string): string
  /** change one direction of a link while the run goes (faults, tests) */
  setLink(from: string, to: string, shape: LinkShape): Promise<void>
  /** block one direction: 'hold' keeps bytes queued until heal, 'reset' drops connections and refuses */
  partition(from: string, to: string, mode: PartitionMode): Promise<void>
  heal(from: string, to: string): Promise<void>
  /** stops shaping and removes everything the shaper created (processes, qdiscs, rules); idempotent */
  close(): Promise<void>
}

export interface Shaper {
  readonly kind: 'relay' | 'kernel'
  apply(spec: NetworkSpec): Promise<ShapedNetwork>
}
