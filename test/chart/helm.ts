// Running the Helm the harness builds (helm.sh/helm/v4 at test/cluster/binaries.ts' version, cached
// under ~/.cache/argo-daemon-guard) over the chart, and reading what it renders.
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments, parse as parseYaml, stringify } from 'yaml';
import { build } from '../cluster/binaries.ts';
import { chartDir } from '../../scripts/generate-chart-files.ts';

const run = promisify(execFile);

export { chartDir };
export type Obj = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [k: string]: unknown;
};

/** Helm's own state (repositories, cache, plugins) stays in a scratch directory, never in ~/.config. */
const helmHome = mkdtempSync(join(tmpdir(), 'adg-helm-'));

let helmPath: Promise<string> | undefined;
/** The helm binary, built on first use (minutes, once per machine; a lock serialises builders). */
export function helmBinary(): Promise<string> {
  helmPath ??= build('helm');
  return helmPath;
}

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function helm(args: string[], o: { kubeconfig?: string; timeoutMs?: number } = {}): Promise<HelmResult> {
  const bin = await helmBinary();
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: helmHome,
    HELM_CACHE_HOME: join(helmHome, 'cache'),
    HELM_CONFIG_HOME: join(helmHome, 'config'),
    HELM_DATA_HOME: join(helmHome, 'data'),
    // Never the developer's cluster by accident: no kubeconfig unless the test names one.
    KUBECONFIG: o.kubeconfig ?? join(helmHome, 'no-kubeconfig'),
  };
  try {
    const { stdout, stderr } = await run(bin, args, { env, timeout: o.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as Error & { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? e.message };
  }
}

/** Writes values (any JSON-able object) to a file helm can read with -f. */
export function valuesFile(values: object): string {
  const dir = mkdtempSync(join(helmHome, 'values-'));
  const file = join(dir, 'values.yaml');
  writeFileSync(file, stringify(values));
  return file;
}

export interface RenderOptions {
  release?: string;
  namespace?: string;
  values?: object;
  chart?: string;
  kubeVersion?: string;
  apiVersions?: string[];
  extraArgs?: string[];
  kubeconfig?: string;
}

export const defaultRelease = 'adg';
export const defaultNamespace = 'argo-daemon-guard-system';

export function templateArgs(o: RenderOptions = {}): string[] {
  const args = ['template', o.release ?? defaultRelease, o.chart ?? chartDir, '--namespace', o.namespace ?? defaultNamespace];
  if (o.values) args.push('-f', valuesFile(o.values));
  if (o.kubeVersion) args.push('--kube-version', o.kubeVersion);
  for (const v of o.apiVersions ?? []) args.push('--api-versions', v);
  return [...args, ...(o.extraArgs ?? [])];
}

/** `helm template` → the objects it renders (hooks included); rejects with helm's message on failure. */
export async function render(o: RenderOptions = {}): Promise<Obj[]> {
  const r = await helm(templateArgs(o), o.kubeconfig ? { kubeconfig: o.kubeconfig } : {});
  if (r.code !== 0) throw new Error(`helm template failed: ${r.stderr.trim()}`);
  return parseObjects(r.stdout);
}

export function parseObjects(text: string): Obj[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => o !== null && typeof o === 'object');
}

/** The error message of a render expected to fail. */
export async function renderError(o: RenderOptions): Promise<string> {
  const r = await helm(templateArgs(o));
  if (r.code === 0) throw new Error('helm template succeeded where it should have failed');
  return r.stderr;
}

export function find(objects: Obj[], kind: string, name?: string, namespace?: string): Obj[] {
  return objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name) && (namespace === undefined || o.metadata.namespace === namespace));
}

export function one(objects: Obj[], kind: string, name?: string, namespace?: string): Obj {
  const found = find(objects, kind, name, namespace);
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}: ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`);
  return found[0]!;
}

/** A copy of the chart with another version in Chart.yaml: "the same chart, one release later". */
export function chartCopy(version: string, appVersion = version): string {
  const dir = join(mkdtempSync(join(helmHome, 'chart-')), 'argo-daemon-guard');
  mkdirSync(dir, { recursive: true });
  cpSync(chartDir, dir, { recursive: true });
  const chart = parseYaml(readFileSync(join(dir, 'Chart.yaml'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(dir, 'Chart.yaml'), stringify({ ...chart, version, appVersion }));
  return dir;
}

export const scratchDir = helmHome;
