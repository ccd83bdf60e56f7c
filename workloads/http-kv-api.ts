/**
 * How the driver speaks to a system that is not one of our replicas (an external engine, harness/external/):
 * a declarative mapping of put and get onto that system's HTTP API, plain data so it crosses to driver
 * processes. etcd's v3 gateway, for example:
 *
 *   put: { method: POST, path: /v3/kv/put, json: { key: '{keyBase64}', value: '{valueBase64}' } }
 *   get: { method: POST, path: /v3/kv/range, json: { key: '{keyBase64}' },
 *          value: { json: kvs.0.value, encoding: base64 } }
 *
 * Templates: `{key}`, `{keyUrl}` (URL-encoded), `{keyBase64}`, `{value}`, `{valueBase64}`, `{client}`,
 * `{seq}` in the path, the headers, a text `body`, and every string inside a `json` body.
 * A get's value is read at a dotted path of the JSON answer (`kvs.0.value`); a path that is not there
 * means the key is absent (null). A status in `ok` is success; one in `absent` (get only) is success
 * with an absent key; any other is an error, and an error is uncertain (the command may have taken
 * effect), since an external system says nothing the driver can trust about whether it did.
 */
import { z } from 'zod'

const methods = z.enum(['GET', 'PUT', 'POST', 'DELETE', 'PATCH'])
const statuses = z.array(z.number().int().min(100).max(599)).min(1)

const requestFields = {
  method: methods,
  /** starts with '/'; templates allowed */
  path: z.string().regex(/^\//, 'must start with /'),
  headers: z.record(z.string(), z.string()).default({}),
  /** a text body (template) */
  body: z.string().optional(),
  /** a JSON body: every string in it is a template */
  json: z.unknown().optional(),
  /** statuses that mean success */
  ok: statuses.default([200]),
}

export const httpKvApiSchema = z.strictObject({
  put: z.strictObject(requestFields),
  get: z.strictObject({
    ...requestFields,
    /** statuses that mean success with the key absent (404 for many KV APIs); default none */
    absent: z.array(z.number().int().min(100).max(599)).default([]),
    /** where the value is in the JSON answer, and how it is encoded */
    value: z.strictObject({
      json: z.string().min(1),
      encoding: z.enum(['utf8', 'base64']).default('utf8'),
    }),
  }),
})

export type HttpKvApi = z.output<typeof httpKvApiSchema>
export type HttpKvApiInput = z.input<typeof httpKvApiSchema>

export interface TemplateVars {
  readonly key: string
  readonly value: string
  readonly client: string
  readonly seq: number
}

const base64 = (s: string) => Buffer.from(s, 'utf8').toString('base64')

/** Fills `{name}` placeholders; an unknown name is left as it is (the schema's check names it first). */
export function fillTemplate(template: string, v: TemplateVars): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => {
    switch (name) {
      case 'key':
        return v.key
      case 'keyUrl':
        return encodeURIComponent(v.key)
      case 'keyBase64':
        return base64(v.key)
      case 'value':
        return v.value
      case 'valueBase64':
        return base64(v.value)
      case 'client':
        return v.client
      case 'seq':
        return String(v.seq)
      default:
        return whole
    }
  })
}

export const TEMPLATE_NAMES = ['key', 'keyUrl', 'keyBase64', 'value', 'valueBase64', 'client', 'seq']

function fillJson(value: unknown, v: TemplateVars): unknown {
  if (typeof value === 'string') return fillTemplate(value, v)
  if (Array.isArray(value)) return value.map((x) => fillJson(x, v))
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, x]) => [k, fillJson(x, v)]))
  return value
}

export interface HttpCall {
  readonly method: string
  readonly path: string
  readonly headers: Record<string, string>
  readonly body: string | null
}

/** The HTTP request for one command. */
export function requestFor(api: HttpKvApi, op: 'get' | 'put', v: TemplateVars): HttpCall {
  const r = op === 'put' ? api.put : api.get
  const headers = Object.fromEntries(Object.entries(r.headers).map(([k, x]) => [k, fillTemplate(x, v)]))
  let body: string | null = null
  if (r.json !== undefined) {
    body = JSON.stringify(fillJson(r.json, v))
    headers['content-type'] ??= 'application/json'
  } else if (r.body !== undefined) body = fillTemplate(r.body, v)
  return { method: r.method, path: fillTemplate(r.path, v), headers, body }
}

export type ApiAnswer =
  | { readonly kind: 'ok'; readonly value: string | null }
  | { readonly kind: 'error'; readonly code: string }

/** The dotted path `a.0.b` in a parsed JSON value, or undefined where it is not there. */
export function atPath(value: unknown, path: string): unknown {
  let at: unknown = value
  for (const step of path.split('.')) {
    if (at === null || typeof at !== 'object') return undefined
    at = (at as Record<string, unknown>)[step]
  }
  return at
}

/** What an answer means for the command: ok with the value read (null for a put or an absent key), or an error. */
export function answerOf(api: HttpKvApi, op: 'get' | 'put', status: number, text: string): ApiAnswer {
  if (op === 'put') return api.put.ok.includes(status) ? { kind: 'ok', value: null } : httpError(status)
  if (api.get.absent.includes(status)) return { kind: 'ok', value: null }
  if (!api.get.ok.includes(status)) return httpError(status)
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    return { kind: 'error', code: 'bad-response' }
  }
  const raw = atPath(parsed, api.get.value.json)
  if (raw === undefined || raw === null) return { kind: 'ok', value: null }
  if (typeof raw !== 'string') return { kind: 'error', code: 'bad-response' }
  return {
    kind: 'ok',
    value: api.get.value.encoding === 'base64' ? Buffer.from(raw, 'base64').toString('utf8') : raw,
  }
}

function httpError(status: number): ApiAnswer {
  return { kind: 'error', code: `http-${status}` }
}
