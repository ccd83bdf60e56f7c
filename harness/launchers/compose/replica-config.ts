/**
 * A replica's prelude in relay mode: CB_REPLICA_CONFIG with each peer's peerAddress replaced by the
 * relay address the sidecar wrote to the shared volume (compose-file.ts RELAY_ADDRESSES_FILE), written
 * to the path given as the only argument. The sidecar is healthy (so the file exists) before this runs.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { RELAY_ADDRESSES_FILE } from './compose-file.ts'

export function withRelayAddresses(
  config: { id: string; nodes: { id: string; peerAddress: string }[] },
  addresses: Readonly<Record<string, string>>,
): typeof config {
  return {
    ...config,
    nodes: config.nodes.map((n) =>
      n.id === config.id ? n : { ...n, peerAddress: addresses[n.id] ?? n.peerAddress },
    ),
  }
}

if (process.argv[1]?.endsWith('replica-config.ts')) {
  const out = process.argv[2]
  const raw = process.env.CB_REPLICA_CONFIG
  if (out === undefined || raw === undefined) {
    process.stderr.write('replica-config: usage: CB_REPLICA_CONFIG=... replica-config.ts <out.json>\n')
    process.exit(2)
  }
  const addresses = JSON.parse(readFileSync(RELAY_ADDRESSES_FILE, 'utf8')) as Record<string, string>
  writeFileSync(out, `${JSON.stringify(withRelayAddresses(JSON.parse(raw), addresses), null, 2)}\n`)
}
