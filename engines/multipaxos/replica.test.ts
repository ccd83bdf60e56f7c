import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Command } from '../core/command.ts'
import {
  MULTIPAXOS_DEFAULTS,
  type MultiPaxosConfig,
  type MultiPaxosMessage,
  multipaxosEngine,
} from './index.ts'
import { ClusterRig, get, put } from './testdata/rig.ts'

function cluster(n: number, overrides: Partial<MultiPaxosConfig> = {}, seed = 1) {
  const config = multipaxosEngine.parseConfig(overrides)
  const rig = new ClusterRig<MultiPaxosMessage, MultiPaxosConfig>(multipaxosEngine, n, config, 5, seed)
  rig.startAll()
  return rig
}

function replyOf(rig: ClusterRig<MultiPaxosMessage, MultiPaxosConfig>, node: string, cmd: Command) {
  return rig.node(node).replies.find((r) => r.id.client === cmd.id.client && r.id.seq === cmd.id.seq)?.outcome
}

function leaders(rig: ClusterRig<MultiPaxosMessage, MultiPaxosConfig>): string[] {
  return rig.ids.filter((id) => rig.node(id).engine?.status().role === 'leader')
}

describe('multipaxos normal case', () => {
  it('the initial leader wins phase 1 at once and commits commands from every replica', () => {
    const rig = cluster(3)
    rig.runFor(20)
    assert.deepEqual(leaders(rig), ['r0'])
    assert.ok(rig.node('r0').events.some((e) => e.type === 'elected'))
    const cmds = rig.ids.map((_id, i) => put(`c${i}`, 'k', `v${i}`))
    for (const [i, cmd] of cmds.entries()) rig.request(rig.ids[i]!, cmd)
    rig.runFor(100)
    for (const [i, cmd] of cmds.entries())
      assert.deepEqual(replyOf(rig, rig.ids[i]!, cmd), { status: 'ok', value: null })
    const read = get('c9', 'k')
    rig.request('r2', read)
    rig.runFor(100)
    const outcome = replyOf(rig, 'r2', read)
    assert.equal(outcome?.status, 'ok')
    // Every replica executed the same commands in the same order.
    const order = rig.node('r0').executedLog
    assert.equal(order.length, 4)
    for (const id of rig.ids) assert.deepEqual(rig.node(id).executedLog, order)
    for (const id of rig.ids) assert.equal(rig.node(id).engine!.status().executed, 4)
  })

  it('commits in 1 RTT at the leader: a command at the leader is answered after 2 link delays', () => {
    const rig = cluster(3)
    rig.runFor(50)
    const cmd = put('a', 'x', '1')
    const start = rig.now
    rig.request('r0', cmd)
    rig.runFor(100)
    const reply = rig.node('r0').replies.find((r) => r.id.seq === cmd.id.seq)
    assert.equal(reply?.at, start + 2 * rig.linkDelayMs)
  })

  it('a command at a follower is forwarded and answered there after forward + RTT + commit', () => {
    const rig = cluster(5)
    rig.runFor(50)
    const cmd = put('b', 'x', '1')
    const start = rig.now
    rig.request('r3', cmd)
    rig.runFor(100)
    assert.equal(rig.node('r0').replies.length, 0)
    const reply = rig.node('r3').replies.find((r) => r.id.seq === cmd.id.seq)
    assert.equal(reply?.at, start + 4 * rig.linkDelayMs)
  })

  it('batching packs queued commands into one slot, and the window bounds slots in flight', () => {
    const rig = cluster(3, { batching: true, batchMaxCommands: 4, batchDelayMs: 2, maxInflightSlots: 2 })
    rig.runFor(50)
    const cmds = Array.from({ length: 10 }, (_, i) => put(`k${i}`, `k${i}`, 'v'))
    let maxInflight = 0
    const accepts = new Map<number, number>()
    rig.dropIf = (_from, _to, msg) => {
      if (msg.type === 'accept') {
        accepts.set(msg.slot, msg.value.kind === 'batch' ? msg.value.commands.length : 0)
        maxInflight = Math.max(maxInflight, msg.slot - rig.node('r0').engine!.status().executed + 1)
      }
      return false
    }
    for (const cmd of cmds) rig.request('r0', cmd)
    rig.runFor(200)
    for (const cmd of cmds) assert.equal(replyOf(rig, 'r0', cmd)?.status, 'ok')
    assert.deepEqual([...accepts.values()], [4, 4, 2])
    assert.ok(maxInflight <= 2, `in flight ${maxInflight}`)
  })
})

describe('multipaxos takeover', () => {
  it('a new leader re-proposes a value chosen but known committed only by the crashed leader', () => {
    const rig = cluster(3, {}, 7)
    rig.runFor(50)
    // r0's accept reaches r1 only; no commit or heartbeat from r0 gets out after that.
    rig.dropIf = (from, to, msg) =>
      from === 'r0' && (msg.type === 'commit' || msg.type === 'heartbeat' || to === 'r2')
    const cmd = put('w', 'key', 'precious')
    rig.request('r0', cmd)
    rig.runFor(20)
    assert.deepEqual(replyOf(rig, 'r0', cmd), { status: 'ok', value: null })
    assert.equal(rig.node('r1').engine!.status().executed, 0) // r1 voted but does not know it is chosen
    rig.crash('r0')
    rig.dropIf = () => false
    rig.runFor(3000)
    const newLeaders = leaders(rig)
    assert.equal(newLeaders.length, 1)
    assert.notEqual(newLeaders[0], 'r0')
    const read = get('z', 'key')
    rig.request('r2', read)
    rig.runFor(500)
    assert.deepEqual(replyOf(rig, 'r2', read), { status: 'ok', value: 'precious' })
    assert.ok(rig.node(newLeaders[0]!).events.some((e) => e.type === 'elected'))
  })

  it('gaps below a re-proposed slot are filled with no-ops', () => {
    const rig = cluster(3, {}, 3)
    rig.runFor(50)
    // Slot 0's accept reaches nobody; slot 1's reaches r1. Then r0 dies.
    let accepts = 0
    rig.dropIf = (from, _to, msg) =>
      from === 'r0' && (msg.type !== 'accept' || ++accepts <= 2 || _to === 'r2' || msg.slot === 0)
    const lost = put('p', 'a', '1')
    const kept = put('q', 'b', '2')
    rig.request('r0', lost)
    rig.request('r0', kept)
    rig.runFor(20)
    rig.crash('r0')
    rig.dropIf = () => false
    rig.runFor(3000)
    const leader = leaders(rig)[0]!
    const exec = rig.node(leader).executedLog
    assert.deepEqual(exec, ['q#' + kept.id.seq]) // slot 0 became a no-op, slot 1 kept its value
    assert.equal(rig.node(leader).engine!.status().executed, 2)
  })

  it('dueling candidates settle on one leader, and a node that sees a higher ballot steps down', () => {
    const rig = cluster(5, { leaderTimeoutMsMin: 100, leaderTimeoutMsMax: 120, heartbeatIntervalMs: 20 }, 11)
    rig.runFor(50)
    rig.crash('r0')
    rig.runFor(2000)
    assert.equal(leaders(rig).length, 1)
    rig.boot('r0') // restarts as a follower and learns the leader
    rig.runFor(500)
    assert.equal(leaders(rig).length, 1)
    assert.equal(rig.node('r0').engine!.status().role, 'follower')
    const cmd = put('d', 'k', 'v')
    rig.request('r0', cmd)
    rig.runFor(500)
    assert.equal(replyOf(rig, 'r0', cmd)?.status, 'ok')
  })

  it('check-quorum off: a leader cut off inbound keeps leading, commits nothing, and recovers on healing', () => {
    const rig = cluster(3, { checkQuorum: false })
    rig.runFor(50)
    rig.dropIf = (_from, to) => to === 'r0' // every link into the leader is cut; its own sends get out
    const atLeader = put('l', 'k', '1')
    const atFollower = put('f', 'k', '2')
    rig.request('r0', atLeader)
    rig.request('r1', atFollower)
    rig.runFor(3000)
    // followers still hear heartbeats, so nobody takes over, and no quorum answers the leader
    assert.deepEqual(leaders(rig), ['r0'])
    assert.equal(replyOf(rig, 'r0', atLeader), undefined)
    assert.equal(replyOf(rig, 'r1', atFollower), undefined)
    rig.dropIf = () => false
    // an unanswered accept is resent within retransmitMsMax (its wait doubles per resend; checked every
    // retransmitMs); a forward's wait doubles too, up to 2 ** forwardRetryDoublingsMax x forwardRetryMs
    // (checked every forwardRetryMs): both commit after healing
    const { retransmitMsMax, retransmitMs, forwardRetryMs, forwardRetryDoublingsMax } = MULTIPAXOS_DEFAULTS
    const forwardWaitMsMax = forwardRetryMs * 2 ** forwardRetryDoublingsMax + forwardRetryMs
    rig.runFor(Math.max(retransmitMsMax + retransmitMs, forwardWaitMsMax) + 100)
    assert.equal(replyOf(rig, 'r0', atLeader)?.status, 'ok')
    assert.equal(replyOf(rig, 'r1', atFollower)?.status, 'ok')
    assert.deepEqual(leaders(rig), ['r0'])
  })

  it('check-quorum off: a partitioned old leader steps down when its heartbeats meet a higher promise', () => {
    const rig = cluster(3, { checkQuorum: false }, 5)
    rig.runFor(50)
    rig.dropIf = (from, to) => from === 'r0' || to === 'r0'
    rig.runFor(3000)
    assert.ok(leaders(rig).some((id) => id !== 'r0'))
    rig.dropIf = () => false
    rig.runFor(500)
    assert.equal(leaders(rig).length, 1)
    assert.ok(rig.node('r0').events.some((e) => e.type === 'stepped-down'))
  })

  it('check-quorum: a partitioned leader steps down by itself, and one leader remains after healing', () => {
    const { leaderTimeoutMsMin, leaderTimeoutMsMax, heartbeatIntervalMs } = MULTIPAXOS_DEFAULTS
    const rig = cluster(3, {}, 5)
    rig.runFor(50)
    rig.dropIf = (from, to) => from === 'r0' || to === 'r0'
    // no answer after the cut: it steps down at the first heartbeat leaderTimeoutMsMin later
    rig.runFor(leaderTimeoutMsMin + heartbeatIntervalMs)
    assert.ok(rig.node('r0').events.some((e) => e.type === 'stepped-down'))
    rig.runFor(3000)
    assert.ok(leaders(rig).some((id) => id !== 'r0'))
    rig.dropIf = () => false
    // r0 kept taking over, alone, with rising ballots: after healing its higher promise nacks the leader's
    // heartbeats once (the leader steps down), then a takeover finishes within a timeout and a round trip
    rig.runFor(leaderTimeoutMsMin + leaderTimeoutMsMax + 100)
    assert.equal(leaders(rig).length, 1)
  })
})

describe('multipaxos recovery', () => {
  it('a restarted replica re-executes its durable prefix and catches up on what it missed', () => {
    const rig = cluster(3, { catchupBatchSlots: 4 })
    rig.runFor(50)
    for (let i = 0; i < 5; i++) rig.request('r0', put('a', `k${i}`, `v${i}`))
    rig.runFor(100)
    assert.equal(rig.node('r2').engine!.status().executed, 5)
    rig.crash('r2')
    for (let i = 5; i < 20; i++) rig.request('r1', put('a', `k${i}`, `v${i}`))
    rig.runFor(300)
    rig.boot('r2')
    assert.equal(rig.node('r2').engine!.status().executed, 5) // the durable prefix, re-executed
    assert.equal(rig.node('r2').kv.read('k4'), 'v4')
    rig.runFor(300)
    assert.equal(rig.node('r2').engine!.status().executed, 20)
    assert.deepEqual(rig.node('r2').executedLog, rig.node('r0').executedLog)
    const batches = rig.delivered.filter((d) => d.to === 'r2' && d.msg.type === 'catchup-reply')
    assert.ok(batches.length >= 4, `catch-up in ${batches.length} replies`)
    for (const b of batches) if (b.msg.type === 'catchup-reply') assert.ok(b.msg.entries.length <= 4)
  })

  it('a restarted acceptor keeps its promise and its votes', () => {
    const rig = cluster(3)
    rig.runFor(50)
    const before = rig.node('r1').engine!.status().epoch
    rig.dropIf = (from, _to, msg) => from === 'r0' && msg.type === 'commit'
    rig.request('r0', put('a', 'x', '1'))
    rig.runFor(8)
    rig.crash('r1')
    rig.boot('r1')
    assert.equal(rig.node('r1').engine!.status().epoch, before)
    assert.ok(rig.node('r1').storage.scan('mp/acc/').length === 1)
  })

  it('a lagging follower that missed accepts catches up from the leader', () => {
    const rig = cluster(3, { catchupBatchSlots: 3 })
    rig.runFor(50)
    rig.dropIf = (_from, to, msg) => to === 'r2' && msg.type === 'accept'
    const cmds = Array.from({ length: 10 }, (_, i) => put('l', `k${i}`, 'v'))
    for (const cmd of cmds) rig.request('r0', cmd)
    rig.runFor(300)
    assert.equal(rig.node('r2').engine!.status().executed, 10)
    assert.ok(rig.delivered.some((d) => d.to === 'r2' && d.msg.type === 'catchup-reply'))
    assert.ok(!rig.delivered.some((d) => d.to === 'r2' && d.msg.type === 'accept'))
    assert.deepEqual(rig.node('r2').executedLog, rig.node('r0').executedLog)
  })
})

describe('multipaxos test-only faults are real bugs', () => {
  it("'ignore-promise-values' loses a chosen write on takeover", () => {
    const rig = cluster(3, { testFault: 'ignore-promise-values' }, 7)
    rig.runFor(50)
    rig.dropIf = (from, to, msg) =>
      from === 'r0' && (msg.type === 'commit' || msg.type === 'heartbeat' || to === 'r2')
    const cmd = put('w', 'key', 'precious')
    rig.request('r0', cmd)
    rig.runFor(20)
    assert.equal(replyOf(rig, 'r0', cmd)?.status, 'ok')
    rig.crash('r0')
    rig.dropIf = () => false
    rig.runFor(3000)
    const read = get('z', 'key')
    rig.request('r2', read)
    rig.runFor(500)
    assert.deepEqual(replyOf(rig, 'r2', read), { status: 'ok', value: null }) // the acknowledged write is gone
  })

  it("'skip-accept-persist' loses a chosen write when the voter restarts", () => {
    const rig = cluster(3, { testFault: 'skip-accept-persist' }, 7)
    rig.runFor(50)
    rig.dropIf = (from, to, msg) =>
      from === 'r0' && (msg.type === 'commit' || msg.type === 'heartbeat' || to === 'r2')
    const cmd = put('w', 'key', 'precious')
    rig.request('r0', cmd)
    rig.runFor(20)
    assert.equal(replyOf(rig, 'r0', cmd)?.status, 'ok')
    rig.crash('r0')
    rig.crash('r1')
    rig.boot('r1')
    rig.dropIf = () => false
    rig.runFor(3000)
    const read = get('z', 'key')
    rig.request('r2', read)
    rig.runFor(500)
    assert.deepEqual(replyOf(rig, 'r2', read), { status: 'ok', value: null })
  })
})

describe('multipaxos edges', () => {
  it('a single replica is its own majority', () => {
    const rig = cluster(1)
    assert.deepEqual(leaders(rig), ['r0'])
    const cmd = put('s', 'k', 'v')
    rig.request('r0', cmd)
    assert.deepEqual(replyOf(rig, 'r0', cmd), { status: 'ok', value: null })
  })

  it("drops, unanswered, a command beyond its origin's pending limit, and only then", () => {
    const rig = cluster(3, { maxPendingCommands: 2 })
    rig.runFor(50)
    rig.dropIf = (from, to) => from === 'r1' && to === 'r0' // forwards from r1 are lost
    const cmds = [put('a', 'k', '1'), put('b', 'k', '2'), put('c', 'k', '3')]
    for (const cmd of cmds) rig.request('r1', cmd)
    rig.dropIf = () => false
    rig.runFor(3000) // the forward retry gets the first two through
    assert.equal(replyOf(rig, 'r1', cmds[0]!)?.status, 'ok')
    assert.equal(replyOf(rig, 'r1', cmds[1]!)?.status, 'ok')
    assert.equal(replyOf(rig, 'r1', cmds[2]!), undefined, 'the third was over the limit: no answer')
    assert.equal(rig.node('r1').kv.hasExecuted('c', cmds[2]!.id.seq), false)
  })

  it('never rejects a retried id that another replica already executed (rejected means never executes)', () => {
    const rig = cluster(3, { maxPendingCommands: 1 })
    rig.runFor(50)
    const retried = put('x', 'k', 'v')
    rig.request('r2', retried) // executed through r2; say the client never got that reply
    rig.runFor(100)
    assert.equal(rig.node('r2').kv.hasExecuted('x', retried.id.seq), true)
    rig.dropIf = (from, to) => from === 'r1' && to === 'r0'
    rig.request('r1', put('y', 'k', 'w')) // fills r1's one pending place
    rig.request('r1', retried) // the client's retry of the same id lands on the full replica
    rig.runFor(10)
    assert.notEqual(replyOf(rig, 'r1', retried)?.status, 'rejected', 'a rejection here is a lie')
  })

  it('a retried command id that was already executed is answered, not executed twice', () => {
    const rig = cluster(3)
    rig.runFor(50)
    const cmd = put('r', 'k', 'v')
    rig.request('r0', cmd)
    rig.runFor(50)
    rig.request('r2', cmd) // the client lost the reply and retries elsewhere
    rig.runFor(50)
    assert.deepEqual(replyOf(rig, 'r2', cmd), { status: 'ok', value: null })
    assert.equal(rig.node('r2').kv.applied, 1)
  })
})

describe('multipaxos config', () => {
  it('rejects unknown and inconsistent fields, and resolves initialLeader by index or id', () => {
    assert.throws(() => multipaxosEngine.parseConfig({ heartbeatIntervallMs: 5 }), /unknown config field/)
    assert.throws(() => multipaxosEngine.parseConfig({ leaderTimeoutMsMin: 900, leaderTimeoutMsMax: 800 }))
    assert.throws(() => multipaxosEngine.parseConfig({ testFault: 'other' }))
    assert.deepEqual(multipaxosEngine.parseConfig(undefined), MULTIPAXOS_DEFAULTS)
    const byId = cluster(3, { initialLeader: 'r2' })
    byId.runFor(30)
    assert.deepEqual(leaders(byId), ['r2'])
    assert.throws(() => cluster(3, { initialLeader: 5 }), /outside the cluster/)
    assert.throws(() => cluster(3, { initialLeader: 'r9' }), /not a node/)
  })

  it('checkQuorum: on by default, a boolean, and only with heartbeats at most half the minimum timeout', () => {
    assert.equal(MULTIPAXOS_DEFAULTS.checkQuorum, true)
    assert.throws(
      () => multipaxosEngine.parseConfig({ checkQuorum: 'yes' }),
      /multipaxos\.checkQuorum: .*true or false/,
    )
    const tooSlow = { heartbeatIntervalMs: 300, leaderTimeoutMsMin: 500 }
    assert.throws(
      () => multipaxosEngine.parseConfig(tooSlow),
      /multipaxos\.heartbeatIntervalMs: .*checkQuorum: false/,
    )
    assert.equal(multipaxosEngine.parseConfig({ ...tooSlow, checkQuorum: false }).checkQuorum, false)
  })
})
