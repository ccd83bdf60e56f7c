/**
 * One Viewstamped Replication replica, after Liskov & Cowling, "Viewstamped Replication Revisited"
 * (MIT-CSAIL-TR-2012-021). Section numbers are the paper's:
 * - 4.1 normal operation: onRequest/onForward, propose, onPrepare, onPrepareOk, onCommit;
 * - 4.2 view changes: onStartViewChange, onDoViewChange, onStartView and the primary-failure timeout;
 * - 4.3 recovery: onRecovery, onRecoveryResponse (a replica whose state was lost);
 * - 5.2 state transfer: onGetState, onNewState (a replica behind its view, or that missed a view).
 *
 * The primary of view v is the (v mod n)-th node of the sorted node list. There is one entry point per
 * message and per timeout (as TigerBeetle's replica); the status (normal, view-change, recovering) is
 * checked once at the top of each.
 */
import type { Command, NodeId } from '../core/command.ts'
import { CommandQueue } from '../core/command-queue.ts'
import type { Engine, EngineContext, EngineStatus } from '../core/engine.ts'
import { FORWARD_RETRY_TIMER, Forwarder } from '../core/forwarder.ts'
import { majority } from '../core/quorum.ts'
import type { VrConfig } from './config.ts'
import { type BootKind, VrLog } from './log.ts'
import type {
  CommitMsg,
  DoViewChangeMsg,
  ForwardMsg,
  GetStateMsg,
  NewStateMsg,
  Op,
  PrepareMsg,
  PrepareOkMsg,
  RecoveryMsg,
  RecoveryResponseMsg,
  StartViewChangeMsg,
  StartViewMsg,
  VrMessage,
} from './messages.ts'

export type VrContext = EngineContext<VrMessage, VrConfig>

const TIMER_VIEW_CHANGE = 'view-change'
const TIMER_COMMIT = 'commit'
const TIMER_RETRANSMIT = 'retransmit'

/** What only the primary of the current view keeps (4.1). */
interface PrimaryState {
  /** per backup: every op up to this one is in its log (its highest PrepareOK in this view) */
  readonly acked: Map<NodeId, number>
  /** per backup, its ack at the previous resend round: resend only to backups that made no progress */
  readonly ackedAtLastResend: Map<NodeId, number>
  /** commands not yet in an op; ids stay known until executed, so a command forwarded twice is proposed once */
  readonly queue: CommandQueue
}

/** A view change in progress for `view` (4.2). */
interface ViewChangeState {
  readonly startViewChangeFrom: Set<NodeId>
  doViewChangeSent: boolean
  /** at the new primary: the DoViewChange messages of this view, by sender */
  readonly doViewChanges: Map<NodeId, DoViewChangeMsg>
}

/** A recovery in progress (4.3). */
interface RecoveryState {
  readonly nonce: number
  readonly responses: Map<NodeId, RecoveryResponseMsg>
}

export class VrReplica implements Engine<VrMessage> {
  private readonly cfg: VrConfig
  /** the node list sorted: primary(v) = sorted[v mod n] */
  private readonly sorted: readonly NodeId[]
  private readonly peers: readonly NodeId[]
  /** a quorum is f + 1 = majority(n): f = floor((n-1)/2) for odd n, and quorums still intersect for even n */
  private readonly f: number

  private log!: VrLog
  private primary: PrimaryState | null = null
  private viewChange: ViewChangeState | null = null
  private recovery: RecoveryState | null = null
  /** the highest commit-number heard in the current view; may run ahead of the log */
  private knownCommitNumber = 0
  private stateRequestedAtMs: number | null = null
  /** the op-number our latest GetState asked from: its answer (and no other) prompts the next request */
  private stateRequestFrom: number | null = null
  /** Prepares of the current view that arrived before the op they follow, by op-number */
  private readonly earlyPrepares = new Map<number, Op>()
  private executed = 0
  private readonly forwarder: Forwarder
  /** first boot, and nothing heard yet from the initial primary: the view-change timeout gets a grace */
  private awaitingFirstPrimary = false

  constructor(private readonly ctx: VrContext) {
    this.cfg = ctx.config
    if (!ctx.nodes.includes(ctx.self)) throw new Error(`self ${ctx.self} is not among the nodes`)
    if (new Set(ctx.nodes).size !== ctx.nodes.length) throw new Error('node ids must be distinct')
    this.sorted = [...ctx.nodes].sort()
    this.peers = this.sorted.filter((n) => n !== ctx.self)
    this.f = majority(ctx.nodes.length) - 1
    this.forwarder = new Forwarder(ctx, this.cfg, (cmds) => this.submit(cmds))
  }

  // ---------------------------------------------------------------- lifecycle

  start(): void {
    const { log, boot } = VrLog.load(
      this.ctx.storage,
      this.cfg.persistence === 'durable',
      this.cfg.initialView,
    )
    this.log = log
    this.primary = null
    this.viewChange = null
    this.recovery = null
    this.knownCommitNumber = log.commitNumber
    this.stateRequestedAtMs = null
    this.stateRequestFrom = null
    this.earlyPrepares.clear()
    this.forwarder.reset()
    // The runtime rebuilt the KV from scratch: re-execute the durable committed prefix from op 1.
    this.executed = 0
    this.executeCommitted()
    this.ctx.setTimer(TIMER_RETRANSMIT, this.cfg.retransmitMs)
    this.resume(boot)
  }

  private resume(boot: BootKind): void {
    this.awaitingFirstPrimary = boot === 'first-boot'
    if (boot === 'state-lost') {
      this.startRecovery()
      return
    }
    if (this.log.status === 'view-change') {
      // Crashed mid view change: take it up again (its StartViewChange went out, its view is durable).
      this.enterViewChange(this.log.view)
      return
    }
    this.enterNormal()
  }

  status(): EngineStatus {
    const status = this.log.status
    const isPrimary = status === 'normal' && this.primaryOf(this.log.view) === this.ctx.self
    return {
      role:
        status === 'recovering'
          ? 'recovering'
          : status === 'view-change'
            ? 'candidate'
            : isPrimary
              ? 'leader'
              : 'follower',
      leader: status === 'normal' ? this.primaryOf(this.log.view) : null,
      epoch: this.log.view,
      executed: this.executed,
    }
  }

  assertInvariants(): void {
    this.log.assertInvariants()
    if (this.executed !== this.log.commitNumber)
      throw new Error(`invariant: executed ${this.executed} != commit-number ${this.log.commitNumber}`)
    const isPrimary = this.log.status === 'normal' && this.primaryOf(this.log.view) === this.ctx.self
    if (isPrimary !== (this.primary !== null)) throw new Error('invariant: primary state vs status')
    if ((this.log.status === 'view-change') !== (this.viewChange !== null))
      throw new Error('invariant: view-change state vs status')
    if ((this.log.status === 'recovering') !== (this.recovery !== null))
      throw new Error('invariant: recovery state vs status')
    if (this.viewChange !== null && this.viewChange.doViewChanges.size > 0) {
      if (this.primaryOf(this.log.view) !== this.ctx.self)
        throw new Error('invariant: DoViewChange collected by a replica that is not the new primary')
    }
    if (this.primary !== null) {
      if (this.primary.queue.length > this.cfg.maxQueuedCommands)
        throw new Error('invariant: queue over limit')
      for (const acked of this.primary.acked.values())
        if (acked > this.log.opNumber) throw new Error('invariant: a backup acked an op the primary lacks')
    }
    if (this.forwarder.size > this.cfg.maxPendingCommands)
      throw new Error('invariant: pending over its limit')
  }

  // ---------------------------------------------------------------- dispatch

  onRequest(cmd: Command): void {
    this.forwarder.onRequest(cmd)
  }

  onMessage(from: NodeId, msg: VrMessage): void {
    if (from === this.ctx.self || !this.ctx.nodes.includes(from)) return
    switch (msg.type) {
      case 'forward':
        this.onForward(from, msg)
        break
      case 'prepare':
        this.onPrepare(from, msg)
        break
      case 'prepare-ok':
        this.onPrepareOk(from, msg)
        break
      case 'commit':
        this.onCommit(from, msg)
        break
      case 'start-view-change':
        this.onStartViewChange(from, msg)
        break
      case 'do-view-change':
        this.onDoViewChange(from, msg)
        break
      case 'start-view':
        this.onStartView(from, msg)
        break
      case 'recovery':
        this.onRecovery(from, msg)
        break
      case 'recovery-response':
        this.onRecoveryResponse(from, msg)
        break
      case 'get-state':
        this.onGetState(from, msg)
        break
      case 'new-state':
        this.onNewState(from, msg)
        break
    }
  }

  onTimer(name: string): void {
    switch (name) {
      case TIMER_VIEW_CHANGE:
        this.onViewChangeTimeout()
        break
      case TIMER_COMMIT:
        this.onCommitTimeout()
        break
      case TIMER_RETRANSMIT:
        this.onRetransmitTimeout()
        break
      case FORWARD_RETRY_TIMER:
        this.forwarder.onRetryTimeout()
        break
    }
  }

  // ---------------------------------------------------------------- 4.1 normal operation

  /** Commands waiting here go to the primary: into its queue when that is us, else forwarded. */
  private submit(cmds: readonly Command[]): void {
    if (this.log.status !== 'normal' || cmds.length === 0) return // held until a view is normal
    if (this.primary !== null) {
      this.enqueue(this.primary, cmds)
      return
    }
    this.forwarder.sendTo(this.primaryOf(this.log.view), cmds, this.cfg.batchMaxCommands)
  }

  private onForward(_from: NodeId, msg: ForwardMsg): void {
    // A stale forward (we are not the primary) is dropped: its origin forwards again to the right one.
    if (this.primary !== null) this.enqueue(this.primary, msg.commands)
  }

  private enqueue(primary: PrimaryState, cmds: readonly Command[]): void {
    // Over maxQueuedCommands a command is dropped: its origin forwards it again after forwardRetryMs.
    primary.queue.push(cmds)
    this.propose(primary)
  }

  /**
   * 4.1 step 3: queued commands become ops while the pipeline window has room; Prepare to the backups.
   * Returns how many ops it proposed.
   */
  private propose(primary: PrimaryState): number {
    let proposed = 0
    while (primary.queue.length > 0 && this.log.opNumber - this.log.commitNumber < this.cfg.maxInflightOps) {
      const op: Op = { commands: primary.queue.take(this.cfg.batchMaxCommands) }
      this.log.append(op)
      const msg: PrepareMsg = {
        type: 'prepare',
        view: this.log.view,
        opNumber: this.log.opNumber,
        op,
        commitNumber: this.log.commitNumber,
      }
      for (const peer of this.peers) this.ctx.send(peer, msg)
      proposed++
      // with f = 0 (or the test fault) the op commits at once; the next Prepare or Commit announces it
      this.advancePrimaryCommit(primary)
    }
    return proposed
  }

  /** 4.1 step 4: a backup takes op n only after op n-1; a gap is filled by state transfer (5.2). */
  private onPrepare(from: NodeId, msg: PrepareMsg): void {
    if (!this.acceptPrimaryMessage(from, msg.view)) return
    // Reordered Prepares wait (a bounded window ahead) for the ops before them.
    if (msg.opNumber > this.log.opNumber + 1 && msg.opNumber <= this.log.opNumber + this.cfg.maxInflightOps)
      this.earlyPrepares.set(msg.opNumber, msg.op)
    if (msg.opNumber === this.log.opNumber + 1) this.appendInOrder([msg.op])
    this.learnCommitNumber(msg.commitNumber)
    if (msg.opNumber > this.log.opNumber) this.requestState(from)
    // cumulative: every op up to our op-number is in our log (a duplicate Prepare is answered again)
    this.ctx.send(from, { type: 'prepare-ok', view: this.log.view, opNumber: this.log.opNumber })
  }

  /** Appends the ops that follow our log, then any early Prepares they made contiguous. */
  private appendInOrder(ops: readonly Op[]): void {
    for (const op of ops) this.log.append(op)
    for (let op = this.earlyPrepares.get(this.log.opNumber + 1); op !== undefined; ) {
      this.earlyPrepares.delete(this.log.opNumber + 1)
      this.log.append(op)
      op = this.earlyPrepares.get(this.log.opNumber + 1)
    }
    for (const n of this.earlyPrepares.keys()) if (n <= this.log.opNumber) this.earlyPrepares.delete(n)
  }

  /** 4.1 step 5: the primary counts PrepareOKs; an op is committed once f backups have it. */
  private onPrepareOk(from: NodeId, msg: PrepareOkMsg): void {
    const primary = this.primary
    if (primary === null || msg.view !== this.log.view) return
    const opNumber = Math.min(msg.opNumber, this.log.opNumber)
    if (opNumber <= (primary.acked.get(from) ?? 0)) return
    primary.acked.set(from, opNumber)
    if (this.advancePrimaryCommit(primary)) this.announceCommit(primary)
  }

  /** Returns whether the commit-number moved (the new ops are executed). */
  private advancePrimaryCommit(primary: PrimaryState): boolean {
    // The (f)-th highest backup ack: that op and all before it are in f backups' logs and ours.
    const acks = this.peers.map((p) => primary.acked.get(p) ?? 0).sort((a, b) => b - a)
    let commitNumber = this.f === 0 ? this.log.opNumber : (acks[this.f - 1] ?? 0)
    // TEST-ONLY fault: commit (execute, reply) an op as soon as it is in the primary's own log.
    if (this.cfg.testFault === 'reply-before-quorum') commitNumber = this.log.opNumber
    if (commitNumber <= this.log.commitNumber) return false
    this.log.setCommitNumber(commitNumber)
    this.knownCommitNumber = Math.max(this.knownCommitNumber, commitNumber)
    this.executeCommitted()
    return true
  }

  /**
   * 4.1 step 6: the backups learn the commit-number from the next Prepare, or from a Commit when there
   * is none. Both go out at once (the paper waits for an idle period before sending Commit), so a
   * backup where the command arrived answers its client one origin-primary RTT after the primary.
   */
  private announceCommit(primary: PrimaryState): void {
    if (this.propose(primary) === 0) this.broadcastCommit()
  }

  /** 4.1 step 7: a backup learns the commit-number from the primary's Commit (or Prepare). */
  private onCommit(from: NodeId, msg: CommitMsg): void {
    if (!this.acceptPrimaryMessage(from, msg.view)) return
    this.learnCommitNumber(msg.commitNumber)
  }

  private onCommitTimeout(): void {
    if (this.primary === null) return
    this.broadcastCommit()
    this.ctx.setTimer(TIMER_COMMIT, this.cfg.commitIntervalMs)
  }

  private broadcastCommit(): void {
    const msg: CommitMsg = { type: 'commit', view: this.log.view, commitNumber: this.log.commitNumber }
    for (const peer of this.peers) this.ctx.send(peer, msg)
  }

  /**
   * A Prepare or Commit of `view` from its primary. Returns whether to process it in normal status. A
   * replica behind (an older view, or mid view change for this one) has missed the StartView: it
   * enters the view with its committed prefix only (every later op may differ in the new view) and
   * fetches the rest by state transfer (5.2).
   */
  private acceptPrimaryMessage(from: NodeId, view: number): boolean {
    const status = this.log.status
    if (status === 'recovering' || view < this.log.view || from !== this.primaryOf(view)) return false
    if (view > this.log.view || status === 'view-change') this.enterViewBehind(view, from)
    this.awaitingFirstPrimary = false
    this.armViewChangeTimer() // the primary is alive
    return true
  }

  /** Commit what the primary says is committed, as far as our log reaches (it is a prefix of the primary's). */
  private learnCommitNumber(commitNumber: number): void {
    this.knownCommitNumber = Math.max(this.knownCommitNumber, commitNumber)
    const reachable = Math.min(this.knownCommitNumber, this.log.opNumber)
    if (reachable > this.log.commitNumber) {
      this.log.setCommitNumber(reachable)
      this.executeCommitted()
    }
  }

  /** Executes committed ops in order (4.1 steps 5 and 7) and answers the clients whose commands arrived here. */
  private executeCommitted(): void {
    while (this.executed < this.log.commitNumber) {
      const op = this.log.op(this.executed + 1)
      if (op === undefined) throw new Error(`internal: committed op ${this.executed + 1} missing`)
      for (const cmd of op.commands) {
        const result = this.ctx.execute(cmd)
        this.primary?.queue.forget(cmd.id)
        if (this.forwarder.settle(cmd.id)) this.ctx.reply(cmd.id, { status: 'ok', value: result.value })
      }
      this.executed++
      this.ctx.emit({ type: 'commit', commands: op.commands.length })
    }
  }

  // ---------------------------------------------------------------- 4.2 view changes

  /** 4.2 step 1: a backup that misses its primary, or a view change that does not finish, moves on. */
  private onViewChangeTimeout(): void {
    if (this.log.status === 'recovering' || this.primary !== null) return
    this.enterViewChange(this.log.view + 1)
  }

  private onStartViewChange(from: NodeId, msg: StartViewChangeMsg): void {
    if (this.log.status === 'recovering' || msg.view < this.log.view) return
    if (msg.view === this.log.view && this.log.status === 'normal') {
      // It missed the StartView of a view we are normal in: the primary sends it again.
      if (this.primary !== null) this.sendStartView(from, 0)
      return
    }
    if (msg.view > this.log.view) this.enterViewChange(msg.view)
    const vc = this.viewChange
    if (vc === null) return
    vc.startViewChangeFrom.add(from)
    this.maybeSendDoViewChange(vc)
  }

  /** 4.2 step 2: with f StartViewChange messages from others, send our log to the new primary. */
  private maybeSendDoViewChange(vc: ViewChangeState): void {
    if (vc.doViewChangeSent || vc.startViewChangeFrom.size < this.f) return
    vc.doViewChangeSent = true
    this.sendDoViewChange()
  }

  private sendDoViewChange(): void {
    const msg: DoViewChangeMsg = {
      type: 'do-view-change',
      view: this.log.view,
      lastNormalView: this.log.lastNormalView,
      opNumber: this.log.opNumber,
      commitNumber: this.log.commitNumber,
      ops: this.log.slice(this.log.commitNumber),
    }
    const newPrimary = this.primaryOf(this.log.view)
    if (newPrimary === this.ctx.self) this.collectDoViewChange(this.ctx.self, msg)
    else this.ctx.send(newPrimary, msg)
  }

  private onDoViewChange(from: NodeId, msg: DoViewChangeMsg): void {
    if (this.log.status === 'recovering' || msg.view < this.log.view) return
    if (msg.view === this.log.view && this.log.status === 'normal') {
      if (this.primary !== null) this.sendStartView(from, msg.commitNumber)
      return
    }
    if (this.primaryOf(msg.view) !== this.ctx.self) return
    if (msg.view > this.log.view) this.enterViewChange(msg.view)
    this.collectDoViewChange(from, msg)
  }

  /** 4.2 step 3: the new primary collects DoViewChange messages (its own included once sent). */
  private collectDoViewChange(from: NodeId, msg: DoViewChangeMsg): void {
    const vc = this.viewChange
    if (vc === null || msg.view !== this.log.view) return
    vc.doViewChanges.set(from, msg)
    this.tryStartView(vc)
  }

  /**
   * 4.2 step 3: with f + 1 DoViewChange messages, the log with the highest last normal view, then the
   * highest op-number, becomes the new view's. Two logs with the same last normal view and op-number
   * are equal (both are prefixes of that view's primary's log). The chosen log's ops up to its sender's
   * commit-number were not sent; when our own committed prefix does not reach that far, we fetch
   * those committed ops first (any replica gives committed ops, 5.2) and try again.
   */
  private tryStartView(vc: ViewChangeState): void {
    if (vc.doViewChanges.size < this.f + 1) return
    let best: DoViewChangeMsg | null = null
    let bestFrom: NodeId = this.ctx.self
    let commitNumber = this.log.commitNumber
    for (const [sender, dvc] of vc.doViewChanges) {
      commitNumber = Math.max(commitNumber, dvc.commitNumber)
      if (
        best === null ||
        dvc.lastNormalView > best.lastNormalView ||
        (dvc.lastNormalView === best.lastNormalView && dvc.opNumber > best.opNumber)
      ) {
        best = dvc
        bestFrom = sender
      }
    }
    if (best === null) throw new Error('internal: no DoViewChange')
    if (commitNumber > best.opNumber)
      throw new Error(
        `safety: view ${this.log.view} chose a log of ${best.opNumber} ops, but op ${commitNumber} was committed`,
      )
    if (this.log.commitNumber < best.commitNumber) {
      this.requestState(bestFrom, this.log.commitNumber)
      return
    }
    this.log.replaceSuffix(best.commitNumber, best.ops, this.executed)
    const reportedCommit = new Map([...vc.doViewChanges].map(([sender, dvc]) => [sender, dvc.commitNumber]))
    this.enterNormal(this.log.view)
    this.learnCommitNumber(commitNumber)
    for (const peer of this.peers) this.sendStartView(peer, reportedCommit.get(peer) ?? 0)
    this.ctx.emit({ type: 'elected', epoch: this.log.view })
    this.forwarder.forwardAll() // commands that waited here for a view go into the first new ops
  }

  /**
   * StartView with the log after the receiver's committed prefix as far as we know it (its
   * DoViewChange's commit-number), but never more than stateTransferBatchOps committed ops: a receiver
   * further behind fetches the rest by state transfer.
   */
  private sendStartView(to: NodeId, receiverCommitNumber: number): void {
    const commitNumber = this.log.commitNumber
    const floor = Math.max(0, commitNumber - this.cfg.stateTransferBatchOps)
    const fromOpNumber = Math.min(commitNumber, Math.max(receiverCommitNumber, floor))
    this.ctx.send(to, {
      type: 'start-view',
      view: this.log.view,
      fromOpNumber,
      ops: this.log.slice(fromOpNumber),
      commitNumber,
    })
  }

  /** 4.2 step 5: a backup adopts the new view's log and acknowledges its uncommitted ops. */
  private onStartView(from: NodeId, msg: StartViewMsg): void {
    if (this.log.status === 'recovering' || msg.view < this.log.view) return
    if (msg.view === this.log.view && this.log.status === 'normal') return
    if (from !== this.primaryOf(msg.view)) return
    if (msg.fromOpNumber > this.log.commitNumber) {
      // the new log starts beyond our committed prefix: keep that prefix and fetch the rest (5.2)
      this.enterViewBehind(msg.view, from)
      return
    }
    this.log.replaceSuffix(msg.fromOpNumber, msg.ops, this.executed)
    this.enterNormal(msg.view)
    this.learnCommitNumber(msg.commitNumber)
    if (this.log.opNumber > this.log.commitNumber)
      this.ctx.send(from, { type: 'prepare-ok', view: this.log.view, opNumber: this.log.opNumber })
    this.forwarder.forwardAll()
  }

  /**
   * We are behind `view` (we missed its StartView, or it starts beyond our committed prefix): enter it
   * with our committed prefix only (every later op may differ in the new view) and fetch the rest from
   * its primary by state transfer (5.2).
   */
  private enterViewBehind(view: number, primary: NodeId): void {
    this.log.truncate(this.log.commitNumber)
    this.enterNormal(view)
    this.stateRequestedAtMs = null
    this.requestState(primary)
    this.forwarder.forwardAll()
  }

  // ---------------------------------------------------------------- status changes

  /** Status view-change for `view` (durable before our StartViewChange leaves). */
  private enterViewChange(view: number): void {
    this.awaitingFirstPrimary = false
    if (this.primary !== null) this.ctx.emit({ type: 'stepped-down', epoch: this.log.view })
    this.primary = null
    this.log.setView(view, 'view-change')
    this.knownCommitNumber = this.log.commitNumber
    this.earlyPrepares.clear()
    this.viewChange = { startViewChangeFrom: new Set(), doViewChangeSent: false, doViewChanges: new Map() }
    this.ctx.clearTimer(TIMER_COMMIT)
    this.armViewChangeTimer()
    for (const peer of this.peers) this.ctx.send(peer, { type: 'start-view-change', view })
    this.maybeSendDoViewChange(this.viewChange)
  }

  /**
   * Status normal in `view` (default: the current one), as its primary or a backup. Callers send what
   * the new status owes (StartView, state requests) and then forward the pending commands.
   */
  private enterNormal(view = this.log.view): void {
    const wasPrimary = this.primary !== null
    const previousView = this.log.view
    const viewChanged = view !== this.log.view || this.log.status !== 'normal'
    if (viewChanged) this.log.setView(view, 'normal')
    if (viewChanged) this.knownCommitNumber = this.log.commitNumber
    if (viewChanged) this.earlyPrepares.clear()
    if (viewChanged) this.awaitingFirstPrimary = false
    this.viewChange = null
    this.recovery = null
    if (this.primaryOf(view) === this.ctx.self) {
      if (!wasPrimary)
        this.primary = {
          acked: new Map(),
          ackedAtLastResend: new Map(),
          queue: new CommandQueue(this.cfg.maxQueuedCommands),
        }
      this.ctx.clearTimer(TIMER_VIEW_CHANGE)
      this.ctx.setTimer(TIMER_COMMIT, this.cfg.commitIntervalMs)
    } else {
      if (wasPrimary) this.ctx.emit({ type: 'stepped-down', epoch: previousView })
      this.primary = null
      this.ctx.clearTimer(TIMER_COMMIT)
      this.armViewChangeTimer()
    }
  }

  private armViewChangeTimer(): void {
    const span = this.cfg.viewChangeTimeoutMsMax - this.cfg.viewChangeTimeoutMsMin
    const graceMs = this.awaitingFirstPrimary ? this.cfg.firstBootGraceMs : 0
    this.ctx.setTimer(TIMER_VIEW_CHANGE, graceMs + this.cfg.viewChangeTimeoutMsMin + this.ctx.random() * span)
  }

  // ---------------------------------------------------------------- 4.3 recovery

  private startRecovery(): void {
    this.recovery = { nonce: Math.floor(this.ctx.random() * 2 ** 48), responses: new Map() }
    this.ctx.clearTimer(TIMER_VIEW_CHANGE)
    this.sendRecovery(this.recovery)
  }

  private sendRecovery(recovery: RecoveryState): void {
    for (const peer of this.peers) this.ctx.send(peer, { type: 'recovery', nonce: recovery.nonce })
  }

  /** 4.3 step 2: only a replica in normal status answers; only the primary sends its state. */
  private onRecovery(from: NodeId, msg: RecoveryMsg): void {
    if (this.log.status !== 'normal') return
    this.ctx.send(from, {
      type: 'recovery-response',
      view: this.log.view,
      nonce: msg.nonce,
      primaryState:
        this.primary !== null ? { log: this.log.slice(0), commitNumber: this.log.commitNumber } : null,
    })
  }

  /** 4.3 step 3: f + 1 answers to our nonce, one of them from the primary of the latest view among them. */
  private onRecoveryResponse(from: NodeId, msg: RecoveryResponseMsg): void {
    const recovery = this.recovery
    if (recovery === null || msg.nonce !== recovery.nonce) return
    recovery.responses.set(from, msg)
    if (recovery.responses.size < this.f + 1) return
    let latestView = -1
    for (const r of recovery.responses.values()) latestView = Math.max(latestView, r.view)
    const fromPrimary = recovery.responses.get(this.primaryOf(latestView))
    if (fromPrimary === undefined || fromPrimary.view !== latestView || fromPrimary.primaryState === null)
      return
    this.log.adoptRecovered(latestView, fromPrimary.primaryState.log, fromPrimary.primaryState.commitNumber)
    this.recovery = null
    this.executeCommitted()
    this.enterNormal(latestView)
    this.ctx.emit({ type: 'recovery', detail: `recovered in view ${latestView} at op ${this.log.opNumber}` })
    this.forwarder.forwardAll()
  }

  // ---------------------------------------------------------------- 5.2 state transfer

  private requestState(target: NodeId, fromOpNumber = this.log.opNumber): void {
    const now = this.ctx.now()
    if (this.stateRequestedAtMs !== null && now - this.stateRequestedAtMs < this.cfg.retransmitMs) return
    this.stateRequestedAtMs = now
    this.stateRequestFrom = fromOpNumber
    this.ctx.send(target, { type: 'get-state', view: this.log.view, opNumber: fromOpNumber })
  }

  /**
   * A replica normal in the requester's view gives its log (a prefix of, or equal to, the primary's);
   * any other replica that is not recovering gives committed ops only, which every later log shares.
   */
  private onGetState(from: NodeId, msg: GetStateMsg): void {
    if (this.log.status === 'recovering') return
    const sameView = this.log.status === 'normal' && msg.view === this.log.view
    const upTo = sameView ? this.log.opNumber : this.log.commitNumber
    if (!sameView && msg.opNumber >= upTo) return
    const fromOpNumber = Math.min(msg.opNumber, upTo)
    this.ctx.send(from, {
      type: 'new-state',
      view: this.log.view,
      fromOpNumber,
      ops: this.log.slice(fromOpNumber, Math.min(upTo, fromOpNumber + this.cfg.stateTransferBatchOps)),
      opNumber: upTo,
      commitNumber: this.log.commitNumber,
    })
  }

  private onNewState(from: NodeId, msg: NewStateMsg): void {
    if (this.log.status === 'view-change') {
      this.installCommitted(msg)
      return
    }
    if (this.log.status !== 'normal' || msg.view !== this.log.view) return
    // Both logs are prefixes of this view's primary's log: take the part beyond ours, if it reaches us.
    if (msg.fromOpNumber > this.log.opNumber || this.primary !== null) return
    const opBefore = this.log.opNumber
    this.appendInOrder(msg.ops.slice(this.log.opNumber - msg.fromOpNumber))
    this.learnCommitNumber(msg.commitNumber)
    if (this.log.opNumber > opBefore) {
      this.ctx.send(this.primaryOf(this.log.view), {
        type: 'prepare-ok',
        view: this.log.view,
        opNumber: this.log.opNumber,
      })
      this.ctx.emit({ type: 'recovery', detail: `state transfer to op ${this.log.opNumber}` })
    }
    // The answer to our latest request is followed at once by the next request while we are behind.
    // A stale or duplicate answer is not: every answer asking again would multiply the requests in
    // flight. The retransmit timer retries a lost one.
    if (msg.fromOpNumber !== this.stateRequestFrom) return
    this.stateRequestFrom = null
    this.stateRequestedAtMs = null
    if (this.log.opNumber < msg.opNumber || this.log.commitNumber < this.knownCommitNumber)
      this.requestState(from)
  }

  /** Mid view change (a new primary fetching what the chosen log omits): take the committed ops. */
  private installCommitted(msg: NewStateMsg): void {
    const committedEnd = Math.min(msg.fromOpNumber + msg.ops.length, msg.commitNumber)
    if (msg.fromOpNumber > this.log.commitNumber || committedEnd <= this.log.commitNumber) return
    this.log.installCommitted(
      msg.fromOpNumber,
      msg.ops.slice(0, committedEnd - msg.fromOpNumber),
      this.executed,
    )
    this.knownCommitNumber = Math.max(this.knownCommitNumber, this.log.commitNumber)
    this.executeCommitted()
    this.stateRequestedAtMs = null
    if (this.viewChange !== null && this.primaryOf(this.log.view) === this.ctx.self) {
      // our own DoViewChange now reports the longer committed prefix
      if (this.viewChange.doViewChangeSent) this.sendDoViewChange()
      else this.tryStartView(this.viewChange)
    }
  }

  // ---------------------------------------------------------------- retransmission and forwarding

  /** Messages are lost: each status resends what it is waiting on. */
  private onRetransmitTimeout(): void {
    this.ctx.setTimer(TIMER_RETRANSMIT, this.cfg.retransmitMs)
    const status = this.log.status
    if (status === 'recovering' && this.recovery !== null) {
      this.sendRecovery(this.recovery)
    } else if (status === 'view-change' && this.viewChange !== null) {
      for (const peer of this.peers) this.ctx.send(peer, { type: 'start-view-change', view: this.log.view })
      if (this.viewChange.doViewChangeSent) this.sendDoViewChange()
    } else if (this.primary !== null) {
      this.resendPrepares(this.primary)
    } else if (this.log.commitNumber < this.knownCommitNumber) {
      this.stateRequestedAtMs = null
      this.requestState(this.primaryOf(this.log.view))
    }
  }

  /** Each backup that has not acknowledged every op gets the next ones again (a bounded batch). */
  private resendPrepares(primary: PrimaryState): void {
    for (const peer of this.peers) {
      const acked = primary.acked.get(peer) ?? this.log.commitNumber
      // A backup whose acks moved since the last round is keeping up: its Prepares are in flight.
      const previous = primary.ackedAtLastResend.get(peer)
      primary.ackedAtLastResend.set(peer, acked)
      if (previous === undefined || previous !== acked) continue
      const upTo = Math.min(this.log.opNumber, acked + this.cfg.stateTransferBatchOps)
      for (let n = acked + 1; n <= upTo; n++) {
        this.ctx.send(peer, {
          type: 'prepare',
          view: this.log.view,
          opNumber: n,
          op: this.log.op(n)!,
          commitNumber: this.log.commitNumber,
        })
      }
    }
  }

  private primaryOf(view: number): NodeId {
    return this.sorted[view % this.sorted.length]!
  }
}
