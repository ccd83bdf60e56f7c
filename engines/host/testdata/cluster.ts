/**
 * Test helpers: free ports on 127.0.0.x, replica config files, and replica processes that are always
 * killed by PID (never by name) when the test ends.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ReplicaConfig } from '../config.ts'

export const REPO_ROOT = new URL('../../../', import.meta.url).pathname
export const FIXTURE_MAIN = 'engines/host/testdata/fixture-main.ts'

export interface TestContextLike {
  after(fn: () => void | Promise<void>): void
}

export function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen({ host, port: 0 }, () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

export function tempDir(t: TestContextLike, prefix = 'host-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Configs for `count` replicas, replica i on 127.0.0.(i+1), with fresh free ports. */
export async function clusterConfigs(
  count: number,
  dir: string,
  options: { engine?: string; storage?: 'memory' | 'file' } = {},
): Promise<ReplicaConfig[]> {
  const hosts = Array.from({ length: count }, (_, i) => `127.0.0.${i + 1}`)
  const peerPorts = await Promise.all(hosts.map((h) => freePort(h)))
  const clientPorts = await Promise.all(hosts.map((h) => freePort(h)))
  const nodes = hosts.map((h, i) => ({ id: `r${i}`, peerAddress: `${h}:${peerPorts[i]}` }))
  return hosts.map((h, i) => ({
    id: `r${i}`,
    engine: options.engine ?? 'test-sequencer',
    engineConfig: {},
    nodes,
    listen: { peer: `${h}:${peerPorts[i]}`, client: `${h}:${clientPorts[i]}` },
    storage: options.storage === 'file' ? { kind: 'file', dir: join(dir, `r${i}`) } : { kind: 'memory' },
    seed: 1,
  }))
}

export function writeConfig(dir: string, config: unknown, name: string): string {
  const path = join(dir, `${name}.json`)
  writeFileSync(path, JSON.stringify(config, null, 2))
  return path
}

export interface ReplicaProcess {
  readonly child: ChildProcess
  readonly pid: number
  stdout(): string
  stderr(): string
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/** Spawns a replica process; kills it by PID with SIGKILL when the test ends if it is still running. */
export function spawnReplica(t: TestContextLike, configPath: string, entry = FIXTURE_MAIN): ReplicaProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', entry, '--config', configPath], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const pid = child.pid
  if (pid === undefined) throw new Error(`could not spawn ${entry}`)
  let out = ''
  let err = ''
  child.stdout!.on('data', (chunk: Buffer) => {
    out += chunk.toString()
  })
  child.stderr!.on('data', (chunk: Buffer) => {
    err += chunk.toString()
  })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  )
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      process.kill(pid, 'SIGKILL')
      await exited
    }
  })
  return { child, pid, stdout: () => out, stderr: () => err, exited }
}

/** Resolves with the parsed listening line; rejects if the process exits first or after timeoutMs. */
export function waitListening(replica: ReplicaProcess, timeoutMs = 15_000): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup()
      reject(new Error(`no listening line within ${timeoutMs} ms; stderr:\n${replica.stderr()}`))
    }, timeoutMs)
    const check = (): void => {
      const line = replica.stdout().split('\n')[0]
      if (line === undefined || !replica.stdout().includes('\n')) return
      cleanup()
      resolve(JSON.parse(line) as Record<string, unknown>)
    }
    const onExit = (code: number | null): void => {
      cleanup()
      reject(new Error(`replica exited with ${code} before listening; stderr:\n${replica.stderr()}`))
    }
    const cleanup = (): void => {
      clearTimeout(timer)
      replica.child.stdout!.off('data', check)
      replica.child.off('exit', onExit)
    }
    replica.child.stdout!.on('data', check)
    replica.child.once('exit', onExit)
    check()
  })
}

export interface KvResponse {
  status: number
  body: Record<string, unknown>
}

export async function kv(
  clientAddress: string,
  op: 'get' | 'put',
  key: string,
  id: { client: string; seq: number },
  value?: string,
): Promise<KvResponse> {
  const res = await fetch(`http://${clientAddress}/kv/${encodeURIComponent(key)}`, {
    method: op === 'put' ? 'PUT' : 'GET',
    headers: { 'x-client-id': id.client, 'x-seq': String(id.seq) },
    ...(op === 'put' ? { body: value ?? '' } : {}),
    signal: AbortSignal.timeout(5_000),
  })
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

/** GETs JSON; the caller names the type it expects (a test then asserts on its fields). */
export async function getJson<T = Record<string, unknown>>(url: string): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000) })
  if (res.status !== 200) throw new Error(`${url}: HTTP ${res.status}`)
  return (await res.json()) as T
}
