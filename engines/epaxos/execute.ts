/**
 * Execution (SOSP'13 section 4.2, "Execution algorithm"): the committed dependency graph is split into
 * strongly connected components (Tarjan); an SCC runs once everything it reaches is committed, after
 * every SCC it depends on, and inside an SCC in (seq, instance id) order.
 *
 * This is one iterative pass (no recursion, no waiting inside the pass: efficient/epaxos #26 busy-waits
 * in its strongconnect): vertices are the committed, unexecuted instances; an edge to an instance that is
 * not committed here marks its SCC blocked (and every SCC that reaches it); blocked SCCs wait for a later
 * pass, and the uncommitted instances they wait on are reported so the caller can recover them. Each
 * vertex and edge is looked at once per pass, so a pass is O(V + E) over what is not yet executed.
 */
import { compareInstanceIds } from './instance-id.ts'

export interface ExecutionGraph {
  /** 'missing': not known here, or known but not committed yet */
  state(id: string): 'committed' | 'executed' | 'missing'
  deps(id: string): readonly string[]
  seq(id: string): number
}

interface Frame {
  readonly id: string
  readonly deps: readonly string[]
  next: number
}

/**
 * Executes every committed instance whose dependencies (transitively) are all committed, in SCC order.
 * `roots`: the committed, unexecuted instances, in a deterministic order. `execute` is called once per
 * instance, in execution order, and must make `state(id)` return 'executed'. `blockedOn` receives each
 * missing instance an SCC waits on (possibly more than once).
 */
export function executeCommitted(
  roots: Iterable<string>,
  graph: ExecutionGraph,
  execute: (id: string) => void,
  blockedOn: (id: string) => void,
): void {
  const index = new Map<string, number>()
  const low = new Map<string, number>()
  const onStack = new Set<string>()
  const blocked = new Set<string>()
  const stack: string[] = []
  let counter = 0

  const visit = (id: string, frames: Frame[]): void => {
    index.set(id, counter)
    low.set(id, counter)
    counter++
    stack.push(id)
    onStack.add(id)
    frames.push({ id, deps: graph.deps(id), next: 0 })
  }

  for (const root of roots) {
    if (index.has(root) || graph.state(root) !== 'committed') continue
    const frames: Frame[] = []
    visit(root, frames)
    while (frames.length > 0) {
      const frame = frames[frames.length - 1]!
      if (frame.next < frame.deps.length) {
        const dep = frame.deps[frame.next++]!
        const state = graph.state(dep)
        if (state === 'executed') continue
        if (state === 'missing') {
          blocked.add(frame.id)
          blockedOn(dep)
          continue
        }
        if (!index.has(dep)) {
          visit(dep, frames)
        } else if (onStack.has(dep)) {
          low.set(frame.id, Math.min(low.get(frame.id)!, index.get(dep)!))
        } else if (blocked.has(dep)) {
          // a completed SCC that could not run: neither can this one
          blocked.add(frame.id)
        }
        continue
      }
      frames.pop()
      const id = frame.id
      if (low.get(id) === index.get(id)) completeScc(id)
      const parent = frames[frames.length - 1]
      if (parent !== undefined) {
        low.set(parent.id, Math.min(low.get(parent.id)!, low.get(id)!))
        if (blocked.has(id)) blocked.add(parent.id)
      }
    }
  }

  function completeScc(rootId: string): void {
    const members: string[] = []
    let member: string
    do {
      member = stack.pop()!
      onStack.delete(member)
      members.push(member)
    } while (member !== rootId)
    if (members.some((m) => blocked.has(m))) {
      for (const m of members) blocked.add(m)
      return
    }
    members.sort((a, b) => graph.seq(a) - graph.seq(b) || compareInstanceIds(a, b))
    for (const m of members) execute(m)
  }
}
