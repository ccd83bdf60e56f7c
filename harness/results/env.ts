/** env.json: what the run ran on, so results from different machines are never mistaken for each other. */

import { execFileSync } from 'node:child_process'
import { cpus, hostname, platform, release, totalmem } from 'node:os'
import type { CalibrationTable } from '../../netem/calibration.ts'

export interface RunEnvironment {
  readonly gitCommit: string | null
  readonly gitDirty: boolean | null
  readonly node: string
  readonly platform: string
  readonly kernel: string
  readonly cpuModel: string
  readonly cpuCount: number
  readonly memoryBytes: number
  readonly hostname: string
  readonly launcher: 'local'
  /** 'none' without a topology; a topology run overwrites it with the chosen shaper */
  readonly shaper: 'none' | 'relay' | 'kernel'
  /** topology runs: why that shaper (netem/choose.ts) */
  readonly shaperReason?: string
  /** topology runs: the shaper process's scheduling (netem/priority.ts), e.g. 'SCHED_FIFO 10' */
  readonly shaperPriority?: string
  /** topology runs: every shaped link's target and measured RTT (netem/calibration.ts) */
  readonly calibration?: CalibrationTable
}

function git(repoRoot: string, args: string[]): string | null {
  try {
    return execFileSync('git', args, {
      cwd: repoRoot,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim()
  } catch {
    return null
  }
}

export function collectEnvironment(repoRoot: string): RunEnvironment {
  const status = git(repoRoot, ['status', '--porcelain', '--untracked-files=no'])
  const cpuList = cpus()
  return {
    gitCommit: git(repoRoot, ['rev-parse', 'HEAD']),
    gitDirty: status === null ? null : status !== '',
    node: process.version,
    platform: platform(),
    kernel: release(),
    cpuModel: cpuList[0]?.model.trim() ?? 'unknown',
    cpuCount: cpuList.length,
    memoryBytes: totalmem(),
    hostname: hostname(),
    launcher: 'local',
    shaper: 'none',
  }
}
