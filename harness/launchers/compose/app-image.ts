/**
 * The project image from docker/Dockerfile. The context is streamed as a tar with symlinks dereferenced
 * (`tar -h`): in a worktree node_modules is a symlink, which `docker build .` would copy as a dangling
 * link. Only what the Dockerfile copies goes into the tar; .dockerignore trims it further.
 */
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { REPO_ROOT } from '../local.ts'
import { BASE_IMAGE_TAG } from './base-image.ts'
import { imageExists, runOk } from './docker.ts'

export const APP_IMAGE_TAG = 'consensus-bench/app:local'

/**
 * What docker/Dockerfile COPYs, read from its COPY lines (one list, so a new source folder added to the
 * Dockerfile is in the context too), plus the two files the build itself needs.
 */
export function contextPaths(
  dockerfile = readFileSync(join(REPO_ROOT, 'docker/Dockerfile'), 'utf8'),
): string[] {
  const copied = dockerfile
    .split('\n')
    .filter((line) => /^COPY\s/.test(line))
    .flatMap((line) => line.trim().split(/\s+/).slice(1, -1))
  return ['.dockerignore', 'docker/Dockerfile', ...copied]
}
/** tar-level excludes, so the big dev-only packages never leave this machine's disk */
const TAR_EXCLUDES = [
  'node_modules/@biomejs',
  'node_modules/typescript',
  'node_modules/playwright-core',
  'node_modules/.cache',
]

export interface AppImageOptions {
  readonly tag?: string
  readonly baseImage?: string
  readonly force?: boolean
  readonly progress?: (line: string) => void
}

export async function buildAppImage(options: AppImageOptions = {}): Promise<{ tag: string; built: boolean }> {
  const tag = options.tag ?? APP_IMAGE_TAG
  const progress = options.progress ?? (() => {})
  if (!options.force && (await imageExists(tag))) {
    progress(`docker app-image: ${tag} exists (use --force to rebuild)`)
    return { tag, built: false }
  }
  const baseImage = options.baseImage ?? BASE_IMAGE_TAG
  progress(`docker app-image: building ${tag} FROM ${baseImage}`)
  const tar = spawn(
    'tar',
    [
      '-C',
      REPO_ROOT,
      '-ch',
      ...TAR_EXCLUDES.map((e) => `--exclude=./${e}`),
      ...contextPaths().map((p) => `./${p}`),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  await runOk(
    ['docker', 'build', '--build-arg', `BASE_IMAGE=${baseImage}`, '-f', 'docker/Dockerfile', '-t', tag, '-'],
    // the classic builder: it needs no buildx plugin and reads a tar context from stdin on any daemon
    { input: (stdin) => tar.stdout.pipe(stdin), timeoutMs: 600_000, env: { DOCKER_BUILDKIT: '0' } },
  )
  progress(`docker app-image: ${tag} built`)
  return { tag, built: true }
}
