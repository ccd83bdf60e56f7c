/**
 * Engine config parsing: strict zod schemas (unknown keys rejected, so a misspelt field is an error and
 * never silently ignored) merged over the engine's defaults, failing with a ConfigError that names the
 * field and the fix.
 */
import type { z } from 'zod'
import { ConfigError } from './engine.ts'

export function parseEngineConfig<S extends z.ZodType>(
  engine: string,
  schema: S,
  defaults: z.input<S>,
  raw: unknown,
): z.output<S> {
  if (raw !== undefined && (typeof raw !== 'object' || raw === null || Array.isArray(raw))) {
    throw new ConfigError(
      `${engine}`,
      `config must be an object, got ${JSON.stringify(raw)}`,
      'give a mapping of field: value',
    )
  }
  const merged = { ...(defaults as object), ...((raw as object | undefined) ?? {}) }
  const parsed = schema.safeParse(merged)
  if (parsed.success) return parsed.data
  const issue = parsed.error.issues[0]!
  const field = [engine, ...issue.path.map(String)].join('.')
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.join(', ')
    const known = Object.keys(defaults as object).join(', ')
    throw new ConfigError(`${engine}.${keys}`, `unknown config field`, `remove it or use one of: ${known}`)
  }
  throw new ConfigError(field, issue.message, 'see the engine README for the allowed values')
}
