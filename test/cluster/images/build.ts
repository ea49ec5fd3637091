// Builds the cluster's images offline and caches each as an OCI archive named by its content key
// (images/<name>-<key>.oci.tar under the cache root). A build works in a scratch directory of its own
// (its own buildah storage, vfs driver) and its archive appears in the cache only by an atomic rename,
// so an interrupted build leaves nothing half-written; a lock per archive makes a second process wait
// for a build in progress instead of repeating it.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join, matchesGlob } from 'node:path';
import { parse } from 'yaml';
import { withLock } from '../lock.ts';
import { cacheRoot } from '../paths.ts';
import { isAlive } from '../procfs.ts';
import { ensurePackages, type HostPackage } from '../host-packages.ts';
import { repoRoot } from '../state.ts';
import type { ArgoVersion } from '../binaries.ts';
import { archiveFileName, contentKey, fullName, registryPath } from './names.ts';
import { argoImages, baseImages, builderPackages, guardImage, type BuildContext, type DockerfileRecipe, type ImageRecipe, type RootfsRecipe } from './recipes.ts';
import { debianVersions, run, runLogged, sha256File, type Log } from './tools.ts';

export interface ImageRef {
  /** As users write it: `redis:alpine`. */
  ref: string;
  /** As containerd stores it: `docker.io/library/redis:alpine`. */
  name: string;
  /** Where the loopback registry serves it: `library/redis:alpine`. */
  registryPath: string;
  key: string;
  /** The cached OCI archive (its index names the image `name`). */
  archive: string;
}

export function imagesDir(): string {
  return join(cacheRoot(), 'images');
}

function buildDir(): string {
  return join(imagesDir(), '.build');
}

/** Where the guard's chart finds its image: values.yaml's repository, the chart's appVersion as tag. */
export function guardImageRef(root = repoRoot): string {
  const chart = join(root, 'charts/argo-daemon-guard');
  const values = parse(readFileSync(join(chart, 'values.yaml'), 'utf8')) as { image: { repository: string; tag?: string } };
  const meta = parse(readFileSync(join(chart, 'Chart.yaml'), 'utf8')) as { appVersion: string };
  return `${values.image.repository}:${values.image.tag || meta.appVersion}`;
}

/** Every image the harness provides for the given Argo versions, in build order (bases first). */
export function imageRecipes(o: { argo: readonly ArgoVersion[]; guard: boolean }): ImageRecipe[] {
  const guard = guardImage(repoRoot, guardImageRef());
  return [...baseImages, ...o.argo.flatMap(argoImages), ...(o.guard ? [guard.base, guard] : [])];
}

/**
 * Builds every image that is not cached yet and returns them all. A warm run computes the keys
 * (Debian package versions, hashes of Go binaries and of the guard's build context) and builds nothing.
 */
export async function ensureImages(o: { argo: readonly ArgoVersion[]; guard: boolean; log: Log }): Promise<ImageRef[]> {
  const recipes = imageRecipes(o);
  const packages: HostPackage[] = [...builderPackages, ...recipes.flatMap((r) => r.packages)];
  await ensurePackages(packages, 'the cluster images', o.log);
  sweepAbandonedBuilds();
  const out: ImageRef[] = [];
  for (const r of recipes) out.push(await ensureImage(r, o.log));
  return out;
}

/** The content key of a recipe: everything that makes its image, and nothing else. */
export async function imageKey(r: ImageRecipe, ctx: BuildContext): Promise<string> {
  if (r.kind === 'rootfs') {
    return contentKey({
      ref: r.ref,
      revision: r.revision,
      config: r.config,
      debian: await debianVersions(r.packages.map((p) => p.name)),
      inputs: r.inputs ? await r.inputs(ctx) : {},
    });
  }
  return contentKey({
    ref: r.ref,
    revision: r.revision,
    base: await imageKey(r.base, ctx),
    dockerfile: await sha256File(join(repoRoot, 'Dockerfile')),
    context: await contextDigest(repoRoot),
  });
}

export async function ensureImage(r: ImageRecipe, log: Log): Promise<ImageRef> {
  const name = fullName(r.ref);
  const scratchRoot = buildDir();
  mkdirSync(scratchRoot, { recursive: true });
  const ctx: BuildContext = { log, tmp: scratchRoot, logFile: join(imagesDir(), 'build.log') };
  const key = await imageKey(r, ctx);
  const archive = join(imagesDir(), archiveFileName(r.ref, key));
  const ref: ImageRef = { ref: r.ref, name, registryPath: registryPath(r.ref), key, archive };
  if (existsSync(archive)) return ref;
  await withLock(
    `${archive}.lock`,
    { what: `build image ${r.ref}`, onWait: (h, s) => log(`waiting for pid ${h.pid}, which is building ${r.ref} (${s}s so far)`) },
    async () => {
      if (!existsSync(archive)) await buildLocked(r, archive, log);
    },
  );
  return ref;
}

function buildahArgs(tmp: string): string[] {
  return ['--root', join(tmp, 'storage'), '--runroot', join(tmp, 'run'), '--storage-driver', 'vfs'];
}

async function buildLocked(r: ImageRecipe, archive: string, log: Log): Promise<void> {
  const tmp = join(buildDir(), `${archiveFileName(r.ref, 'x').replace(/-x\.oci\.tar$/, '')}-${process.pid}`);
  removeScratch(tmp);
  mkdirSync(tmp, { recursive: true });
  const logFile = join(imagesDir(), 'logs', `${archiveFileName(r.ref, 'build').replace(/\.oci\.tar$/, '')}.log`);
  const ctx: BuildContext = { log, tmp, logFile };
  const started = Date.now();
  log(`building image ${r.ref} (log: ${logFile})`);
  try {
    const out = join(tmp, 'image.oci.tar');
    if (r.kind === 'rootfs') await buildRootfs(r, ctx, out);
    else await buildDockerfile(r, ctx, out, log);
    renameSync(out, archive);
    const mb = Math.round(statSync(archive).size / 1e6);
    log(`built image ${r.ref} in ${Math.round((Date.now() - started) / 1000)}s (${mb} MB)`);
  } finally {
    removeScratch(tmp);
  }
}

async function buildRootfs(r: RootfsRecipe, ctx: BuildContext, out: string): Promise<void> {
  const root = join(ctx.tmp, 'rootfs');
  mkdirSync(root, { recursive: true });
  await r.fill(root, ctx);
  const tarball = join(ctx.tmp, 'rootfs.tar');
  await run('tar', ['-C', root, '--numeric-owner', '--sort=name', '--mtime=@0', '-cf', tarball, '.']);
  const b = buildahArgs(ctx.tmp);
  const ctr = (await run('buildah', [...b, 'from', '--quiet', 'scratch'])).trim();
  await run('buildah', [...b, 'add', ctr, tarball, '/']);
  const c = r.config;
  const configArgs: string[] = [];
  if (c.entrypoint) configArgs.push('--entrypoint', JSON.stringify(c.entrypoint));
  if (c.cmd) configArgs.push('--cmd', JSON.stringify(c.cmd));
  for (const [k, v] of Object.entries(c.env ?? {})) configArgs.push('--env', `${k}=${v}`);
  if (c.workingDir) configArgs.push('--workingdir', c.workingDir);
  if (c.user) configArgs.push('--user', c.user);
  for (const p of c.ports ?? []) configArgs.push('--port', `${p}/tcp`);
  await run('buildah', [...b, 'config', ...configArgs, ctr]);
  await run('buildah', [...b, 'commit', '--quiet', '--format', 'oci', '--rm', ctr, `oci-archive:${out}:${fullName(r.ref)}`]);
}

/** buildah bud of the repository's Dockerfile, with its base image loaded from the cache under the name the Dockerfile uses. */
async function buildDockerfile(r: DockerfileRecipe, ctx: BuildContext, out: string, log: Log): Promise<void> {
  const base = await ensureImage(r.base, log);
  const b = buildahArgs(ctx.tmp);
  const id = (await run('buildah', [...b, 'pull', '--quiet', `oci-archive:${base.archive}`])).trim().split('\n').pop()!;
  await run('buildah', [...b, 'tag', id, base.name]);
  const context = join(ctx.tmp, 'context');
  for (const f of await contextFiles(repoRoot)) cpSync(join(repoRoot, f), join(context, f), { dereference: false, preserveTimestamps: true });
  await runLogged(
    'buildah',
    [...b, 'bud', '--isolation', 'chroot', '--pull-never', '--layers=false', '-f', join(repoRoot, 'Dockerfile'), '-t', fullName(r.ref), context],
    { what: `buildah bud ${r.ref}`, log, logFile: ctx.logFile, env: { ...process.env, BUILDAH_ISOLATION: 'chroot' } },
  );
  await run('buildah', [...b, 'push', '--quiet', fullName(r.ref), `oci-archive:${out}:${fullName(r.ref)}`]);
}

/** The patterns of a .dockerignore file (comments and blank lines dropped, leading / removed). */
export function dockerignorePatterns(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.replace(/^\//, '').replace(/\/$/, ''));
}

/** Whether Docker leaves a file out of the build context: a pattern matches it or a directory above it; `!` re-includes. */
export function dockerignored(path: string, patterns: string[]): boolean {
  const parts = path.split('/');
  const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
  let ignored = false;
  for (const p of patterns) {
    const negate = p.startsWith('!');
    const glob = negate ? p.slice(1) : p;
    if (prefixes.some((x) => matchesGlob(x, glob))) ignored = !negate;
  }
  return ignored;
}

/** The files of the build context: what git tracks or would track, minus what .dockerignore leaves out. */
export async function contextFiles(root: string): Promise<string[]> {
  const listed = (await run('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], { cwd: root })).split('\0').filter(Boolean);
  const ignoreFile = join(root, '.dockerignore');
  const patterns = existsSync(ignoreFile) ? dockerignorePatterns(readFileSync(ignoreFile, 'utf8')) : [];
  return [...new Set(listed)].filter((f) => !dockerignored(f, patterns) && existsSync(join(root, f)) && statSync(join(root, f)).isFile()).sort();
}

/** A digest of the build context: every file's path and content. */
export async function contextDigest(root: string): Promise<string> {
  const files = await contextFiles(root);
  const entries: Record<string, string> = {};
  for (const f of files) entries[f] = await sha256File(join(root, f));
  return contentKey(entries);
}

/**
 * Removes a build's scratch directory. A `RUN` step interrupted midway can leave /proc, /sys or /dev
 * mounted inside the rootfs; those are unmounted first, and nothing is deleted while any remains.
 */
export function removeScratch(dir: string): void {
  if (!existsSync(dir)) return;
  const mounts = () =>
    readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[4])
      .filter((m): m is string => !!m && (m === dir || m.startsWith(`${dir}/`)))
      .sort((a, b) => b.length - a.length);
  for (const m of mounts()) {
    try {
      // Lazy: a busy mount still detaches from this tree.
      execFileSync('umount', ['-l', m], { stdio: 'ignore' });
    } catch {
      /* checked below */
    }
  }
  const left = mounts();
  if (left.length) throw new Error(`cannot remove ${dir}: still mounted: ${left.join(', ')}; unmount them (umount -l) and retry`);
  rmSync(dir, { recursive: true, force: true });
}

/** Scratch directories of builds whose process is gone (killed mid-build). */
function sweepAbandonedBuilds(): void {
  if (!existsSync(buildDir())) return;
  for (const d of readdirSync(buildDir())) {
    const pid = Number(d.match(/-(\d+)$/)?.[1]);
    if (pid && pid !== process.pid && !isAlive(pid)) removeScratch(join(buildDir(), d));
  }
}
