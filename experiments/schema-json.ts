/**
 * experiments/schema.json from the zod schema, for editors (a `# yaml-language-server: $schema=` line)
 * and other tools. Regenerate after changing schema.ts: `node --import tsx experiments/schema-json.ts`;
 * a test fails while the committed file is out of date.
 */
import { writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { z } from 'zod'
import { experimentSchema } from './schema.ts'

export const SCHEMA_JSON_PATH = join(dirname(fileURLToPath(import.meta.url)), 'schema.json')

export function experimentJsonSchemaText(): string {
  const schema = z.toJSONSchema(experimentSchema, { io: 'input', unrepresentable: 'any' })
  return `${JSON.stringify({ ...schema, title: 'consensus-bench experiment', $id: 'experiments/schema.json' }, null, 2)}\n`
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(SCHEMA_JSON_PATH, experimentJsonSchemaText())
  process.stdout.write(`wrote ${SCHEMA_JSON_PATH}\n`)
}
