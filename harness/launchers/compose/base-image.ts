/**
 * The offline base image: no registry here (air-gapped labs, this CI), so the image is a root filesystem
 * assembled from this machine's own files and `docker import`ed: the node binary, tc, ip, iptables
 * (xtables-nft-multi and its extension modules), /bin/sh, and every shared library they load (`ldd`).
 * docker/Dockerfile builds FROM it (`--build-arg BASE_IMAGE=consensus-bench/base:node20`).
 */

import { spawn } from 'node:child_process'
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { CliError, EXIT } from '../../exit-codes.ts'
import { imageExists, runArgv, runOk } from './docker.ts'

export const BASE_IMAGE_TAG = 'consensus-bench/base:node20'

/** Programs the image needs, and the names they are called by inside it. */
const PROGRAMS: readonly { readonly source: string; readonly names: readonly string[] }[] = [
  { source: '/usr/bin/node', names: ['/usr/bin/node', '/usr/local/bin/node'] },
  { source: '/bin/sh', names: ['/bin/sh'] },
  { source: '/usr/sbin/tc', names: ['/usr/sbin/tc'] },
  { source: '/usr/bin/ip', names: ['/usr/bin/ip', '/usr/sbin/ip', '/bin/ip'] },
  {
    // iptables is one multi-call binary that dispatches on its argv[0]
    source: '/usr/sbin/xtables-nft-multi',
    names: [
      '/usr/sbin/iptables',
      '/usr/sbin/iptables-save',
      '/usr/sbin/iptables-restore',
      '/usr/sbin/ip6tables',
    ],
  },
]
/** whole directories copied as they are: iptables' match/target modules, tc's delay distribution tables */
const DIRECTORIES = [
  '/usr/lib/x86_64-linux-gnu/xtables',
  '/usr/lib/tc',
  '/etc/iproute2',
  '/usr/share/iproute2',
]
/** small files libc and iptables read */
const FILES = ['/etc/protocols', '/etc/services']

export interface BaseImageOptions {
  readonly tag?: string
  /** rebuild even when the tag exists */
  readonly force?: boolean
  readonly progress?: (line: string) => void
}

export interface BaseImageResult {
  readonly tag: string
  readonly built: boolean
  readonly files: number
}

/** Shared libraries an ELF file loads, as absolute paths (from `ldd`). */
export function parseLdd(output: string): string[] {
  const libs: string[] = []
  for (const line of output.split('\n')) {
    const arrow = /=>\s*(\/\S+)/.exec(line)
    const bare = /^\s*(\/\S+)\s+\(0x/.exec(line)
    const path = arrow?.[1] ?? bare?.[1]
    if (path !== undefined) libs.push(path)
  }
  return libs
}

async function librariesOf(file: string): Promise<string[]> {
  const result = await runArgv(['ldd', file])
  // "not a dynamic executable" (static or a script): nothing to add
  return result.code === 0 ? parseLdd(result.stdout) : []
}

function walk(dir: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() || e.isSymbolicLink())
    .map((e) => join(e.parentPath, e.name))
}

/** Copies `source` (dereferenced) to the same path under `root`, and its real path too when it differs. */
function place(root: string, source: string, as = source): void {
  const target = join(root, as)
  if (existsSync(target)) return
  mkdirSync(dirname(target), { recursive: true })
  copyFileSync(realpathSync(source), target)
}

/** Assembles the root filesystem in a new temp dir and returns it with its file count. */
export async function assembleRootfs(): Promise<{ root: string; files: number }> {
  for (const p of PROGRAMS) {
    if (!existsSync(p.source)) {
      throw new CliError(
        `docker base-image: ${p.source} is missing on this machine\n  fix: apt-get install -y iproute2 iptables dash`,
        EXIT.missingEnvironment,
      )
    }
  }
  const root = mkdtempSync(join(tmpdir(), 'cb-rootfs-'))
  try {
    const elves = new Set<string>()
    for (const p of PROGRAMS) {
      const [first, ...aliases] = p.names
      place(root, p.source, first)
      for (const alias of aliases) {
        mkdirSync(dirname(join(root, alias)), { recursive: true })
        symlinkSync(first!, join(root, alias))
      }
      elves.add(p.source)
    }
    for (const dir of DIRECTORIES) {
      for (const file of walk(dir)) {
        place(root, file)
        if (file.endsWith('.so')) elves.add(file)
      }
    }
    for (const file of FILES) if (existsSync(file)) place(root, file)
    const libs = new Set<string>()
    for (const elf of elves) for (const lib of await librariesOf(elf)) libs.add(lib)
    for (const lib of libs) {
      place(root, lib)
      // the loader also looks the library up by its merged-/usr path: give both
      const real = realpathSync(lib)
      if (real !== lib) place(root, real)
    }
    // merged /usr: /lib64/ld-linux is the path baked into every binary
    for (const dir of ['tmp', 'app', 'data', 'etc', 'run', 'var/run'])
      mkdirSync(join(root, dir), { recursive: true })
    chmodSync(join(root, 'tmp'), 0o1777)
    writeFileSync(
      join(root, 'etc/passwd'),
      'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n',
    )
    writeFileSync(join(root, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n')
    writeFileSync(join(root, 'etc/hosts'), '127.0.0.1 localhost\n')
    return { root, files: walk(root).length }
  } catch (err) {
    rmSync(root, { recursive: true, force: true })
    throw err
  }
}

/** `docker import` of the assembled root filesystem, streamed through `tar` (no temp archive). */
export async function buildBaseImage(options: BaseImageOptions = {}): Promise<BaseImageResult> {
  const tag = options.tag ?? BASE_IMAGE_TAG
  const progress = options.progress ?? (() => {})
  if (!options.force && (await imageExists(tag))) {
    progress(`docker base-image: ${tag} exists (use --force to rebuild)`)
    return { tag, built: false, files: 0 }
  }
  const { root, files } = await assembleRootfs()
  try {
    progress(`docker base-image: importing ${files} files from ${root} as ${tag}`)
    const tar = spawn('tar', ['-C', root, '--numeric-owner', '--owner=0', '--group=0', '-c', '.'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let tarErr = ''
    tar.stderr.setEncoding('utf8').on('data', (d: string) => {
      tarErr += d
    })
    const tarDone = new Promise<number>((r) => tar.once('close', (code) => r(code ?? 1)))
    await runOk(
      [
        'docker',
        'import',
        '--change',
        'ENV PATH=/usr/local/bin:/usr/bin:/usr/sbin:/bin:/sbin',
        '--change',
        'WORKDIR /app',
        '--change',
        'CMD ["node"]',
        '--message',
        'consensus-bench base: this machine node, tc, ip, iptables',
        '-',
        tag,
      ],
      { input: (stdin) => tar.stdout.pipe(stdin), timeoutMs: 300_000 },
    )
    if ((await tarDone) !== 0) throw new Error(`docker base-image: tar failed: ${tarErr.trim()}`)
    // the image must run what the launcher runs in it
    const check = await runOk([
      'docker',
      'run',
      '--rm',
      '--network',
      'none',
      tag,
      'node',
      '-e',
      'process.stdout.write(process.version)',
    ])
    progress(`docker base-image: ${tag} built (node ${check.trim()})`)
    return { tag, built: true, files }
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
}
