/**
 * Talking to Docker: one argv runner (no shell), the availability probe (client, daemon, compose), and
 * which compose to use (`docker compose` v2 or `docker-compose` v1; both read the same files).
 */
import { spawn } from 'node:child_process'
import { CliError, EXIT } from '../../exit-codes.ts'

export interface DockerResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

export interface RunOptions {
  /** bytes to write to stdin, or a function that pipes into it */
  readonly input?: string | ((stdin: NodeJS.WritableStream) => void)
  readonly timeoutMs?: number
  readonly cwd?: string
  /** added to this process's environment */
  readonly env?: Readonly<Record<string, string>>
}

/** Runs one argv and reports how it ended; never throws for a non-zero exit (127: not installed). */
export function runArgv(argv: readonly string[], options: RunOptions = {}): Promise<DockerResult> {
  const [file, ...args] = argv
  if (file === undefined) throw new Error('docker: empty command')
  return new Promise((resolve) => {
    const child = spawn(file, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
      ...(options.env !== undefined ? { env: { ...process.env, ...options.env } } : {}),
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d
    })
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d
    })
    const timer =
      options.timeoutMs !== undefined ? setTimeout(() => child.kill('SIGKILL'), options.timeoutMs) : undefined
    child.stdin.on('error', () => {}) // the child may exit before reading all of it; its exit code says why
    if (typeof options.input === 'function') options.input(child.stdin)
    else child.stdin.end(options.input ?? '')
    child.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      resolve({ code: err.code === 'ENOENT' ? 127 : 1, stdout, stderr: stderr || err.message })
    })
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code: code ?? (signal !== null ? 128 : 1), stdout, stderr })
    })
  })
}

/** Like runArgv, but a non-zero exit throws an Error naming the command and its stderr. */
export async function runOk(argv: readonly string[], options: RunOptions = {}): Promise<string> {
  const result = await runArgv(argv, options)
  if (result.code !== 0) {
    throw new Error(
      `\`${argv.join(' ')}\` failed (exit ${result.code}): ${(result.stderr || result.stdout).trim().slice(-2000)}`,
    )
  }
  return result.stdout
}

export const INSTALL_DOCKER = 'apt-get install -y docker.io docker-compose'
export const START_DOCKERD = 'dockerd >/var/log/dockerd.log 2>&1 &   (or: systemctl start docker)'

export type DockerProbe =
  | { readonly ok: true; readonly serverVersion: string; readonly compose: readonly string[] | null }
  | { readonly ok: false; readonly reason: string; readonly fix: string }

/** Is there a docker client, a running daemon, and which compose (null when neither is installed)? */
export async function probeDocker(): Promise<DockerProbe> {
  const version = await runArgv(['docker', 'version', '--format', '{{.Server.Version}}'], {
    timeoutMs: 15_000,
  })
  if (version.code === 127)
    return { ok: false, reason: 'the docker client is not installed', fix: INSTALL_DOCKER }
  if (version.code !== 0) {
    return {
      ok: false,
      reason: `dockerd is not running (${version.stderr.trim().split('\n').pop() ?? ''})`,
      fix: START_DOCKERD,
    }
  }
  return { ok: true, serverVersion: version.stdout.trim(), compose: await findCompose() }
}

/** `docker compose` (v2 plugin) when present, else `docker-compose` (v1), else null. */
export async function findCompose(): Promise<readonly string[] | null> {
  if ((await runArgv(['docker', 'compose', 'version'], { timeoutMs: 15_000 })).code === 0)
    return ['docker', 'compose']
  if ((await runArgv(['docker-compose', 'version'], { timeoutMs: 15_000 })).code === 0)
    return ['docker-compose']
  return null
}

/** The probe, or a CliError with exit code 4 and the command that fixes it. */
export async function requireDocker(needCompose: boolean): Promise<{ compose: readonly string[] }> {
  const probe = await probeDocker()
  if (!probe.ok) throw new CliError(`docker: ${probe.reason}\n  fix: ${probe.fix}`, EXIT.missingEnvironment)
  if (needCompose && probe.compose === null) {
    throw new CliError(
      'docker: neither `docker compose` nor `docker-compose` is installed\n  fix: apt-get install -y docker-compose',
      EXIT.missingEnvironment,
    )
  }
  return { compose: probe.compose ?? [] }
}

export async function imageExists(tag: string): Promise<boolean> {
  return (await runArgv(['docker', 'image', 'inspect', '--format', '{{.Id}}', tag])).code === 0
}
