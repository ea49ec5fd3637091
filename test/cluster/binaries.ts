// Builds the cluster's binaries from the Go module proxy and caches them outside the repository,
// keyed by version. A binary appears in the cache only by an atomic rename of a finished build, so a
// failed or interrupted build leaves nothing half-written behind.
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync, createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { cacheRoot } from './paths.ts';
import { withLock } from './lock.ts';

export const versions = {
  kubernetes: 'v1.35.4',
  etcd: 'v3.6.5',
  kwok: 'v0.8.0',
  /** The Argo version the harness runs by default (`argoVersions` lists every one it can build). */
  argo: 'v3.7.18',
  helm: 'v4.3.1',
} as const;

/** The Argo Workflows versions the project supports; each has its own Go module major (…/v3, …/v4). */
export const argoVersions = ['v3.7.18', 'v4.0.5'] as const;
export type ArgoVersion = (typeof argoVersions)[number];

export function argoModule(v: ArgoVersion): string {
  return `github.com/argoproj/argo-workflows/${v.split('.')[0]}`;
}

export type BinaryName =
  | 'etcd'
  | 'kube-apiserver'
  | 'kube-controller-manager'
  | 'kube-scheduler'
  | 'kubectl'
  | 'kubelet'
  | 'kube-proxy'
  | 'kwok'
  | 'workflow-controller'
  | 'argoexec'
  | 'helm';

const argoBinaries = new Set<BinaryName>(['workflow-controller', 'argoexec']);

interface Recipe {
  version: string;
  /** A module to download first: the wrapper reads its go.mod, the ldflags its release metadata. */
  download?: string;
  /** A wrapper module (go.mod text) to build the package in, or none for `go install pkg@version`. */
  wrapper?: () => string;
  pkg: string;
  ldflags?: () => string;
  /** Files to add to a copy of the required module, which the wrapper then replaces it with. */
  patch?: () => { module: string; dir: string; files: Record<string, string> };
}

const k8sLdflags = [
  `-X k8s.io/component-base/version.gitVersion=${versions.kubernetes}`,
  '-X k8s.io/component-base/version.gitMajor=1',
  `-X k8s.io/component-base/version.gitMinor=${versions.kubernetes.split('.')[1]}`,
  `-X k8s.io/client-go/pkg/version.gitVersion=${versions.kubernetes}`,
  '-X k8s.io/client-go/pkg/version.gitMajor=1',
  `-X k8s.io/client-go/pkg/version.gitMinor=${versions.kubernetes.split('.')[1]}`,
  '-s -w',
].join(' ');
const stripped = () => '-s -w';

/** k8s.io/kubernetes points its 31 staging modules at ./staging; a wrapper must point them at v0.x. */
function kubernetesWrapper(): string {
  const stagingVersion = versions.kubernetes.replace(/^v1\./, 'v0.');
  const modFile = goModFile('k8s.io/kubernetes', versions.kubernetes);
  const staging = [...modFile.matchAll(/^\s*(k8s\.io\/\S+)\s+=>\s+\.\/staging\//gm)].map((m) => m[1]!);
  if (staging.length === 0) throw new Error(`no staging replaces found in k8s.io/kubernetes@${versions.kubernetes} go.mod`);
  return [
    'module argo-daemon-guard.local/kubernetes',
    'go 1.25',
    `require k8s.io/kubernetes ${versions.kubernetes}`,
    ...staging.map((m) => `replace ${m} => ${m} ${stagingVersion}`),
  ].join('\n');
}

function etcdWrapper(): string {
  const v = versions.etcd;
  return [
    'module argo-daemon-guard.local/etcd',
    'go 1.24',
    `require go.etcd.io/etcd/server/v3 ${v}`,
    ...['api/v3', 'client/pkg/v3', 'client/v3', 'pkg/v3'].map((m) => `replace go.etcd.io/etcd/${m} => go.etcd.io/etcd/${m} ${v}`),
  ].join('\n');
}

/** Argo's go.mod replaces tablewriter (v3); a wrapper module must repeat every replace it declares. */
function argoWrapper(v: ArgoVersion): string {
  const modFile = goModFile(argoModule(v), v);
  const replaces = [...modFile.matchAll(/^\s*replace\s+(\S+)\s+=>\s+(\S+)\s+(\S+)\s*$/gm)].map(
    (m) => `replace ${m[1]} => ${m[2]} ${m[3]}`,
  );
  const goLine = modFile.match(/^go\s+(\S+)/m)?.[1] ?? '1.24';
  return ['module argo-daemon-guard.local/argo', `go ${goLine}`, `require ${argoModule(v)} ${v}`, ...replaces].join('\n');
}

/**
 * The version variables Argo's Makefile sets, so `argoexec version` and the controller's startup line
 * name the release. Build date and commit come from the module proxy's record of the tag.
 */
export function argoLdflags(v: ArgoVersion, info: { Time?: string; Origin?: { Hash?: string } }): string {
  const m = argoModule(v);
  return [
    `-X ${m}.version=${v}`,
    `-X ${m}.buildDate=${info.Time ?? 'unknown'}`,
    `-X ${m}.gitCommit=${info.Origin?.Hash ?? 'unknown'}`,
    `-X ${m}.gitTreeState=clean`,
    `-X ${m}.gitTag=${v}`,
    '-s -w',
  ].join(' ');
}

function moduleDir(module: string, version: string): string {
  const modCache = process.env.GOMODCACHE ?? join(process.env.HOME ?? '/root', 'go', 'pkg', 'mod');
  return join(modCache, `${module.replace(/[A-Z]/g, (c) => `!${c.toLowerCase()}`)}@${version}`);
}

/**
 * The module zips of both Argo versions lack workflow/executor/osspecific/signal_linux.go (only the
 * darwin and windows variants are in them), so argoexec does not compile for linux as served
 * (`undefined: Setpgid`). The darwin file is the plain Unix implementation; a copy of the module gets
 * it under the linux name (go refuses -overlay files in the module cache).
 */
function argoexecPatch(v: ArgoVersion): { module: string; dir: string; files: Record<string, string> } {
  const dir = moduleDir(argoModule(v), v);
  const rel = 'workflow/executor/osspecific';
  const files: Record<string, string> = existsSync(join(dir, rel, 'signal_linux.go'))
    ? {}
    : { [`${rel}/signal_linux.go`]: readFileSync(join(dir, rel, 'signal_darwin.go'), 'utf8') };
  return { module: argoModule(v), dir, files };
}

function argoRecipe(name: BinaryName, v: ArgoVersion): Recipe {
  return {
    version: v,
    download: argoModule(v),
    wrapper: () => argoWrapper(v),
    pkg: `${argoModule(v)}/cmd/${name}`,
    ldflags: () => argoLdflags(v, goModInfo(argoModule(v), v)),
    ...(name === 'argoexec' ? { patch: () => argoexecPatch(v) } : {}),
  };
}

function k8sRecipe(pkg: string): Recipe {
  return { version: versions.kubernetes, download: 'k8s.io/kubernetes', wrapper: kubernetesWrapper, pkg, ldflags: () => k8sLdflags };
}

function recipeOf(name: BinaryName, argo: ArgoVersion = versions.argo): Recipe {
  if (argoBinaries.has(name)) return argoRecipe(name, argo);
  switch (name) {
    case 'etcd':
      return { version: versions.etcd, wrapper: etcdWrapper, pkg: 'go.etcd.io/etcd/server/v3' };
    case 'kwok':
      return { version: versions.kwok, pkg: 'sigs.k8s.io/kwok/cmd/kwok', ldflags: stripped };
    case 'helm':
      return { version: versions.helm, pkg: 'helm.sh/helm/v4/cmd/helm', ldflags: stripped };
    default:
      return k8sRecipe(`k8s.io/kubernetes/cmd/${name}`);
  }
}

/** Where a binary is cached; `argo` picks the Argo version for Argo's binaries (default `versions.argo`). */
export function binaryPath(name: BinaryName, argo?: ArgoVersion): string {
  return join(cacheRoot(), 'bin', `${name}-${recipeOf(name, argo).version}`, name);
}

export function isBuilt(name: BinaryName, argo?: ArgoVersion): boolean {
  return existsSync(binaryPath(name, argo));
}

function log(msg: string): void {
  process.stderr.write(`[build] ${msg}\n`);
}

/** Runs go with a heartbeat so that a 10-minute compile never looks hung. */
function runGo(args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; what: string; logFile: string }): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const out = createWriteStream(opts.logFile, { flags: 'a' });
    const child = spawn('go', args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let packages = 0;
    let last = '';
    const onData = (chunk: Buffer) => {
      out.write(chunk);
      for (const line of chunk.toString().split('\n')) {
        if (line.trim() && !line.startsWith('go: ')) {
          packages++;
          last = line.trim();
        } else if (line.startsWith('go: downloading')) last = line.trim();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const beat = setInterval(() => {
      const s = Math.round((Date.now() - started) / 1000);
      log(`${opts.what}: ${s}s, ${packages} packages so far${last ? ` (${last.slice(0, 80)})` : ''}`);
    }, 15_000);
    const stop = () => child.kill('SIGTERM');
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    child.on('close', (code, signal) => {
      clearInterval(beat);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      out.end();
      if (code === 0) resolve();
      else reject(new Error(`${opts.what} failed (${signal ?? `exit ${code}`}); see ${opts.logFile}`));
    });
    child.on('error', (err) => {
      clearInterval(beat);
      reject(new Error(`${opts.what}: cannot run go (${err.message}); install Go 1.25+ first`));
    });
  });
}

function moduleCacheFile(module: string, version: string, ext: 'mod' | 'info'): string {
  const modCache = process.env.GOMODCACHE ?? join(process.env.HOME ?? '/root', 'go', 'pkg', 'mod');
  const escaped = module.replace(/[A-Z]/g, (c) => `!${c.toLowerCase()}`);
  const file = join(modCache, 'cache', 'download', escaped, '@v', `${version}.${ext}`);
  if (!existsSync(file)) throw new Error(`the .${ext} file of ${module}@${version} is not in the module cache (${file})`);
  return readFileSync(file, 'utf8');
}

function goModFile(module: string, version: string): string {
  return moduleCacheFile(module, version, 'mod');
}

function goModInfo(module: string, version: string): { Time?: string; Origin?: { Hash?: string } } {
  return JSON.parse(moduleCacheFile(module, version, 'info')) as { Time?: string; Origin?: { Hash?: string } };
}

async function goModDownload(module: string, version: string, env: NodeJS.ProcessEnv, logFile: string): Promise<void> {
  await runGo(['mod', 'download', `${module}@${version}`], { cwd: cacheRoot(), env, what: `download ${module}@${version}`, logFile });
}

/**
 * Builds one binary unless it is cached. A lock file in the cache (bin/.lock-<name>-<version>) makes
 * sure two processes never compile the same binary at once: the second waits, then finds it built.
 */
export async function build(name: BinaryName, argo?: ArgoVersion): Promise<string> {
  const target = binaryPath(name, argo);
  if (existsSync(target)) return target;
  const recipe = recipeOf(name, argo);
  const lockDir = join(cacheRoot(), 'bin');
  mkdirSync(lockDir, { recursive: true });
  return withLock(
    join(lockDir, `.lock-${name}-${recipe.version}`),
    {
      what: `build ${name} ${recipe.version}`,
      onWait: (h, s) => log(`waiting for pid ${h.pid}, which is building ${name} ${recipe.version} (${s}s so far)`),
    },
    async () => (existsSync(target) ? target : buildLocked(name, recipe, target)),
  );
}

async function buildLocked(name: BinaryName, recipe: Recipe, target: string): Promise<string> {
  const workRoot = join(cacheRoot(), 'build');
  mkdirSync(workRoot, { recursive: true });
  const logFile = join(workRoot, `${name}-${recipe.version}.log`);
  const tmpDir = join(workRoot, `.tmp-${name}-${recipe.version}-${process.pid}`);
  rmSync(tmpDir, { recursive: true, force: true });
  mkdirSync(tmpDir, { recursive: true });
  const env = { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=mod -buildvcs=false', GOTOOLCHAIN: 'local' };
  const started = Date.now();
  log(`building ${name} ${recipe.version} (cold builds take minutes; log: ${logFile})`);
  try {
    const tmpBinary = join(tmpDir, name);
    if (recipe.download) await goModDownload(recipe.download, recipe.version, env, logFile);
    const ldflags = recipe.ldflags?.() ?? '';
    if (recipe.wrapper) {
      const modDir = join(workRoot, `wrapper-${name}-${recipe.version}`);
      mkdirSync(modDir, { recursive: true });
      let goMod = recipe.wrapper();
      const patch = recipe.patch?.();
      if (patch && Object.keys(patch.files).length > 0) {
        const src = join(modDir, 'patched');
        rmSync(src, { recursive: true, force: true });
        cpSync(patch.dir, src, { recursive: true });
        for (const [rel, content] of Object.entries(patch.files)) writeFileSync(join(src, rel), content);
        goMod += `\nreplace ${patch.module} => ./patched`;
      }
      writeFileSync(join(modDir, 'go.mod'), goMod + '\n');
      rmSync(join(modDir, 'go.sum'), { force: true });
      await runGo(['build', '-v', '-trimpath', '-ldflags', ldflags, '-o', tmpBinary, recipe.pkg], {
        cwd: modDir,
        env,
        what: `compile ${name}`,
        logFile,
      });
    } else {
      await runGo(['install', '-v', '-trimpath', '-ldflags', ldflags, `${recipe.pkg}@${recipe.version}`], {
        cwd: tmpDir,
        env: { ...env, GOBIN: tmpDir, GOFLAGS: '-buildvcs=false' },
        what: `compile ${name}`,
        logFile,
      });
    }
    mkdirSync(join(target, '..'), { recursive: true });
    renameSync(tmpBinary, target);
    log(`built ${name} ${recipe.version} in ${Math.round((Date.now() - started) / 1000)}s`);
    return target;
  } finally {
    rmSync(tmpDir, { recursive: true, force: true });
  }
}

/** Builds in sequence: two cores are better spent on one compile than split across two. */
export async function buildAll(names: BinaryName[], argo?: ArgoVersion): Promise<void> {
  const missing = names.filter((n) => !isBuilt(n, argo));
  if (missing.length > 0) log(`missing: ${missing.join(', ')}${argo ? ` (Argo ${argo})` : ''}`);
  for (const name of missing) await build(name, argo);
}

export const clusterBinaries: BinaryName[] = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubectl', 'kwok'];
