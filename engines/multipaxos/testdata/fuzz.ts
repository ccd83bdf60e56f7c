/**
 * A seeded fault fuzz of Multi-Paxos on the unit-test rig (the conformance suite on the simulator is the
 * main judge; this one needs nothing but the engine). Safety phase: drops, duplicates, reordering,
 * partitions, crashes and restarts. Liveness phase: everything healed and up; every client command must
 * complete. Checks: replicas execute the same sequence (one is a prefix of the other), every replica ends
 * with the same KV, and no acknowledged write is lost.
 */
import type { Command } from '../../core/command.ts'
import { type MultiPaxosConfig, type MultiPaxosMessage, multipaxosEngine } from '../index.ts'
import { ClusterRig } from './rig.ts'

interface FuzzClient {
  readonly name: string
  seq: number
  outstanding: Command | null
  sentAtMs: number
  target: string
  lastAckedValue: string | null
  values: string[]
}

export interface FuzzResult {
  readonly seed: number
  readonly failure: string | null
}

export function fuzzOnce(seed: number, overrides: Partial<MultiPaxosConfig> = {}): FuzzResult {
  const config = multipaxosEngine.parseConfig({
    heartbeatIntervalMs: 20,
    leaderTimeoutMsMin: 150,
    leaderTimeoutMsMax: 300,
    retransmitMs: 60,
    forwardRetryMs: 200,
    ...overrides,
  })
  const n = seed % 2 === 0 ? 3 : 5
  const rig = new ClusterRig<MultiPaxosMessage, MultiPaxosConfig>(multipaxosEngine, n, config, 3, seed)
  rig.recordDelivered = false
  rig.jitterMs = 6
  rig.duplicateProb = 0.05
  const rnd = rig.random
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!
  try {
    rig.startAll()
    const clients: FuzzClient[] = Array.from({ length: 4 }, (_, i) => ({
      name: `c${i}`,
      seq: 0,
      outstanding: null,
      sentAtMs: 0,
      target: rig.ids[i % n]!,
      lastAckedValue: null,
      values: [],
    }))
    const down = new Set<string>()
    let cut = new Set<string>() // nodes cut off from the rest
    let dropProb = 0
    rig.dropIf = (from, to) => cut.has(from) !== cut.has(to) || (dropProb > 0 && rnd() < dropProb)

    const clientStep = (liveness: boolean): void => {
      for (const c of clients) {
        if (c.outstanding !== null) {
          const cmd = c.outstanding
          const node = rig.node(c.target)
          const reply = node.replies.find((r) => r.id.client === c.name && r.id.seq === cmd.id.seq)
          if (reply !== undefined) {
            if (reply.outcome.status !== 'ok') throw new Error(`rejected: ${JSON.stringify(reply.outcome)}`)
            if (cmd.op === 'put') c.lastAckedValue = cmd.value
            else if (reply.outcome.value !== c.lastAckedValue)
              throw new Error(`${c.name} read ${reply.outcome.value}, last acked write ${c.lastAckedValue}`)
            c.outstanding = null
          } else if (rig.now - c.sentAtMs > 400) {
            // retry the same id at another replica
            const up = rig.ids.filter((id) => !down.has(id))
            c.target = pick(up)
            c.sentAtMs = rig.now
            rig.request(c.target, cmd)
          }
        }
        if (c.outstanding === null && !liveness) {
          if (down.has(c.target)) c.target = pick(rig.ids.filter((id) => !down.has(id)))
          c.seq++
          const cmd: Command =
            rnd() < 0.3
              ? { id: { client: c.name, seq: c.seq }, op: 'get', key: c.name }
              : { id: { client: c.name, seq: c.seq }, op: 'put', key: c.name, value: `${c.name}-${c.seq}` }
          if (cmd.op === 'put') c.values.push(cmd.value)
          c.outstanding = cmd
          c.sentAtMs = rig.now
          rig.request(c.target, cmd)
        }
      }
    }

    // Safety phase: 3 s of faults.
    for (let t = 0; t < 3000; t += 10) {
      if (rnd() < 0.01 && down.size < Math.floor((n - 1) / 2)) {
        const victim = pick(rig.ids.filter((id) => !down.has(id)))
        rig.crash(victim)
        down.add(victim)
      } else if (rnd() < 0.02 && down.size > 0) {
        const back = pick([...down])
        down.delete(back)
        rig.boot(back)
      }
      if (rnd() < 0.01) cut = rnd() < 0.5 ? new Set() : new Set([pick(rig.ids)])
      if (rnd() < 0.02) dropProb = rnd() < 0.5 ? 0 : rnd() * 0.2
      clientStep(false)
      rig.runFor(10)
    }
    // Liveness phase: heal, restart everything, stop issuing new commands; all outstanding must finish.
    cut = new Set()
    dropProb = 0
    rig.duplicateProb = 0
    for (const id of down) rig.boot(id)
    down.clear()
    for (let t = 0; t < 5000 && clients.some((c) => c.outstanding !== null); t += 10) {
      clientStep(true)
      rig.runFor(10)
    }
    const stuck = clients.filter((c) => c.outstanding !== null)
    if (stuck.length > 0) throw new Error(`liveness: ${stuck.map((c) => c.name).join(', ')} never completed`)
    rig.runFor(1000) // let every replica learn the tail
    const logs = rig.ids.map((id) => rig.node(id).executedLog)
    const longest = logs.reduce((a, b) => (b.length > a.length ? b : a))
    for (const [i, log] of logs.entries()) {
      for (let j = 0; j < log.length; j++)
        if (log[j] !== longest[j]) throw new Error(`replica ${rig.ids[i]} diverges at ${j}`)
      if (log.length !== longest.length) throw new Error(`replica ${rig.ids[i]} did not catch up`)
    }
    for (const c of clients) {
      for (const id of rig.ids) {
        const v = rig.node(id).kv.read(c.name)
        if (v !== c.lastAckedValue)
          throw new Error(`${id} holds ${v} for ${c.name}, acked ${c.lastAckedValue}`)
      }
    }
    return { seed, failure: null }
  } catch (err: unknown) {
    return { seed, failure: err instanceof Error ? err.message : String(err) }
  }
}
