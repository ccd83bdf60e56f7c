/**
 * What the harness started, so it can always be cleaned up: child processes (by PID) and temp dirs.
 *
 * - Normal path: the owner (a launcher) stops its children and removes its dirs, then unregisters.
 * - SIGINT / SIGTERM of the harness: async hooks run (stop replicas gracefully, bounded), then every
 *   registered PID still alive gets SIGKILL, dirs are removed, and the process exits 130 / 143.
 * - Process exit for any other reason (an uncaught error): a synchronous last resort SIGKILLs the
 *   registered PIDs and removes the dirs.
 * A SIGKILL of the harness itself cannot be caught; that limit is documented in harness/README.md.
 */
import { rmSync } from 'node:fs'

type Hook = () => Promise<void>

const pids = new Set<number>()
const dirs = new Set<string>()
const hooks = new Set<Hook>()
let installed = false
let exiting = false

const SIGNAL_EXIT_CODES: Record<string, number> = { SIGINT: 130, SIGTERM: 143 }
/** how long async hooks get on a signal before the hard kill */
const HOOKS_DEADLINE_MS = 3000

function killAllSync(): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // already gone
    }
  }
  pids.clear()
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  dirs.clear()
}

async function onSignal(signal: NodeJS.Signals): Promise<void> {
  if (exiting) return
  exiting = true
  process.stderr.write(`consensus-bench: ${signal}: stopping what this run started\n`)
  const all = Promise.allSettled([...hooks].map((h) => h()))
  await Promise.race([all, new Promise((r) => setTimeout(r, HOOKS_DEADLINE_MS).unref())])
  killAllSync()
  process.exit(SIGNAL_EXIT_CODES[signal] ?? 1)
}

const sigint = () => void onSignal('SIGINT')
const sigterm = () => void onSignal('SIGTERM')

function install(): void {
  if (installed) return
  installed = true
  process.on('SIGINT', sigint)
  process.on('SIGTERM', sigterm)
  process.on('exit', killAllSync)
}

function uninstallIfIdle(): void {
  if (!installed || pids.size > 0 || dirs.size > 0 || hooks.size > 0) return
  installed = false
  process.off('SIGINT', sigint)
  process.off('SIGTERM', sigterm)
  process.off('exit', killAllSync)
}

export function trackPid(pid: number): void {
  install()
  pids.add(pid)
}

export function untrackPid(pid: number): void {
  pids.delete(pid)
  uninstallIfIdle()
}

export function trackDir(dir: string): void {
  install()
  dirs.add(dir)
}

export function untrackDir(dir: string): void {
  dirs.delete(dir)
  uninstallIfIdle()
}

/** An async step to run on SIGINT/SIGTERM (bounded by a deadline); returns the function that removes it. */
export function onInterrupt(hook: Hook): () => void {
  install()
  hooks.add(hook)
  return () => {
    hooks.delete(hook)
    uninstallIfIdle()
  }
}

/** For tests: what is still tracked. */
export function tracked(): { pids: number[]; dirs: string[] } {
  return { pids: [...pids], dirs: [...dirs] }
}

/** Whether a process with this PID exists (signal 0 probes without delivering anything). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}
