/**
 * One HTTP attempt against one replica's client API (engines/host): `PUT /kv/:key` and `GET /kv/:key`
 * with the command id in `x-client-id` / `x-seq`. The replica holds the response until the command is
 * committed, so the client's timeout is the only bound on an attempt.
 *
 * An attempt ends in exactly one of these, and whether the command may have taken effect matters to
 * the checker:
 * - ok:        executed; `value` is what a get read (null for a put, or an absent key)
 * - rejected:  409, the replica says the command was not and will not be executed (definite)
 * - refused:   the connection was refused, the request never left (definite)
 * - timeout:   no answer in time (uncertain: it may still commit)
 * - error:     the connection broke, or an unexpected status (uncertain)
 */
import { EventEmitter } from 'node:events'
import { Pool } from 'undici'
import type { NodeId } from '../engines/core/command.ts'
import { answerOf, type HttpKvApi, requestFor } from './http-kv-api.ts'

export type AttemptResult =
  | { readonly kind: 'ok'; readonly value: string | null }
  | { readonly kind: 'rejected'; readonly reason: string }
  | { readonly kind: 'refused' }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'error'; readonly code: string }

export interface KvRequest {
  readonly client: string
  readonly seq: number
  readonly op: 'get' | 'put'
  readonly key: string
  /** the value a put writes */
  readonly value: string | null
}

/** A keep-alive connection pool per replica; closing it closes every socket it opened. */
export class ReplicaClients {
  readonly #pools = new Map<NodeId, Pool>()

  /**
   * `connectionsPerReplica`: at most this many sockets per replica (null: one per concurrent request);
   * requests beyond it wait in the pool's queue for a free connection.
   */
  constructor(
    replicas: ReadonlyArray<{ readonly id: NodeId; readonly clientUrl: string }>,
    connectionsPerReplica: number | null = null,
    /** an external system's API mapping (http-kv-api.ts); null: our replicas' /kv API */
    private readonly api: HttpKvApi | null = null,
  ) {
    for (const r of replicas) {
      if (this.#pools.has(r.id)) throw new Error(`duplicate replica id ${r.id}`)
      // pipelining 1: a replica holds each answer until commit, so a second request on the same
      // connection would wait behind the first (head-of-line)
      this.#pools.set(
        r.id,
        new Pool(r.clientUrl, {
          pipelining: 1,
          keepAliveTimeout: 30_000,
          connections: connectionsPerReplica,
        }),
      )
    }
  }

  async attempt(replica: NodeId, request: KvRequest, timeoutMs: number): Promise<AttemptResult> {
    const pool = this.#pools.get(replica)
    if (pool === undefined) throw new Error(`no pool for replica ${replica}`)
    if (request.op === 'put' && request.value === null) throw new Error('a put needs a value')
    // our own timer: undici's headersTimeout runs on a coarse (about 1 s) timer wheel
    // undici takes an EventEmitter as the abort signal: about 10 us a request cheaper than an
    // AbortController (bench:driver, workloads/README.md "Driver capacity"), the same abort
    const abort = new EventEmitter()
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      abort.emit('abort')
    }, timeoutMs)
    try {
      if (this.api !== null) {
        const call = requestFor(this.api, request.op, {
          key: request.key,
          value: request.value ?? '',
          client: request.client,
          seq: request.seq,
        })
        const response = await pool.request({ signal: abort, ...call })
        return answerOf(this.api, request.op, response.statusCode, await response.body.text())
      }
      const response = await pool.request({
        signal: abort,
        path: `/kv/${encodeURIComponent(request.key)}`,
        method: request.op === 'put' ? 'PUT' : 'GET',
        headers: { 'x-client-id': request.client, 'x-seq': String(request.seq) },
        body: request.op === 'put' ? (request.value as string) : null,
      })
      const text = await response.body.text()
      if (response.statusCode === 200) {
        const parsed = JSON.parse(text) as { value?: unknown }
        const value = parsed.value
        if (value !== null && typeof value !== 'string') return { kind: 'error', code: 'bad-response' }
        return { kind: 'ok', value }
      }
      if (response.statusCode === 409) {
        let reason = 'rejected'
        try {
          reason = String((JSON.parse(text) as { reason?: unknown }).reason ?? reason)
        } catch {
          // keep the generic reason: the status alone is the contract
        }
        return { kind: 'rejected', reason }
      }
      return { kind: 'error', code: `http-${response.statusCode}` }
    } catch (err: unknown) {
      if (timedOut) return { kind: 'timeout' }
      const code = (err as { code?: unknown }).code
      if (code === 'ECONNREFUSED') return { kind: 'refused' }
      if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return { kind: 'timeout' }
      return { kind: 'error', code: typeof code === 'string' ? code : 'unknown-error' }
    } finally {
      clearTimeout(timer)
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.#pools.values()].map((p) => p.destroy()))
    this.#pools.clear()
  }
}
