// Builds the cluster's binaries from the Go module proxy and caches them outside the repository,
// keyed by version. A binary appears in the cache only by an atomic rename of a finished build, so a
// failed or interrupted build leaves nothing half-written behind.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync, createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { cacheRoot } from './paths.ts';
import { withLock } from './lock.ts';

export const versions = {
  kubernetes: 'v1.35.4',
  etcd: 'v3.6.5',
  kwok: 'v0.8.0',
  argo: 'v3.7.18',
  helm: 'v4.3.1',
} as const;

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
  | 'helm';

interface Recipe {
  version: string;
  /** A wrapper module (go.mod text) to build the package in, or none for `go install pkg@version`. */
  wrapper?: () => string;
  pkg: string;
  ldflags?: string;
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

/** Argo's go.mod replaces tablewriter; a wrapper module must repeat every replace it declares. */
function argoWrapper(): string {
  const modFile = goModFile('github.com/argoproj/argo-workflows/v3', versions.argo);
  const replaces = [...modFile.matchAll(/^\s*replace\s+(\S+)\s+=>\s+(\S+)\s+(\S+)\s*$/gm)].map(
    (m) => `replace ${m[1]} => ${m[2]} ${m[3]}`,
  );
  return ['module argo-daemon-guard.local/argo', 'go 1.24', `require github.com/argoproj/argo-workflows/v3 ${versions.argo}`, ...replaces].join('\n');
}

const recipes: Record<BinaryName, Recipe> = {
  etcd: { version: versions.etcd, wrapper: etcdWrapper, pkg: 'go.etcd.io/etcd/server/v3' },
  'kube-apiserver': { version: versions.kubernetes, wrapper: kubernetesWrapper, pkg: 'k8s.io/kubernetes/cmd/kube-apiserver', ldflags: k8sLdflags },
  'kube-controller-manager': { version: versions.kubernetes, wrapper: kubernetesWrapper, pkg: 'k8s.io/kubernetes/cmd/kube-controller-manager', ldflags: k8sLdflags },
  'kube-scheduler': { version: versions.kubernetes, wrapper: kubernetesWrapper, pkg: 'k8s.io/kubernetes/cmd/kube-scheduler', ldflags: k8sLdflags },
  kubectl: { version: versions.kubernetes, wrapper: kubernetesWrapper, pkg: 'k8s.io/kubernetes/cmd/kubectl', ldflags: k8sLdflags },
  kubelet: { version: versions.kubernetes, wrapper: kubernetesWrapper, pkg: 'k8s.io/kubernetes/cmd/kubelet', ldflags: k8sLdflags },
  'kube-proxy': { version: versions.kubernetes, wrapper: kubernetesWrapper, pkg: 'k8s.io/kubernetes/cmd/kube-proxy', ldflags: k8sLdflags },
  kwok: { version: versions.kwok, pkg: 'sigs.k8s.io/kwok/cmd/kwok', ldflags: '-s -w' },
  'workflow-controller': { version: versions.argo, wrapper: argoWrapper, pkg: 'github.com/argoproj/argo-workflows/v3/cmd/workflow-controller', ldflags: '-s -w' },
  helm: { version: versions.helm, pkg: 'helm.sh/helm/v4/cmd/helm', ldflags: '-s -w' },
};

export function binaryPath(name: BinaryName): string {
  return join(cacheRoot(), 'bin', `${name}-${recipes[name].version}`, name);
}

export function isBuilt(name: BinaryName): boolean {
  return existsSync(binaryPath(name));
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

function goModFile(module: string, version: string): string {
  const modCache = process.env.GOMODCACHE ?? join(process.env.HOME ?? '/root', 'go', 'pkg', 'mod');
  const escaped = module.replace(/[A-Z]/g, (c) => `!${c.toLowerCase()}`);
  const file = join(modCache, 'cache', 'download', escaped, '@v', `${version}.mod`);
  if (!existsSync(file)) throw new Error(`go.mod of ${module}@${version} is not in the module cache (${file})`);
  return readFileSync(file, 'utf8');
}

async function goModDownload(module: string, version: string, env: NodeJS.ProcessEnv, logFile: string): Promise<void> {
  await runGo(['mod', 'download', `${module}@${version}`], { cwd: cacheRoot(), env, what: `download ${module}@${version}`, logFile });
}

/**
 * Builds one binary unless it is cached. A lock file in the cache (bin/.lock-<name>-<version>) makes
 * sure two processes never compile the same binary at once: the second waits, then finds it built.
 */
export async function build(name: BinaryName): Promise<string> {
  const target = binaryPath(name);
  if (existsSync(target)) return target;
  const recipe = recipes[name];
  const lockDir = join(cacheRoot(), 'bin');
  mkdirSync(lockDir, { recursive: true });
  return withLock(
    join(lockDir, `.lock-${name}-${recipe.version}`),
    {
      what: `build ${name} ${recipe.version}`,
      onWait: (h, s) => log(`waiting for pid ${h.pid}, which is building ${name} ${recipe.version} (${s}s so far)`),
    },
    async () => (existsSync(target) ? target : buildLocked(name)),
  );
}

async function buildLocked(name: BinaryName): Promise<string> {
  const target = binaryPath(name);
  const recipe = recipes[name];
  const workRoot = join(cacheRoot(), 'build');
  mkdirSync(workRoot, { recursive: true });
  const logFile = join(workRoot, `${name}-${recipe.version}.log`);
  const tmpDir = join(workRoot, `.tmp-${name}-${process.pid}`);
  rmSync(tmpDir, { recursive: true, force: true });
  mkdirSync(tmpDir, { recursive: true });
  const env = { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=mod -buildvcs=false', GOTOOLCHAIN: 'local' };
  const started = Date.now();
  log(`building ${name} ${recipe.version} (cold builds take minutes; log: ${logFile})`);
  try {
    const tmpBinary = join(tmpDir, name);
    if (recipe.wrapper) {
      if (name === 'workflow-controller') await goModDownload('github.com/argoproj/argo-workflows/v3', versions.argo, env, logFile);
      if (recipe.pkg.startsWith('k8s.io/kubernetes/')) await goModDownload('k8s.io/kubernetes', versions.kubernetes, env, logFile);
      const modDir = join(workRoot, `wrapper-${name}-${recipe.version}`);
      mkdirSync(modDir, { recursive: true });
      writeFileSync(join(modDir, 'go.mod'), recipe.wrapper() + '\n');
      rmSync(join(modDir, 'go.sum'), { force: true });
      await runGo(['build', '-v', '-trimpath', '-ldflags', recipe.ldflags ?? '', '-o', tmpBinary, recipe.pkg], {
        cwd: modDir,
        env,
        what: `compile ${name}`,
        logFile,
      });
    } else {
      await runGo(['install', '-v', '-trimpath', '-ldflags', recipe.ldflags ?? '', `${recipe.pkg}@${recipe.version}`], {
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
export async function buildAll(names: BinaryName[]): Promise<void> {
  const missing = names.filter((n) => !isBuilt(n));
  if (missing.length > 0) log(`missing: ${missing.join(', ')}`);
  for (const name of missing) await build(name);
}

export const clusterBinaries: BinaryName[] = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubectl', 'kwok'];
