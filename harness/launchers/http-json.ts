/** GET a JSON document from a replica's HTTP client API (engines/host/http-api.ts), for the launchers. */
import type { Dispatcher } from 'undici'

/** The replica answered, with a status other than 200. */
export class HttpStatusError extends Error {
  readonly code = 'HTTP_STATUS'
  constructor(readonly status: number) {
    super(`HTTP ${status}`)
  }
}

/**
 * The parsed JSON body of `GET origin + path`; rejects when the request fails (the error keeps undici's
 * `code`: describeRequestError), the status is not 200 or the body is not JSON. `timeoutMs` bounds the
 * wait for the headers and, again, for the body.
 */
export async function fetchJson(
  agent: Dispatcher,
  origin: string,
  path: string,
  timeoutMs: number,
): Promise<unknown> {
  const response = await agent.request({
    origin,
    path,
    method: 'GET',
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  })
  const text = await response.body.text()
  if (response.statusCode !== 200) throw new HttpStatusError(response.statusCode)
  return JSON.parse(text)
}

/** fetchJson, or null for any failure (health polls, where only "answered or not" matters) */
export async function fetchJsonOrNull(
  agent: Dispatcher,
  origin: string,
  path: string,
  timeoutMs: number,
): Promise<unknown> {
  return fetchJson(agent, origin, path, timeoutMs).catch(() => null)
}

/** A failed request in a few words: 'timeout', 'connection refused', 'connection closed', 'HTTP 503', ... */
export function describeRequestError(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code
  switch (code) {
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return 'timeout'
    case 'UND_ERR_CONNECT_TIMEOUT':
      return 'timeout connecting'
    case 'ECONNREFUSED':
      return 'connection refused'
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_SOCKET':
      return 'connection closed'
  }
  if (err instanceof HttpStatusError) return err.message
  if (err instanceof SyntaxError) return 'not JSON'
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err)
}
