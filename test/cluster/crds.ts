// Argo's full CRDs, straight from the argo-workflows module in the Go module cache (nothing from Argo
// is copied into this repository), applied with server-side apply (the full CRDs are too large for a
// client-side apply's last-applied annotation) by the kubectl the harness built.
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { versions, binaryPath } from './binaries.ts';

const run = promisify(execFile);

/** `3.7.18` or `v4.0.5` → `v4.0.5`-style, as Go module versions are written. */
export function argoModuleVersion(version: string): string {
  const v = version.startsWith('v') ? version : `v${version}`;
  if (!/^v\d+\.\d+\.\d+$/.test(v)) throw new Error(`Argo version ${JSON.stringify(version)} is not a release like 3.7.18 or 4.0.5`);
  return v;
}

/** Each major version of Argo is its own Go module: …/v3 for 3.x, …/v4 for 4.x (semantic import versioning). */
export function argoModulePath(version: string = versions.argo): string {
  const major = Number(argoModuleVersion(version).slice(1).split('.')[0]);
  return major >= 2 ? `github.com/argoproj/argo-workflows/v${major}` : 'github.com/argoproj/argo-workflows';
}

/** The module of the default version (v3.7.18). */
export const argoModule = argoModulePath();

/** `go mod download -json` → the module's directory in the module cache (downloads it if missing). */
export async function argoModuleDir(version: string = versions.argo): Promise<string> {
  const ref = `${argoModulePath(version)}@${argoModuleVersion(version)}`;
  const { stdout } = await run('go', ['mod', 'download', '-json', ref], {
    env: { ...process.env, GOFLAGS: '-mod=mod', GOTOOLCHAIN: 'local' },
    maxBuffer: 16 * 1024 * 1024,
  }).catch((err: Error & { stdout?: string; stderr?: string }) => {
    throw new Error(`go mod download ${ref} failed: ${err.stderr || err.stdout || err.message}`);
  });
  const info = JSON.parse(stdout) as { Dir?: string; Error?: string };
  if (!info.Dir) throw new Error(`go mod download ${ref}: ${info.Error ?? 'no Dir in its output'}`);
  return info.Dir;
}

/**
 * `full`: the CRDs with their OpenAPI schemas (7.4 MB at v3.7.18, 10.9 MB with CEL validation rules at
 * v4.0.5; what the tests use). `minimal`: schema-less (144 KB at v3.7.18, 868 KB at v4.0.5) and applied in a second rather
 * than 15. Argo's own install manifests (manifests/cluster-install, namespace-install) ship `minimal` at
 * v3.7 and `full` from v4.0.
 */
export type ArgoCrdVariant = 'full' | 'minimal';

export function argoCrdFiles(moduleDir: string, variant: ArgoCrdVariant = 'full'): string[] {
  const dir = join(moduleDir, 'manifests', 'base', 'crds', variant);
  return readdirSync(dir)
    .filter((f) => f.startsWith('argoproj.io_') && f.endsWith('.yaml'))
    .sort()
    .map((f) => join(dir, f));
}

export async function kubectl(kubeconfig: string, args: string[], timeoutMs = 120_000): Promise<{ stdout: string; stderr: string }> {
  try {
    return await run(binaryPath('kubectl'), ['--kubeconfig', kubeconfig, ...args], { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
  } catch (err) {
    const e = err as Error & { stdout?: string; stderr?: string };
    throw new Error(`kubectl ${args.join(' ')} failed: ${(e.stderr || e.stdout || e.message).trim()}`);
  }
}

/** Applies every CRD of the variant, from the Argo module at `version`; returns the CRDs' names. */
export async function installArgoCrds(kubeconfig: string, variant: ArgoCrdVariant = 'full', version: string = versions.argo): Promise<string[]> {
  const files = argoCrdFiles(await argoModuleDir(version), variant);
  // One kubectl for all: the time goes to the API server (seconds per multi-megabyte CRD), and
  // parallel kubectls only add YAML parsing on the same two cores.
  const args = ['apply', '--server-side', '--force-conflicts', '--field-manager=argo-daemon-guard-test'];
  for (const f of files) args.push('-f', f);
  await kubectl(kubeconfig, args);
  return files.map((f) => f.replace(/^.*argoproj\.io_(.*)\.yaml$/, '$1.argoproj.io'));
}
