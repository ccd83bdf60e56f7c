/**
 * etcd as a built-in external engine: Debian's etcd-server (3.4), members on 127.0.0.x, driven through
 * its v3 HTTP gateway (put, and range, which is linearizable by default: a ReadIndex round at the
 * leader). Plain data, validated by the same schema as a user's definition (README.md beside this file).
 *
 * Config: heartbeatIntervalMs and electionTimeoutMs are etcd's --heartbeat-interval and
 * --election-timeout (its tuning guide: heartbeat about the members' RTT, election timeout at least
 * 10x the RTT; the defaults 100 / 1000 ms suit a LAN); snapshotCount is --snapshot-count.
 */
import { type ExternalEngine, parseExternalEngine } from './schema.ts'

export const etcd: ExternalEngine = parseExternalEngine({
  kind: 'external',
  description: 'etcd 3.4 (Debian etcd-server), v3 HTTP gateway; the production Raft as a yardstick',
  command: [
    'etcd',
    '--name={name}',
    '--data-dir={dataDir}',
    '--listen-peer-urls=http://{peerListen}',
    '--initial-advertise-peer-urls=http://{advertisePeer}',
    '--listen-client-urls=http://{clientListen}',
    '--advertise-client-urls=http://{clientListen}',
    '--initial-cluster={membersUrl}',
    '--initial-cluster-token={clusterToken}',
    '--initial-cluster-state=new',
    '--heartbeat-interval={config.heartbeatIntervalMs}',
    '--election-timeout={config.electionTimeoutMs}',
    '--snapshot-count={config.snapshotCount}',
    '--logger=zap',
    '--log-level=warn',
  ],
  install: 'apt-get install etcd-server (Debian), or put an etcd 3.4+ binary on PATH',
  dataDir: 'disk',
  config: { heartbeatIntervalMs: 100, electionTimeoutMs: 1000, snapshotCount: 100_000 },
  // a member's peer URL is one cluster-wide fact (its member id is a hash of it), so links are told
  // apart by the X-Server-From header etcd's peers send (the sender's member id, hex)
  peers: { mode: 'shared', header: 'X-Server-From', identity: 'etcd-member-id' },
  health: { method: 'GET', path: '/health' },
  leader: {
    method: 'POST',
    path: '/v3/maintenance/status',
    json: {},
    self: 'header.member_id',
    leader: 'leader',
  },
  // etcd 3.4's MoveLeader on the gateway (what `etcdctl move-leader` calls), at the current leader
  moveLeader: {
    method: 'POST',
    path: '/v3/maintenance/transfer-leadership',
    json: { targetID: '{targetId}' },
  },
  model: 'raft',
  api: {
    put: { method: 'POST', path: '/v3/kv/put', json: { key: '{keyBase64}', value: '{valueBase64}' } },
    get: {
      method: 'POST',
      path: '/v3/kv/range',
      json: { key: '{keyBase64}' },
      value: { json: 'kvs.0.value', encoding: 'base64' },
    },
  },
})

/** The built-in external engines, by name. */
export const BUILTIN_EXTERNAL_ENGINES: Readonly<Record<string, ExternalEngine>> = { etcd }
