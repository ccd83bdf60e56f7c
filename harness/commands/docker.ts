/**
 * `consensus-bench docker base-image | app-image | compose-file`: the offline images and the generated
 * compose file (docker/README.md). Docker missing or dockerd not running: exit 4 with the fix.
 */
import { writeFileSync } from 'node:fs'
import type { Command } from 'commander'
import { findEngine } from '../../engines/registry.ts'
import { invalidInput } from '../exit-codes.ts'
import { buildAppImage } from '../launchers/compose/app-image.ts'
import { BASE_IMAGE_TAG, buildBaseImage } from '../launchers/compose/base-image.ts'
import { defaultComposeYaml } from '../launchers/compose/defaults.ts'
import { requireDocker } from '../launchers/compose/docker.ts'
import { stackYaml } from '../launchers/compose/stack-file.ts'

const progress = (line: string) => process.stderr.write(`${line}\n`)

export function register(program: Command): void {
  const docker = program
    .command('docker')
    .description('container images and compose files (docker/README.md)')
  docker
    .command('base-image')
    .description(
      "build the offline base image with `docker import` from this machine's node, tc, ip, iptables",
    )
    .option('--tag <tag>', 'image tag', BASE_IMAGE_TAG)
    .option('--force', 'rebuild even when the tag exists')
    .action(async (flags: { tag: string; force?: boolean }) => {
      await requireDocker(false)
      await buildBaseImage({ tag: flags.tag, force: flags.force === true, progress })
    })
  docker
    .command('app-image')
    .description('build docker/Dockerfile (the project + node_modules) FROM the base image')
    .option('--tag <tag>', 'image tag', 'consensus-bench/app:local')
    .option('--base-image <tag>', 'BASE_IMAGE build argument', BASE_IMAGE_TAG)
    .option('--force', 'rebuild even when the tag exists')
    .action(async (flags: { tag: string; baseImage: string; force?: boolean }) => {
      await requireDocker(false)
      await buildAppImage({
        tag: flags.tag,
        baseImage: flags.baseImage,
        force: flags.force === true,
        progress,
      })
    })
  docker
    .command('compose-file')
    .description('print (or --out) a compose.yaml for an engine and a replica count (unshaped: lan)')
    .option('--engine <name>', 'engine', 'multipaxos')
    .option('--replicas <n>', 'replicas', '3')
    .option('--seed <n>', 'seed', '1')
    .option('--out <file>', 'write here instead of stdout')
    .action((flags: { engine: string; replicas: string; seed: string; out?: string }) => {
      if (findEngine(flags.engine) === undefined)
        throw invalidInput(
          'docker compose-file',
          '--engine',
          `unknown engine '${flags.engine}'`,
          'see `consensus-bench engines`',
        )
      const replicas = Number(flags.replicas)
      const seed = Number(flags.seed)
      if (!Number.isInteger(replicas) || replicas < 1 || replicas > 50)
        throw invalidInput(
          'docker compose-file',
          '--replicas',
          `'${flags.replicas}'`,
          'give a whole number from 1 to 50',
        )
      if (!Number.isInteger(seed))
        throw invalidInput('docker compose-file', '--seed', `'${flags.seed}'`, 'give an integer')
      const yaml = defaultComposeYaml({ engine: flags.engine, replicas, seed })
      if (flags.out === undefined) process.stdout.write(yaml)
      else writeFileSync(flags.out, yaml)
    })
  docker
    .command('stack-file')
    .description('print (or --out) a Docker Swarm stack file: replicas pinned to sites by node label cb.site')
    .requiredOption('--sites <list>', 'replica sites in order, like CA,VA,EU (replica rI gets the I-th)')
    .option('--engine <name>', 'engine', 'multipaxos')
    .option('--image <tag>', 'image present on every node (docker/Dockerfile)', 'consensus-bench/app:local')
    .option('--seed <n>', 'seed', '1')
    .option('--out <file>', 'write here instead of stdout')
    .action((flags: { sites: string; engine: string; image: string; seed: string; out?: string }) => {
      if (findEngine(flags.engine) === undefined)
        throw invalidInput(
          'docker stack-file',
          '--engine',
          `unknown engine '${flags.engine}'`,
          'see `consensus-bench engines`',
        )
      const sites = flags.sites.split(',').map((s) => s.trim())
      if (sites.some((s) => !/^[A-Za-z0-9_.-]+$/.test(s)))
        throw invalidInput(
          'docker stack-file',
          '--sites',
          `'${flags.sites}'`,
          'give site names separated by commas, like CA,VA,EU',
        )
      const yaml = stackYaml({
        engine: flags.engine,
        engineConfig: {},
        replicas: sites.length,
        seed: Number(flags.seed) || 1,
        storage: 'file',
        image: flags.image,
        // unshaped across real hosts: the WAN between them is the real one
        shaper: 'none',
        sites: Object.fromEntries(sites.map((site, i) => [`r${i}`, site])),
        driver: { durationMs: 20_000, clientsPerSite: 4, conflict: 0.1, readRatio: 0.5 },
      })
      if (flags.out === undefined) process.stdout.write(yaml)
      else writeFileSync(flags.out, yaml)
    })
}
