/**
 * The conflict-rate key choice from DESIGN.md ("Workloads and measurement"):
 * with probability `conflict` a command targets a key drawn from a small shared pool (default one hot
 * key); otherwise it targets a key private to its client. Private keys carry the client id in their
 * name, so they can never collide across clients (the anchors' "unique keys from a loop index" bug).
 * The read ratio is a separate knob (FrankenPaxos coupled the two).
 */
import type { Random } from './random.ts'

export interface KeyChoiceOptions {
  /** probability in [0, 1] that a command targets the shared pool */
  readonly conflict: number
  /** size of the shared pool; >= 1 */
  readonly sharedKeys: number
  /** keys private to each client; >= 1 */
  readonly privateKeysPerClient: number
}

export function sharedKeyName(index: number): string {
  return `shared-${index}`
}

export function privateKeyName(client: string, index: number): string {
  return `${client}-k${index}`
}

/** A chooser for one client: returns the key of its next command. */
export function keyChooser(client: string, options: KeyChoiceOptions, random: Random): () => string {
  const { conflict, sharedKeys, privateKeysPerClient } = options
  if (!(conflict >= 0 && conflict <= 1)) throw new Error(`conflict must be in [0, 1], got ${conflict}`)
  if (!Number.isInteger(sharedKeys) || sharedKeys < 1) throw new Error(`sharedKeys must be >= 1`)
  if (!Number.isInteger(privateKeysPerClient) || privateKeysPerClient < 1) {
    throw new Error(`privateKeysPerClient must be >= 1`)
  }
  const privateKeys = Array.from({ length: privateKeysPerClient }, (_, i) => privateKeyName(client, i))
  const shared = Array.from({ length: sharedKeys }, (_, i) => sharedKeyName(i))
  // the draw for "shared or private" is always taken, so c = 0 and c = 1 use the same stream layout
  return () => {
    const toShared = random() < conflict
    const pool = toShared ? shared : privateKeys
    return pool[Math.floor(random() * pool.length)]!
  }
}
