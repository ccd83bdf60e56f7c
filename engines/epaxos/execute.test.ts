/**
 * The SCC executor against a brute-force reference (etcd's quick_test habit): random dependency graphs,
 * some instances missing (unknown or uncommitted). The reference computes reachability by brute force
 * and says which instances may run (everything they reach is committed) and in which relative order
 * (a dependency outside the instance's SCC first; inside an SCC by seq, then instance id).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Rng } from '../core/runtime/rng.ts'
import { type ExecutionGraph, executeCommitted } from './execute.ts'
import { compareInstanceIds } from './instance-id.ts'

interface Vertex {
  readonly deps: string[]
  readonly seq: number
}

function randomGraph(rng: Rng): Map<string, Vertex> {
  const leaders = 1 + rng.int(3)
  const ids: string[] = []
  for (let l = 0; l < leaders; l++) for (let i = 0; i < 1 + rng.int(5); i++) ids.push(`r${l}.${i}`)
  const density = rng.between(0.05, 0.4)
  const graph = new Map<string, Vertex>()
  for (const id of ids) {
    const deps = ids.filter((other) => other !== id && rng.chance(density))
    // an edge to an instance nobody here has seen yet (the graph's missing vertices)
    if (rng.chance(0.1)) deps.push(`r9.${rng.int(3)}`)
    graph.set(id, { deps, seq: 1 + rng.int(4) })
  }
  return graph
}

/** Everything reachable from id (itself excluded unless on a cycle), walking committed vertices only. */
function reachable(graph: Map<string, Vertex>, committed: Set<string>, id: string): Set<string> {
  const seen = new Set<string>()
  const todo = [...graph.get(id)!.deps]
  while (todo.length > 0) {
    const next = todo.pop()!
    if (seen.has(next)) continue
    seen.add(next)
    if (committed.has(next)) todo.push(...graph.get(next)!.deps)
  }
  return seen
}

function run(graph: Map<string, Vertex>, committed: Set<string>, executed: string[], roots: string[]): void {
  const done = new Set(executed)
  const view: ExecutionGraph = {
    state: (id) => (done.has(id) ? 'executed' : committed.has(id) ? 'committed' : 'missing'),
    deps: (id) => graph.get(id)!.deps,
    seq: (id) => graph.get(id)!.seq,
  }
  executeCommitted(
    roots.filter((r) => committed.has(r) && !done.has(r)),
    view,
    (id) => {
      assert.ok(!done.has(id), `${id} executed twice`)
      done.add(id)
      executed.push(id)
    },
    (id) => assert.ok(!committed.has(id), `${id} reported missing but it is committed`),
  )
}

/** The reference's verdict on a finished execution of a fully known graph state. */
function checkAgainstReference(graph: Map<string, Vertex>, committed: Set<string>, order: string[]): void {
  const position = new Map(order.map((id, i) => [id, i]))
  for (const id of committed) {
    const reach = reachable(graph, committed, id)
    const runnable = [...reach].every((r) => committed.has(r))
    assert.equal(position.has(id), runnable, `${id}: executed=${position.has(id)} but runnable=${runnable}`)
    if (!runnable) continue
    for (const dep of reach) {
      if (dep === id) continue
      const mutual = reachable(graph, committed, dep).has(id)
      const before =
        !mutual ||
        graph.get(dep)!.seq < graph.get(id)!.seq ||
        (graph.get(dep)!.seq === graph.get(id)!.seq && compareInstanceIds(dep, id) < 0)
      assert.equal(
        position.get(dep)! < position.get(id)!,
        before,
        `${dep} vs ${id}: mutual=${mutual}, order ${order.join(' ')}`,
      )
    }
  }
}

function shuffled<T>(rng: Rng, items: readonly T[]): T[] {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(i + 1)
    ;[out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}

describe('executeCommitted against a brute-force reference', () => {
  it('one pass over a random committed subset: runs exactly the runnable instances, in dependency/SCC order', () => {
    const rng = new Rng(7, 'epaxos-exec')
    for (let trial = 0; trial < 2000; trial++) {
      const graph = randomGraph(rng)
      const committed = new Set([...graph.keys()].filter(() => rng.chance(0.8)))
      const order: string[] = []
      run(graph, committed, order, shuffled(rng, [...committed]))
      checkAgainstReference(graph, committed, order)
    }
  })

  it('commits arriving in different orders (two replicas) give the same relative order of connected instances', () => {
    const rng = new Rng(11, 'epaxos-exec-incremental')
    for (let trial = 0; trial < 1000; trial++) {
      const graph = randomGraph(rng)
      const known = [...graph.keys()]
      const orders = [0, 1].map(() => {
        const committed = new Set<string>()
        const executed: string[] = []
        for (const id of shuffled(rng, known)) {
          committed.add(id)
          run(graph, committed, executed, shuffled(rng, [...committed]))
        }
        checkAgainstReference(graph, committed, executed)
        return executed
      })
      const [a, b] = orders as [string[], string[]]
      assert.deepEqual([...a].sort(), [...b].sort(), 'the replicas executed different sets')
      const posB = new Map(b.map((id, i) => [id, i]))
      const all = new Set(known)
      for (let i = 0; i < a.length; i++) {
        for (let j = i + 1; j < a.length; j++) {
          const x = a[i]!
          const y = a[j]!
          const connected = reachable(graph, all, x).has(y) || reachable(graph, all, y).has(x)
          if (connected) assert.ok(posB.get(x)! < posB.get(y)!, `${x} before ${y} at one replica only`)
        }
      }
    }
  })

  it('a long chain executes iteratively (no recursion depth limit)', () => {
    const graph = new Map<string, Vertex>()
    const n = 50_000
    for (let i = 0; i < n; i++) graph.set(`r0.${i}`, { deps: i > 0 ? [`r0.${i - 1}`] : [], seq: 1 })
    const order: string[] = []
    run(graph, new Set(graph.keys()), order, [`r0.${n - 1}`])
    assert.equal(order.length, n)
    assert.equal(order[0], 'r0.0')
    assert.equal(order[n - 1], `r0.${n - 1}`)
  })
})
