/**
 * One EPaxos replica (Moraru, Andersen, Kaminsky, "There Is More Consensus in Egalitarian Parliaments",
 * SOSP'13; "the paper" below). Every replica is a command leader for the commands its clients send it,
 * and an acceptor for everyone's instances.
 *
 * - Commit protocol (Figure 2): propose (PreAccept), onPreAccept, onPreAcceptOk / decidePreAccept (fast
 *   path, or the slow path's Paxos-Accept), onAccept, onAcceptOk, decided (Commit), onCommit.
 * - Explicit prepare (Figure 3, with the tech report's fast-path condition): startRecovery, onPrepare,
 *   onPrepareOk / decidePrepare; TryPreAccept (tech report): startTryPreAccept, onTryPreAccept,
 *   onTryPreAcceptReply / decideTryPreAccept.
 * - Execution (section 4.2): runExecution over execute.ts (Tarjan SCCs, seq order inside).
 * - Liveness: one tick timer drives retransmits, recoveries of instances that stay uncommitted, and a
 *   periodic sync of the highest instance number per leader (so a missed commit is found and fetched
 *   through explicit prepare, which answers with the commit).
 */
import { type Ballot, ballotEquals, compareBallots, maxBallot, nextBallot } from '../core/ballot.ts'
import { type Command, commandIdKey, type NodeId, sameCommandId } from '../core/command.ts'
import type { Engine, EngineContext, EngineStatus } from '../core/engine.ts'
import { epaxosQuorums } from '../core/quorum.ts'
import type { EpaxosConfig } from './config.ts'
import { executeCommitted } from './execute.ts'
import { instanceId, parseInstanceId } from './instance-id.ts'
import type {
  AcceptMsg,
  AcceptOkMsg,
  CommitMsg,
  EpaxosMessage,
  InstanceReport,
  NackMsg,
  PreAcceptMsg,
  PreAcceptOkMsg,
  PrepareMsg,
  PrepareOkMsg,
  SyncMsg,
  TryPreAcceptConflict,
  TryPreAcceptMsg,
  TryPreAcceptReplyMsg,
} from './messages.ts'
import { defaultBallot, InstanceStore, sameDeps, sortedDeps } from './store.ts'

export type EpaxosContext = EngineContext<EpaxosMessage, EpaxosConfig>

const TIMER_TICK = 'tick'
/** conflicts one TryPreAccept reply names at most (committed ones first: they can end the recovery) */
const MAX_REPORTED_CONFLICTS = 8

/** An instance this replica drives: its own proposal, or a recovery (explicit prepare) of anyone's. */
interface Driven {
  readonly id: string
  readonly kind: 'propose' | 'recover'
  phase: 'preaccept' | 'accept' | 'prepare' | 'try-preaccept'
  readonly ballot: Ballot
  cmd: Command | null
  /** phase preaccept: what was proposed (replies compare against it); phase accept: what is accepted */
  seq: number
  deps: string[]
  /** peers that answered the current phase */
  readonly answered: Set<NodeId>
  /** preaccept: the union of the replies' attributes (the slow path accepts it) */
  unionSeq: number
  unionDeps: Set<string>
  /** preaccept: every reply so far kept the proposed attributes */
  allUnchanged: boolean
  /** prepare: each replier's report (self included) */
  readonly reports: Map<NodeId, InstanceReport | null>
  /** try-preaccept: replicas holding the leader's attributes unchanged (the leader, the unchanged
   * reporters, the replicas that took the TryPreAccept) */
  readonly witnesses: Set<NodeId>
  /** try-preaccept: replicas that refused it */
  readonly refused: Set<NodeId>
  /** try-preaccept: replicas proved not to have kept A0 unchanged at the default ballot (leaders of
   * instances the refusals showed unordered with this one, see excludeLeader) */
  readonly excluded: Set<NodeId>
  /** try-preaccept: per conflicting instance the refusals named, the replicas that hold it at its
   * default ballot, and whether a refusal showed its deps not reaching this instance */
  readonly named: Map<string, { readonly defaultHolders: Set<NodeId>; unordered: boolean }>
  dueAtMs: number
  phaseStartMs: number
}

export class EpaxosReplica implements Engine<EpaxosMessage> {
  private readonly cfg: EpaxosConfig
  private readonly peers: readonly NodeId[]
  private readonly f: number
  /** PreAcceptOKs (from others) the fast path needs: the fast quorum minus the leader */
  private readonly fastReplies: number
  /** replies (from others) a slow quorum needs: F */
  private readonly slowReplies: number

  private store!: InstanceStore
  private nextNumber = 0
  private readonly driven = new Map<string, Driven>()
  private proposing = 0
  private recovering = 0
  /** client commands that arrived here and are not yet executed here */
  private readonly pending = new Map<string, Command>()
  private readonly queue: Command[] = []
  private readonly executed = new Set<string>()
  private readonly toExecute = new Set<string>()
  private executionDirty = false
  /** uncommitted instances (known, or only referenced) and since when; a stale one is recovered */
  private readonly watch = new Map<string, { sinceMs: number; waitMs: number }>()
  /** per command leader: the highest instance number heard of, and the lowest not committed here */
  private readonly maxHeard = new Map<NodeId, number>()
  private readonly frontier = new Map<NodeId, number>()
  private nextSyncMs = 0
  private maxRound = 0
  /** smoothed round trip per peer (thrifty mode picks the nearest) */
  private readonly peerRttMs = new Map<NodeId, number>()

  constructor(private readonly ctx: EpaxosContext) {
    this.cfg = ctx.config
    if (!ctx.nodes.includes(ctx.self)) throw new Error(`self ${ctx.self} is not among the nodes`)
    if (new Set(ctx.nodes).size !== ctx.nodes.length) throw new Error('node ids must be distinct')
    const q = epaxosQuorums(ctx.nodes.length)
    this.f = q.f
    this.peers = ctx.nodes.filter((n) => n !== ctx.self)
    const short = this.cfg.testFault === 'fast-path-one-short' ? 1 : 0
    this.fastReplies = Math.max(0, q.fastQuorum - 1 - short)
    this.slowReplies = q.slowQuorum - 1
  }

  // ---------------------------------------------------------------- lifecycle

  /** First boot and every restart: reload the instance space, re-execute everything committed. */
  start(): void {
    this.store = InstanceStore.load(this.ctx.storage)
    this.nextNumber = this.store.maxNumber(this.ctx.self) + 1
    const now = this.ctx.now()
    for (const rec of this.store.all()) {
      this.hear(rec.id)
      if (rec.status === 'committed') this.toExecute.add(rec.id)
      else this.watchInstance(rec.id, now)
    }
    this.executionDirty = true
    this.afterHandler()
    this.nextSyncMs = now + this.cfg.syncIntervalMs
    this.ctx.setTimer(TIMER_TICK, this.cfg.tickMs)
  }

  status(): EngineStatus {
    return { role: 'peer', leader: null, epoch: this.maxRound, executed: this.executed.size }
  }

  assertInvariants(): void {
    if (this.pending.size > this.cfg.maxPendingCommands)
      throw new Error(`${this.pending.size} pending commands exceed maxPendingCommands`)
    if (this.queue.length > this.pending.size) throw new Error('more queued commands than pending ones')
    if (this.proposing > this.cfg.maxInflightInstances || this.recovering > this.cfg.maxRecoveries)
      throw new Error(
        `driving ${this.proposing} proposals and ${this.recovering} recoveries: over the limits`,
      )
    if (this.proposing + this.recovering !== this.driven.size)
      throw new Error('driven instance count drifted')
    if (this.executed.size + this.toExecute.size !== this.store.committed)
      throw new Error(
        `executed ${this.executed.size} + waiting ${this.toExecute.size} != committed ${this.store.committed}`,
      )
    for (const d of this.driven.values()) {
      const rec = this.store.get(d.id)
      if (rec?.status === 'committed') throw new Error(`${d.id} is driven after it committed`)
      if (d.kind === 'recover' && d.ballot.node !== this.ctx.self)
        throw new Error(`${d.id}: recovering with another node's ballot`)
      if (d.kind === 'propose' && parseInstanceId(d.id).leader !== this.ctx.self)
        throw new Error(`${d.id}: proposing in another leader's instance`)
    }
  }

  // ---------------------------------------------------------------- inputs

  onRequest(cmd: Command): void {
    const key = commandIdKey(cmd.id)
    if (this.pending.has(key)) return // a retry of a command in progress here
    // over the limit the command is dropped as if lost: 'rejected' would promise it never executes,
    // and a retry of the same id may be in progress at another replica
    if (this.pending.size >= this.cfg.maxPendingCommands) return
    this.pending.set(key, cmd)
    this.queue.push(cmd)
    this.afterHandler()
  }

  onMessage(from: NodeId, msg: EpaxosMessage): void {
    switch (msg.type) {
      case 'preaccept':
        this.onPreAccept(from, msg)
        break
      case 'preaccept-ok':
        this.onPreAcceptOk(from, msg)
        break
      case 'accept':
        this.onAccept(from, msg)
        break
      case 'accept-ok':
        this.onAcceptOk(from, msg)
        break
      case 'commit':
        this.onCommit(msg)
        break
      case 'prepare':
        this.onPrepare(from, msg)
        break
      case 'prepare-ok':
        this.onPrepareOk(from, msg)
        break
      case 'try-preaccept':
        this.onTryPreAccept(from, msg)
        break
      case 'try-preaccept-reply':
        this.onTryPreAcceptReply(from, msg)
        break
      case 'nack':
        this.onNack(msg)
        break
      case 'sync':
        this.onSync(msg)
        break
    }
    this.afterHandler()
  }

  onTimer(name: string): void {
    if (name !== TIMER_TICK) return
    this.onTick()
    this.afterHandler()
    this.ctx.setTimer(TIMER_TICK, this.cfg.tickMs)
  }

  /** Every handler ends here: execute what became executable, then propose what waits. */
  private afterHandler(): void {
    if (this.executionDirty) this.runExecution()
    while (this.queue.length > 0 && this.proposing < this.cfg.maxInflightInstances) {
      const cmd = this.queue.shift()!
      if (this.pending.has(commandIdKey(cmd.id))) this.propose(cmd)
      if (this.executionDirty) this.runExecution()
    }
  }

  // ---------------------------------------------------------------- commit protocol (Figure 2)

  /** Phase 1 at the command leader: a fresh instance, own attributes, durable before the PreAccepts. */
  private propose(cmd: Command): void {
    const id = instanceId(this.ctx.self, this.nextNumber++)
    this.hear(id)
    const ballot = defaultBallot(id)
    const attrs = this.store.attributes(id, cmd)
    this.store.record({ id, status: 'preaccepted', cmd, ...attrs, ballot, vballot: ballot, unchanged: true })
    const d = this.drive(id, 'propose', 'preaccept', ballot, cmd, attrs.seq, attrs.deps)
    const msg: PreAcceptMsg = { type: 'preaccept', inst: id, ballot, cmd, seq: attrs.seq, deps: attrs.deps }
    for (const peer of this.targets(this.fastReplies)) this.ctx.send(peer, msg)
    this.decidePreAccept(d, false)
  }

  private onPreAccept(from: NodeId, msg: PreAcceptMsg): void {
    this.hear(msg.inst)
    const rec = this.store.get(msg.inst)
    if (rec?.status === 'committed') {
      this.sendCommit(from, msg.inst)
      return
    }
    if (compareBallots(msg.ballot, this.store.promised(msg.inst)) < 0) {
      this.nack(from, msg.inst, msg.ballot)
      return
    }
    if (rec?.status === 'accepted' && compareBallots(msg.ballot, rec.vballot) <= 0) return // stale
    if (rec?.status === 'preaccepted' && ballotEquals(rec.vballot, msg.ballot)) {
      // a duplicate: answer what was recorded, never recompute (a second answer that differed could
      // turn an 'unchanged' the leader already counted for its fast path into 'changed')
      this.replyPreAccept(from, msg, rec.seq, rec.deps)
      return
    }
    if (msg.cmd === null) return // PreAccept always carries a command; a no-op goes straight to Accept
    const attrs = this.store.attributes(msg.inst, msg.cmd, { seq: msg.seq, deps: msg.deps })
    const unchanged = msg.ballot.round === 0 && attrs.seq === msg.seq && sameDeps(attrs.deps, msg.deps)
    this.store.record({
      id: msg.inst,
      status: 'preaccepted',
      cmd: msg.cmd,
      ...attrs,
      ballot: msg.ballot,
      vballot: msg.ballot,
      unchanged,
    })
    this.watchInstance(msg.inst, this.ctx.now())
    this.yieldTo(msg.inst, msg.ballot)
    this.replyPreAccept(from, msg, attrs.seq, attrs.deps)
  }

  private replyPreAccept(to: NodeId, msg: PreAcceptMsg, seq: number, deps: readonly string[]): void {
    const changed = seq !== msg.seq || !sameDeps(deps, msg.deps)
    const ok: PreAcceptOkMsg = {
      type: 'preaccept-ok',
      inst: msg.inst,
      ballot: msg.ballot,
      seq,
      deps,
      changed,
    }
    this.ctx.send(to, ok)
  }

  private onPreAcceptOk(from: NodeId, msg: PreAcceptOkMsg): void {
    const d = this.driven.get(msg.inst)
    if (d === undefined || d.phase !== 'preaccept' || !ballotEquals(d.ballot, msg.ballot)) return
    if (d.answered.has(from)) return
    d.answered.add(from)
    this.sampleRtt(from, d)
    d.unionSeq = Math.max(d.unionSeq, msg.seq)
    for (const dep of msg.deps) d.unionDeps.add(dep)
    if (msg.changed) d.allUnchanged = false
    this.decidePreAccept(d, false)
  }

  /**
   * The fast-path rule implemented (paper section 4.3 with the optimized fast quorum of section 4.4
   * and the tech report): at the default ballot, with PreAcceptOKs from the fast quorum minus the
   * leader (F + floor((F+1)/2) - 1 others) that ALL report exactly the attributes the leader proposed
   * (unchanged seq and deps: "all replies the same" as each other and as the leader's), commit at once.
   * Otherwise, once that many replies arrived (or, after a retransmit timeout, a slow quorum's F),
   * run Paxos-Accept with the union of the replies' deps and the highest seq. A recovery's own
   * PreAccept round (a ballot above the default) never takes the fast path.
   */
  private decidePreAccept(d: Driven, timedOut: boolean): void {
    const replies = d.answered.size
    const isDefault = d.ballot.round === 0
    if (isDefault && d.allUnchanged && replies >= this.fastReplies) {
      // the fast path is ours only while no recovery has promised a higher ballot here
      if (!ballotEquals(this.store.promised(d.id), d.ballot)) {
        this.abandon(d)
        return
      }
      this.ctx.emit({ type: 'fast-path' })
      this.decided(d, d.cmd, d.seq, d.deps)
      return
    }
    const enough = isDefault ? replies >= this.fastReplies || timedOut : replies >= this.slowReplies
    if (!enough || replies < this.slowReplies) return
    this.startAccept(d, d.cmd, d.unionSeq, sortedDeps(d.unionDeps))
  }

  private startAccept(d: Driven, cmd: Command | null, seq: number, deps: string[]): void {
    if (compareBallots(this.store.promised(d.id), d.ballot) > 0) {
      this.abandon(d)
      return
    }
    d.phase = 'accept'
    d.cmd = cmd
    d.seq = seq
    d.deps = deps
    d.answered.clear()
    d.phaseStartMs = this.ctx.now()
    d.dueAtMs = this.ctx.now() + this.cfg.retransmitMs
    const { id, ballot } = d
    this.store.record({ id, status: 'accepted', cmd, seq, deps, ballot, vballot: ballot, unchanged: false })
    const msg: AcceptMsg = { type: 'accept', inst: id, ballot, cmd, seq, deps }
    for (const peer of this.targets(this.slowReplies)) this.ctx.send(peer, msg)
    this.decideAccept(d)
  }

  private onAccept(from: NodeId, msg: AcceptMsg): void {
    this.hear(msg.inst)
    const rec = this.store.get(msg.inst)
    if (rec?.status === 'committed') {
      this.sendCommit(from, msg.inst)
      return
    }
    if (compareBallots(msg.ballot, this.store.promised(msg.inst)) < 0) {
      this.nack(from, msg.inst, msg.ballot)
      return
    }
    this.store.record({
      id: msg.inst,
      status: 'accepted',
      cmd: msg.cmd,
      seq: msg.seq,
      deps: sortedDeps(msg.deps),
      ballot: msg.ballot,
      vballot: msg.ballot,
      unchanged: false,
    })
    this.watchInstance(msg.inst, this.ctx.now())
    this.yieldTo(msg.inst, msg.ballot)
    const ok: AcceptOkMsg = { type: 'accept-ok', inst: msg.inst, ballot: msg.ballot }
    this.ctx.send(from, ok)
  }

  private onAcceptOk(from: NodeId, msg: AcceptOkMsg): void {
    const d = this.driven.get(msg.inst)
    if (d === undefined || d.phase !== 'accept' || !ballotEquals(d.ballot, msg.ballot)) return
    if (d.answered.has(from)) return
    d.answered.add(from)
    this.sampleRtt(from, d)
    this.decideAccept(d)
  }

  /** A slow quorum (F others plus this replica) accepted at this ballot: chosen. */
  private decideAccept(d: Driven): void {
    if (d.answered.size < this.slowReplies) return
    if (d.kind === 'propose') this.ctx.emit({ type: 'slow-path' })
    else this.ctx.emit({ type: 'recovery', detail: `committed ${d.id} ballot ${d.ballot.round}` })
    this.decided(d, d.cmd, d.seq, d.deps)
  }

  /** Commit: learn it here, tell everyone. */
  private decided(d: Driven, cmd: Command | null, seq: number, deps: readonly string[]): void {
    const msg: CommitMsg = { type: 'commit', inst: d.id, cmd, seq, deps }
    for (const peer of this.peers) this.ctx.send(peer, msg)
    this.learnCommit(d.id, cmd, seq, deps)
  }

  private onCommit(msg: CommitMsg): void {
    this.hear(msg.inst)
    this.learnCommit(msg.inst, msg.cmd, msg.seq, msg.deps)
  }

  private sendCommit(to: NodeId, id: string): void {
    const rec = this.store.get(id)!
    this.ctx.send(to, { type: 'commit', inst: id, cmd: rec.cmd, seq: rec.seq, deps: rec.deps })
  }

  private learnCommit(id: string, cmd: Command | null, seq: number, deps: readonly string[]): void {
    const before = this.store.get(id)
    if (!this.store.commit(id, cmd, seq, deps)) return
    this.watch.delete(id)
    const d = this.driven.get(id)
    if (d !== undefined) this.undrive(d)
    this.toExecute.add(id)
    this.executionDirty = true
    for (const dep of deps) this.hear(dep)
    // our own command lost its instance to a no-op (a recovery found too few copies): propose it again
    const lost = before?.cmd
    if (lost != null && cmd === null && parseInstanceId(id).leader === this.ctx.self) {
      const key = commandIdKey(lost.id)
      if (this.pending.has(key) && !this.queue.some((c) => sameCommandId(c.id, lost.id)))
        this.queue.unshift(lost)
    }
  }

  // ---------------------------------------------------------------- explicit prepare (Figure 3)

  private startRecovery(id: string): void {
    const above = maxBallot(this.store.promised(id), { round: this.maxRound, node: '' })
    const ballot = nextBallot(above, this.ctx.self)
    this.maxRound = Math.max(this.maxRound, ballot.round)
    this.store.promise(id, ballot)
    this.watch.delete(id)
    const d = this.drive(id, 'recover', 'prepare', ballot, null, 0, [])
    d.reports.set(this.ctx.self, this.store.report(id))
    this.ctx.emit({ type: 'recovery', detail: `explicit prepare ${id} ballot ${ballot.round}` })
    const msg: PrepareMsg = { type: 'prepare', inst: id, ballot }
    for (const peer of this.peers) this.ctx.send(peer, msg)
    this.decidePrepare(d)
  }

  /**
   * A recovery's Prepare or TryPreAccept: answer a committed instance with the commit and a ballot
   * below the promise with a nack (false); otherwise promise the ballot, durably, and go on (true).
   */
  private promiseRecovery(from: NodeId, msg: { readonly inst: string; readonly ballot: Ballot }): boolean {
    this.hear(msg.inst)
    if (this.store.get(msg.inst)?.status === 'committed') {
      this.sendCommit(from, msg.inst)
      return false
    }
    if (compareBallots(msg.ballot, this.store.promised(msg.inst)) < 0) {
      this.nack(from, msg.inst, msg.ballot)
      return false
    }
    this.store.promise(msg.inst, msg.ballot)
    this.yieldTo(msg.inst, msg.ballot)
    this.watchInstance(msg.inst, this.ctx.now())
    return true
  }

  private onPrepare(from: NodeId, msg: PrepareMsg): void {
    if (!this.promiseRecovery(from, msg)) return
    const ok: PrepareOkMsg = {
      type: 'prepare-ok',
      inst: msg.inst,
      ballot: msg.ballot,
      state: this.store.report(msg.inst),
    }
    this.ctx.send(from, ok)
  }

  private onPrepareOk(from: NodeId, msg: PrepareOkMsg): void {
    const d = this.driven.get(msg.inst)
    if (d === undefined || d.phase !== 'prepare' || !ballotEquals(d.ballot, msg.ballot)) return
    if (d.reports.has(from)) return
    d.reports.set(from, msg.state)
    this.decidePrepare(d)
  }

  /**
   * What a recovery may commit, from the reports of a majority (F+1, this replica included):
   * 1. accepted somewhere: the attributes of the highest accepted ballot (Paxos);
   * 2. preaccepted at a recovery's ballot: an earlier recovery already found that no fast path
   *    happened, so start PreAccept again (below);
   * 3. preaccepted at the default ballot: it may have committed on the fast path with the leader's
   *    attributes A0 only if the replicas that kept A0 unchanged, plus those that did not answer, make
   *    the fast quorum's F + floor((F+1)/2) - 1 others, and the leader did not answer (a leader that
   *    answered promised our ballot and can no longer commit at the default one). If it may have:
   *    adopting A0 is safe when at least F replicas besides the leader kept A0 (with the leader that is
   *    F+1, a majority, so every interfering command committed since went through one of them and has
   *    this one in its deps). With fewer (only possible for N >= 5) TryPreAccept asks the other
   *    replicas to take A0 unchanged (startTryPreAccept). If it cannot have committed: PreAccept again.
   *    A copy a TryPreAccept recorded (at a recovery ballot, marked unchanged) counts as unchanged and
   *    does not mean "preaccepted by a recovery" (case 2);
   * 4. seen nowhere: commit a no-op (the leader's PreAccept reached nobody in this majority, so no
   *    quorum can have it).
   * "PreAccept again" proposes the command at this ballot with the union of every reported deps and
   * the highest seq (#29: a recovery never drops a dependency it was told about), then Paxos-Accept.
   */
  private decidePrepare(d: Driven): void {
    if (d.reports.size < this.slowReplies + 1) return
    const reports = [...d.reports.values()].filter((r): r is InstanceReport => r !== null)
    const committed = reports.find((r) => r.status === 'committed')
    if (committed !== undefined) {
      this.decided(d, committed.cmd, committed.seq, committed.deps)
      return
    }
    let accepted: InstanceReport | undefined
    for (const r of reports) {
      if (
        r.status === 'accepted' &&
        (accepted === undefined || compareBallots(r.vballot, accepted.vballot) > 0)
      )
        accepted = r
    }
    if (accepted !== undefined) {
      this.startAccept(d, accepted.cmd, accepted.seq, [...accepted.deps])
      return
    }
    const withCmd = reports.find((r) => r.cmd !== null)
    if (withCmd === undefined) {
      this.startAccept(d, null, 0, [])
      return
    }
    const leader = parseInstanceId(d.id).leader
    const retried = reports.some((r) => r.vballot.round > 0 && !r.unchanged)
    if (!retried && !d.reports.has(leader)) {
      const unchangedFrom = [...d.reports].filter(([, r]) => r?.unchanged).map(([node]) => node)
      if (this.mayHaveFastCommitted(d)) {
        const a0 = d.reports.get(unchangedFrom[0]!)!
        if (unchangedFrom.length >= this.f) this.startAccept(d, a0.cmd, a0.seq, [...a0.deps])
        else this.startTryPreAccept(d, a0, unchangedFrom)
        return
      }
    }
    this.restartPreAccept(d, withCmd.cmd!, reports)
  }

  /**
   * Could A0 have committed on the fast path at the default ballot? Only through the leader and
   * fast quorum - 1 others that each kept A0 unchanged there. A replica that answered this recovery's
   * Prepare promised its ballot (it can no longer PreAccept at the default one) and told us what it
   * holds, so only the unchanged reporters and the replicas that did not answer can be among them,
   * less those proved otherwise (`excluded`). Call only while the leader has not answered.
   */
  private mayHaveFastCommitted(d: Driven): boolean {
    const leader = parseInstanceId(d.id).leader
    if (d.reports.has(leader)) throw new Error(`${d.id}: the leader answered, no fast path is possible`)
    let possible = 0
    for (const node of this.ctx.nodes) {
      if (node === leader) continue
      const answered = d.reports.has(node)
      if (answered ? d.reports.get(node)?.unchanged === true : !d.excluded.has(node)) possible++
    }
    return possible >= this.fastReplies
  }

  /** Recovery's PreAccept round at its own ballot, from the union of what it was told (#29). */
  private restartPreAccept(d: Driven, cmd: Command, reports: readonly InstanceReport[]): void {
    if (compareBallots(this.store.promised(d.id), d.ballot) > 0) {
      this.abandon(d)
      return
    }
    const base = {
      seq: Math.max(0, ...reports.map((r) => r.seq)),
      deps: sortedDeps(reports.flatMap((r) => r.deps)),
    }
    const own = this.store.attributes(d.id, cmd, base)
    const { id, ballot } = d
    this.store.record({ id, status: 'preaccepted', cmd, ...own, ballot, vballot: ballot, unchanged: false })
    d.phase = 'preaccept'
    d.cmd = cmd
    d.seq = base.seq
    d.deps = base.deps
    d.unionSeq = own.seq
    d.unionDeps = new Set(own.deps)
    d.allUnchanged = false
    d.answered.clear()
    d.phaseStartMs = this.ctx.now()
    d.dueAtMs = this.ctx.now() + this.cfg.retransmitMs
    const msg: PreAcceptMsg = { type: 'preaccept', inst: id, ballot, cmd, seq: base.seq, deps: base.deps }
    for (const peer of this.peers) this.ctx.send(peer, msg)
    this.decidePreAccept(d, false)
  }

  // ---------------------------------------------------------------- TryPreAccept (tech report)

  /**
   * Some replicas (fewer than F) hold the leader's attributes A0 unchanged, and with the replicas that
   * did not answer they could have made a fast quorum: A0 may have committed on the fast path. Ask
   * the other replicas to take A0 as it is. A replica takes it only if every interfering instance it
   * knows is ordered with this one under A0 (store.tryPreAcceptConflicts); it then holds A0 exactly as
   * an unchanged fast-quorum member would. With the leader and the unchanged reporters, F + 1 such
   * replicas make A0 safe to Accept (as in the F-unchanged case). A refusal that proves A0 never
   * committed sends the recovery to PreAccept again; one caused by an uncommitted instance defers it
   * (that instance is recovered first, this recovery restarts after the timeout).
   */
  private startTryPreAccept(d: Driven, a0: InstanceReport, unchangedFrom: readonly NodeId[]): void {
    if (compareBallots(this.store.promised(d.id), d.ballot) > 0) {
      this.abandon(d)
      return
    }
    const leader = parseInstanceId(d.id).leader
    d.phase = 'try-preaccept'
    d.cmd = a0.cmd
    d.seq = a0.seq
    d.deps = [...a0.deps]
    d.answered.clear()
    d.witnesses.clear()
    d.refused.clear()
    d.excluded.clear()
    d.named.clear()
    for (const node of [leader, ...unchangedFrom]) d.witnesses.add(node)
    d.phaseStartMs = this.ctx.now()
    d.dueAtMs = this.ctx.now() + this.cfg.retransmitMs
    this.ctx.emit({ type: 'recovery', detail: `try-preaccept ${d.id} ballot ${d.ballot.round}` })
    const msg = this.tryPreAcceptMsg(d)
    for (const peer of this.peers) if (!d.witnesses.has(peer)) this.ctx.send(peer, msg)
    if (!d.witnesses.has(this.ctx.self)) {
      const { ok, own, conflicts } = this.tryPreAcceptHere(msg)
      this.tryPreAcceptAnswered(d, this.ctx.self, ok, own, conflicts)
    } else this.decideTryPreAccept(d)
  }

  private tryPreAcceptMsg(d: Driven): TryPreAcceptMsg {
    return { type: 'try-preaccept', inst: d.id, ballot: d.ballot, cmd: d.cmd!, seq: d.seq, deps: d.deps }
  }

  private onTryPreAccept(from: NodeId, msg: TryPreAcceptMsg): void {
    if (!this.promiseRecovery(from, msg)) return
    const reply: TryPreAcceptReplyMsg = {
      type: 'try-preaccept-reply',
      inst: msg.inst,
      ballot: msg.ballot,
      ...this.tryPreAcceptHere(msg),
    }
    this.ctx.send(from, reply)
  }

  /** This replica's answer to a TryPreAccept it has promised the ballot of; records A0 when it takes it. */
  private tryPreAcceptHere(msg: TryPreAcceptMsg): Pick<TryPreAcceptReplyMsg, 'ok' | 'own' | 'conflicts'> {
    const rec = this.store.get(msg.inst)
    const retried = rec?.status === 'preaccepted' && rec.vballot.round > 0 && !rec.unchanged
    if (rec?.status === 'accepted' || retried)
      return { ok: false, own: this.store.report(msg.inst), conflicts: [] }
    if (rec?.status === 'preaccepted' && rec.unchanged && rec.seq === msg.seq && sameDeps(rec.deps, msg.deps))
      return { ok: true, own: null, conflicts: [] } // it holds A0 unchanged already
    const found = this.store.tryPreAcceptConflicts(msg.inst, msg.cmd, msg.deps)
    if (found.length > 0) {
      const committedFirst = [
        ...found.filter((c) => c.status === 'committed'),
        ...found.filter((c) => c.status !== 'committed'),
      ]
      const conflicts = committedFirst.slice(0, MAX_REPORTED_CONFLICTS).map(
        (c): TryPreAcceptConflict => ({
          inst: c.id,
          status: c.status as InstanceReport['status'],
          deps: c.deps,
          vballot: c.vballot,
        }),
      )
      return { ok: false, own: null, conflicts }
    }
    const { inst: id, cmd, seq, ballot } = msg
    this.store.record({
      id,
      status: 'preaccepted',
      cmd,
      seq,
      deps: sortedDeps(msg.deps),
      ballot,
      vballot: ballot,
      unchanged: true,
    })
    return { ok: true, own: null, conflicts: [] }
  }

  private onTryPreAcceptReply(from: NodeId, msg: TryPreAcceptReplyMsg): void {
    const d = this.driven.get(msg.inst)
    if (d === undefined || d.phase !== 'try-preaccept' || !ballotEquals(d.ballot, msg.ballot)) return
    if (d.answered.has(from) || d.witnesses.has(from)) return
    this.tryPreAcceptAnswered(d, from, msg.ok, msg.own, msg.conflicts)
  }

  private tryPreAcceptAnswered(
    d: Driven,
    from: NodeId,
    ok: boolean,
    own: InstanceReport | null,
    conflicts: readonly TryPreAcceptConflict[],
  ): void {
    d.answered.add(from)
    if (ok) {
      d.witnesses.add(from)
      this.decideTryPreAccept(d)
      return
    }
    d.refused.add(from)
    // an earlier recovery ran PreAccept again, which it does only once the fast path is ruled out
    const retried = own?.status === 'preaccepted' && own.vballot.round > 0 && !own.unchanged
    const proved = retried || conflicts.some((c) => this.provesNoFastCommit(d, c))
    for (const c of conflicts) this.excludeLeader(d, from, c)
    const cycleBroken = !proved && !this.mayHaveFastCommitted(d)
    if (cycleBroken) {
      // the exclusions (excludeLeader) left too few replicas for a fast quorum: say so, tests count it
      const without = [...d.excluded].sort().join(',')
      this.ctx.emit({
        type: 'recovery',
        detail: `no fast quorum ${d.id} ballot ${d.ballot.round} without ${without}`,
      })
    }
    if (proved || cycleBroken) {
      const reports = [...d.reports.values()].filter((r): r is InstanceReport => r !== null)
      this.restartPreAccept(d, d.cmd!, reports)
      return
    }
    // deferred: the uncommitted conflicting instances get recovered (they are watched here)
    const now = this.ctx.now()
    for (const c of conflicts) {
      if (c.status === 'committed') continue
      this.hear(c.inst)
      this.watchInstance(c.inst, now)
    }
    this.decideTryPreAccept(d)
  }

  /**
   * A conflict proves A0 never committed: an interfering instance c committed without this one
   * reachable from its deps, and not reachable from A0. Had this instance committed with A0 (only the
   * fast path can have done so unseen), its fast quorum and c's quorum (F + 1, the replicas whose
   * attributes c's deps contain) would share a replica that saw both: seeing c first it would have
   * added c, or a write of c's leader numbered above c, to A0 (it kept A0 unchanged); seeing this one
   * first it would have given c this instance or a write of its leader numbered above it.
   */
  private provesNoFastCommit(d: Driven, c: TryPreAcceptConflict): boolean {
    if (c.status !== 'committed' || c.inst === d.id) return false
    return !reaches(d.deps, c.inst) && !reaches(c.deps, d.id)
  }

  /**
   * Cycle breaking (what the tech report's deferred relation and the code's possibleQuorum are for):
   * a refusal names c, an instance of command leader Q that interferes with this one. Q is proved
   * never to have kept A0 unchanged at the default ballot, and leaves the fast quorums that could
   * have committed A0, when
   *   (a) A0 does not reach c,
   *   (b) some refusal reports c's deps not reaching this instance (every copy of c with a command
   *       holds at least Q's initial deps, so those do not reach it either), and
   *   (c) F replicas other than Q hold c at its default ballot: each recorded it before promising any
   *       recovery of c, so none of them, nor Q, can be among the F + 1 replicas without c's command
   *       that a recovery needs to make c a no-op (N - 1 - F < F + 1): Q always held c's command.
   * Then had Q PreAccepted this instance before proposing c, c's initial deps would reach it (Q held
   * it with its command: A0 cannot have committed on the fast path and be a no-op anywhere); had it
   * done so after, its walk would have added c, or a committed write of Q numbered above c, to A0: a
   * change. Two recoveries deferring to each other are each refused over the other, whose leader is
   * down and silent: excluding it leaves too few replicas for a fast quorum, and PreAccept again runs.
   */
  private excludeLeader(d: Driven, from: NodeId, c: TryPreAcceptConflict): void {
    const q = parseInstanceId(c.inst).leader
    if (q === parseInstanceId(d.id).leader || c.inst === d.id || reaches(d.deps, c.inst)) return
    let seen = d.named.get(c.inst)
    if (seen === undefined) {
      seen = { defaultHolders: new Set(), unordered: false }
      d.named.set(c.inst, seen)
    }
    if (c.status !== 'committed' && c.vballot.round === 0 && from !== q) seen.defaultHolders.add(from)
    if (!reaches(c.deps, d.id)) seen.unordered = true
    if (seen.unordered && seen.defaultHolders.size >= this.f) d.excluded.add(q)
  }

  private decideTryPreAccept(d: Driven): void {
    if (d.witnesses.size >= this.f + 1) {
      this.startAccept(d, d.cmd, d.seq, d.deps)
      return
    }
    // the replicas that have not refused cannot make F + 1 any more: defer (recover again later)
    if (this.ctx.nodes.length - d.refused.size < this.f + 1) this.abandon(d)
  }

  private onNack(msg: NackMsg): void {
    this.store.promise(msg.inst, msg.promised)
    const d = this.driven.get(msg.inst)
    if (d !== undefined && ballotEquals(d.ballot, msg.ballot)) this.abandon(d)
  }

  private nack(to: NodeId, id: string, ballot: Ballot): void {
    this.ctx.send(to, { type: 'nack', inst: id, ballot, promised: this.store.promised(id) })
  }

  /** Our acceptor promised a higher ballot to someone else: whatever we drive there cannot finish. */
  private yieldTo(id: string, ballot: Ballot): void {
    const d = this.driven.get(id)
    if (d !== undefined && compareBallots(ballot, d.ballot) > 0) this.abandon(d)
  }

  /** Stop driving an instance; it stays watched, so a recovery picks it up if nobody finishes it. */
  private abandon(d: Driven): void {
    this.undrive(d)
    this.watchInstance(d.id, this.ctx.now())
  }

  // ---------------------------------------------------------------- timers, sync, catch-up

  private onTick(): void {
    const now = this.ctx.now()
    for (const d of [...this.driven.values()]) {
      if (d.dueAtMs > now || this.driven.get(d.id) !== d) continue
      d.dueAtMs = now + this.cfg.retransmitMs
      this.retransmit(d)
    }
    if (now >= this.nextSyncMs) {
      this.nextSyncMs = now + this.cfg.syncIntervalMs
      const maxInstance: Record<string, number> = {}
      for (const [leader, n] of this.maxHeard) maxInstance[leader] = n
      const sync: SyncMsg = { type: 'sync', maxInstance }
      for (const peer of this.peers) this.ctx.send(peer, sync)
    }
    this.watchGaps(now)
    for (const [id, w] of [...this.watch]) {
      if (this.recovering >= this.cfg.maxRecoveries) break
      if (now - w.sinceMs < w.waitMs || this.driven.has(id)) continue
      if (this.store.get(id)?.status === 'committed') {
        this.watch.delete(id)
        continue
      }
      this.startRecovery(id)
    }
  }

  private retransmit(d: Driven): void {
    const rec = this.store.get(d.id)
    let msg: EpaxosMessage
    if (d.phase === 'prepare') {
      msg = { type: 'prepare', inst: d.id, ballot: d.ballot }
    } else if (d.phase === 'try-preaccept') {
      // a refusal deferred this recovery to the instances it named: start over later
      if (d.refused.size > 0) {
        this.abandon(d)
        return
      }
      msg = this.tryPreAcceptMsg(d)
      for (const peer of this.peers)
        if (!d.answered.has(peer) && !d.witnesses.has(peer)) this.ctx.send(peer, msg)
      return
    } else if (d.phase === 'accept') {
      msg = { type: 'accept', inst: d.id, ballot: d.ballot, cmd: d.cmd, seq: d.seq, deps: d.deps }
    } else {
      // a slow quorum answered but not the fast quorum (failures): go slow now
      this.decidePreAccept(d, true)
      if (this.driven.get(d.id) !== d || d.phase !== 'preaccept' || rec === undefined) return
      msg = { type: 'preaccept', inst: d.id, ballot: d.ballot, cmd: d.cmd, seq: d.seq, deps: d.deps }
    }
    const answered = d.phase === 'prepare' ? new Set(d.reports.keys()) : d.answered
    for (const peer of this.peers) if (!answered.has(peer)) this.ctx.send(peer, msg)
  }

  private onSync(msg: SyncMsg): void {
    for (const [leader, n] of Object.entries(msg.maxInstance)) {
      if (!this.ctx.nodes.includes(leader) || !Number.isSafeInteger(n) || n < 0) continue
      if (n > (this.maxHeard.get(leader) ?? -1)) this.maxHeard.set(leader, n)
    }
  }

  /** Instances below the highest heard of per leader that are not committed here get watched. */
  private watchGaps(now: number): void {
    let budget = this.cfg.maxWatchPerTick
    for (const [leader, max] of this.maxHeard) {
      let n = this.frontier.get(leader) ?? 0
      while (n <= max && this.store.get(instanceId(leader, n))?.status === 'committed') n++
      this.frontier.set(leader, n)
      for (let i = n; i <= max && budget > 0; i++) {
        const id = instanceId(leader, i)
        if (this.watch.has(id) || this.driven.has(id) || this.store.get(id)?.status === 'committed') continue
        this.watchInstance(id, now)
        budget--
      }
    }
  }

  private watchInstance(id: string, now: number): void {
    if (this.watch.has(id) || this.store.get(id)?.status === 'committed') return
    const waitMs = this.cfg.recoveryTimeoutMs * (1 + this.ctx.random())
    this.watch.set(id, { sinceMs: now, waitMs })
  }

  private hear(id: string): void {
    const { leader, n } = parseInstanceId(id)
    if (!this.ctx.nodes.includes(leader)) throw new Error(`instance ${id} of an unknown leader`)
    if (n > (this.maxHeard.get(leader) ?? -1)) this.maxHeard.set(leader, n)
  }

  // ---------------------------------------------------------------- execution (section 4.2)

  private runExecution(): void {
    this.executionDirty = false
    const now = this.ctx.now()
    executeCommitted(
      [...this.toExecute],
      {
        state: (id) => {
          if (this.executed.has(id)) return 'executed'
          return this.store.get(id)?.status === 'committed' ? 'committed' : 'missing'
        },
        deps: (id) => this.store.get(id)!.deps,
        seq: (id) => this.store.get(id)!.seq,
      },
      (id) => this.executeInstance(id),
      (id) => {
        this.hear(id)
        this.watchInstance(id, now)
      },
    )
  }

  private executeInstance(id: string): void {
    this.toExecute.delete(id)
    this.executed.add(id)
    const cmd = this.store.get(id)!.cmd
    if (cmd === null) return
    const result = this.ctx.execute(cmd)
    this.ctx.emit({ type: 'commit', commands: 1 })
    const key = commandIdKey(cmd.id)
    if (!this.pending.delete(key)) return
    this.ctx.reply(cmd.id, { status: 'ok', value: result.value })
    const queued = this.queue.findIndex((c) => sameCommandId(c.id, cmd.id))
    if (queued >= 0) this.queue.splice(queued, 1)
  }

  // ---------------------------------------------------------------- helpers

  private drive(
    id: string,
    kind: Driven['kind'],
    phase: Driven['phase'],
    ballot: Ballot,
    cmd: Command | null,
    seq: number,
    deps: string[],
  ): Driven {
    const now = this.ctx.now()
    const d: Driven = {
      id,
      kind,
      phase,
      ballot,
      cmd,
      seq,
      deps,
      answered: new Set(),
      unionSeq: seq,
      unionDeps: new Set(deps),
      allUnchanged: true,
      reports: new Map(),
      witnesses: new Set(),
      refused: new Set(),
      excluded: new Set(),
      named: new Map(),
      dueAtMs: now + this.cfg.retransmitMs,
      phaseStartMs: now,
    }
    this.driven.set(id, d)
    if (kind === 'propose') this.proposing++
    else this.recovering++
    return d
  }

  private undrive(d: Driven): void {
    if (this.driven.get(d.id) !== d) return
    this.driven.delete(d.id)
    if (d.kind === 'propose') this.proposing--
    else this.recovering--
  }

  /** Whom a phase's first messages go to: everyone, or in thrifty mode the `needed` nearest peers. */
  private targets(needed: number): readonly NodeId[] {
    if (!this.cfg.thrifty) {
      return this.peers
    }
    const ring = this.ctx.nodes.indexOf(this.ctx.self)
    const ordered = this.peers
      .map((p, i) => ({
        p,
        rtt: this.peerRttMs.get(p) ?? 0,
        ringPos: (i - ring + this.peers.length) % this.peers.length,
      }))
      .sort((a, b) => a.rtt - b.rtt || a.ringPos - b.ringPos)
    return ordered.slice(0, Math.max(needed, 1)).map((o) => o.p)
  }

  private sampleRtt(peer: NodeId, d: Driven): void {
    const sample = this.ctx.now() - d.phaseStartMs
    if (sample < 0) return
    const old = this.peerRttMs.get(peer)
    this.peerRttMs.set(peer, old === undefined ? sample : old + (sample - old) / 8)
  }
}

/**
 * Whether deps may order something after instance `id`: they hold it, or an instance of its leader
 * numbered above it (a write that covers it, see store.ts). Id-based on purpose: over-approximating
 * "reaches" only makes provesNoFastCommit and excludeLeader prove less.
 */
function reaches(deps: readonly string[], id: string): boolean {
  const to = parseInstanceId(id)
  return deps.some((x) => {
    const p = parseInstanceId(x)
    return p.leader === to.leader && p.n >= to.n
  })
}
