import assert from 'node:assert/strict'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { REPO_ROOT } from '../local.ts'
import { contextPaths } from './app-image.ts'

test('the image gets every top-level source folder the CLI imports at run time', () => {
  // a folder missing here made `consensus-bench` in the image fail on its first import of it
  const runtime = ['engines', 'harness', 'netem', 'workloads', 'dashboards', 'experiments', 'bin']
  const paths = contextPaths()
  const present = (d: string) => existsSync(join(REPO_ROOT, d)) && readdirSync(join(REPO_ROOT, d)).length > 0
  for (const dir of runtime.filter(present))
    assert.ok(paths.includes(dir), `docker/Dockerfile does not COPY ${dir}/`)
  const topLevelTs = readdirSync(REPO_ROOT).filter((name) => name.endsWith('.ts'))
  assert.deepEqual(topLevelTs, [], 'no top-level .ts file is left out of the image')
})

test('context paths are the Dockerfile COPY sources', () => {
  const paths = contextPaths('FROM x\nCOPY a b ./\nCOPY node_modules ./node_modules\nRUN y\n')
  assert.deepEqual(paths, ['.dockerignore', 'docker/Dockerfile', 'a', 'b', 'node_modules'])
})
