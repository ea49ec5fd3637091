// Argo's full CRDs, straight from the argo-workflows module in the Go module cache (nothing from Argo
// is copied into this repository), applied with server-side apply (the full CRDs are too large for a
// client-side apply's last-applied annotation) by the kubectl the harness built.
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { versions, binaryPath } from './binaries.ts';

const run = promisify(execFile);

export const argoModule = 'github.com/argoproj/argo-workflows/v3';

/** `go mod download -json` → the module's directory in the module cache (downloads it if missing). */
export async function argoModuleDir(): Promise<string> {
  const { stdout } = await run('go', ['mod', 'download', '-json', `${argoModule}@${versions.argo}`], {
    env: { ...process.env, GOFLAGS: '-mod=mod', GOTOOLCHAIN: 'local' },
    maxBuffer: 16 * 1024 * 1024,
  }).catch((err: Error & { stdout?: string; stderr?: string }) => {
    throw new Error(`go mod download ${argoModule}@${versions.argo} failed: ${err.stderr || err.stdout || err.message}`);
  });
  const info = JSON.parse(stdout) as { Dir?: string; Error?: string };
  if (!info.Dir) throw new Error(`go mod download ${argoModule}@${versions.argo}: ${info.Error ?? 'no Dir in its output'}`);
  return info.Dir;
}

/**
 * `full`: the CRDs with their OpenAPI schemas (7.4 MB; what the tests use). `minimal`: schema-less,
 * 144 KB — what Argo's own install.yaml (manifests/cluster-install) ships, and applied in a second
 * rather than 15.
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

/** Applies every full CRD and waits until all are Established. */
export async function installArgoCrds(kubeconfig: string, variant: ArgoCrdVariant = 'full'): Promise<string[]> {
  const files = argoCrdFiles(await argoModuleDir(), variant);
  // One kubectl for all: the time goes to the API server (seconds per multi-megabyte CRD), and
  // parallel kubectls only add YAML parsing on the same two cores.
  const args = ['apply', '--server-side', '--force-conflicts', '--field-manager=argo-daemon-guard-test'];
  for (const f of files) args.push('-f', f);
  await kubectl(kubeconfig, args);
  return files.map((f) => f.replace(/^.*argoproj\.io_(.*)\.yaml$/, '$1.argoproj.io'));
}
