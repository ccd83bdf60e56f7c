/**
 * A polynomial decision for a register whose every read value was written by exactly one put, after
 * Gibbons & Korach ("Testing shared memories", SIAM J. Comput. 1997), as restated for registers by
 * Golab, Li & Shah ("On the k-atomicity-verification problem", ICDCS 2011).
 *
 * A value's cluster is its put and the gets that read it. f = the earliest completion in the cluster,
 * s = the latest invocation. In any linearization the put goes no later than f and the last read no
 * earlier than s, and no other put may fall between them. If f < s the cluster has a forward zone
 * [f, s]: the value must hold the register throughout. Otherwise it has a backward zone [s, f]: the
 * whole cluster can take effect at one instant in it. The history is linearizable iff no get completes
 * before its put is invoked, no two forward zones overlap, and no backward zone lies inside a forward
 * zone. The initial null is a put at -infinity; a put nobody read is a cluster of its own.
 * Overlap is strict (zones that only touch are fine), matching "touching intervals are concurrent".
 * O(n log n); the brute-force tests check it against every ordering on small histories.
 */
import { describeOp, type KeyVerdict, type PreparedOp, unreadValueId } from './prepare.ts'

interface Cluster {
  /** null: the initial value */
  readonly put: PreparedOp | null
  readonly reads: PreparedOp[]
  firstCompleteUs: number
  lastInvokeUs: number
  /** the ops that set firstCompleteUs and lastInvokeUs (null: the initial value's virtual put) */
  firstCompleting: PreparedOp | null
  lastInvoked: PreparedOp | null
}

/** The zone test needs: finite deadlines, one writer per read value, and no put of a read null. */
export function zonesApply(ops: readonly PreparedOp[]): boolean {
  const writers = new Map<number, number>()
  for (const op of ops) {
    if (op.completeUs === Infinity) return false
    if (op.isPut && op.valueId !== unreadValueId) writers.set(op.valueId, (writers.get(op.valueId) ?? 0) + 1)
  }
  if (writers.has(0)) return false
  for (const count of writers.values()) if (count !== 1) return false
  return ops.every((op) => op.isPut || op.valueId === 0 || writers.has(op.valueId))
}

export function checkByZones(ops: readonly PreparedOp[]): KeyVerdict {
  if (!zonesApply(ops)) throw new Error('checkByZones needs a history with one writer per read value')
  const clusters = buildClusters(ops)

  for (const cluster of clusters) {
    const put = cluster.put
    if (put === null) continue
    const early = cluster.reads.find((read) => read.completeUs < put.invokeUs)
    if (early !== undefined) {
      return violation(
        `${describeOp(early.source)}, completed at ${early.completeUs}us, before ` +
          `${describeOp(put.source)} was invoked at ${put.invokeUs}us`,
        [early, put],
      )
    }
  }

  const forward = clusters.filter((c) => c.firstCompleteUs < c.lastInvokeUs)
  forward.sort((a, b) => a.firstCompleteUs - b.firstCompleteUs)
  let widest: Cluster | undefined
  for (const zone of forward) {
    if (widest !== undefined && zone.firstCompleteUs < widest.lastInvokeUs) {
      return violation(
        `${holds(widest)}, and ${holds(zone)}: both cannot hold the register at once (their periods overlap)`,
        [...defining(widest), ...defining(zone)],
      )
    }
    if (widest === undefined || zone.lastInvokeUs > widest.lastInvokeUs) widest = zone
  }

  // Forward zones are now disjoint and sorted: only the last one starting before a backward zone
  // starts can contain it.
  for (const zone of clusters) {
    if (zone.firstCompleteUs < zone.lastInvokeUs) continue
    const outer = lastStartingBefore(forward, zone.lastInvokeUs)
    if (outer !== undefined && zone.firstCompleteUs < outer.lastInvokeUs) {
      const who = zone.put === null ? 'the initial null' : describeOp(zone.put.source)
      return violation(
        `${holds(outer)}, but ${who} (with any reads of it) must take effect within ` +
          `${zone.lastInvokeUs}us..${zone.firstCompleteUs}us, inside that period`,
        [...defining(outer), ...defining(zone)],
      )
    }
  }
  return { verdict: 'linearizable' }
}

function buildClusters(ops: readonly PreparedOp[]): Cluster[] {
  const initial: Cluster = {
    put: null,
    reads: [],
    firstCompleteUs: -Infinity,
    lastInvokeUs: -Infinity,
    firstCompleting: null,
    lastInvoked: null,
  }
  const byValue = new Map<number, Cluster>([[0, initial]])
  const clusters: Cluster[] = [initial]
  const newCluster = (put: PreparedOp): Cluster => {
    const cluster: Cluster = {
      put,
      reads: [],
      firstCompleteUs: put.completeUs,
      lastInvokeUs: put.invokeUs,
      firstCompleting: put,
      lastInvoked: put,
    }
    clusters.push(cluster)
    return cluster
  }
  for (const op of ops) {
    if (!op.isPut) continue
    const cluster = newCluster(op)
    if (op.valueId !== unreadValueId) byValue.set(op.valueId, cluster)
  }
  for (const op of ops) {
    if (op.isPut) continue
    const cluster = byValue.get(op.valueId)
    if (cluster === undefined) throw new Error(`no put for value id ${op.valueId}`)
    cluster.reads.push(op)
    if (op.completeUs < cluster.firstCompleteUs) {
      cluster.firstCompleteUs = op.completeUs
      cluster.firstCompleting = op
    }
    if (op.invokeUs > cluster.lastInvokeUs) {
      cluster.lastInvokeUs = op.invokeUs
      cluster.lastInvoked = op
    }
  }
  return clusters
}

function lastStartingBefore(sortedForward: readonly Cluster[], timeUs: number): Cluster | undefined {
  let lo = 0
  let hi = sortedForward.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (sortedForward[mid]!.firstCompleteUs < timeUs) lo = mid + 1
    else hi = mid
  }
  return lo === 0 ? undefined : sortedForward[lo - 1]
}

/** "the value "a" (put c1#2) must hold the register from 10us to 20us" */
function holds(cluster: Cluster): string {
  const what =
    cluster.put === null
      ? 'the initial null'
      : `the value ${JSON.stringify(cluster.put.source.value)} (put ${cluster.put.source.client}#${cluster.put.source.seq})`
  const from = cluster.firstCompleteUs === -Infinity ? 'the start' : `${cluster.firstCompleteUs}us`
  return `${what} must hold the register from ${from} until a read invoked at ${cluster.lastInvokeUs}us`
}

/** A cluster's put and the ops that fix its zone: keeping only these keeps the zone, so the violation. */
function defining(cluster: Cluster): PreparedOp[] {
  return [cluster.put, cluster.firstCompleting, cluster.lastInvoked].filter((op) => op !== null)
}

function violation(message: string, witness: PreparedOp[]): KeyVerdict {
  return { verdict: 'violation', message, witness: [...new Set(witness.map((op) => op.source))] }
}
