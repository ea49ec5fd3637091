// What the integration tests share: the cluster the global setup started (through vitest's inject),
// @kubernetes/client-node clients on its admin kubeconfig, namespaces that clean up after themselves,
// Argo-shaped objects, and the counters that show whether a request reached the webhook.
import { afterAll, inject } from 'vitest';
import {
  ApiException,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1Pod,
} from '@kubernetes/client-node';
import type { ClusterState } from '../cluster/cluster.ts';
import { apiRequest, startWebhook, stopWebhook } from '../cluster/cluster.ts';
import { fetchText } from '../cluster/kubeconfig.ts';
import { sleep } from '../cluster/lock.ts';
import { argo } from '../../core/keys.ts';

export type Json = Record<string, unknown>;

/** Argo controllers ignore Workflows of an instance id they do not own; no controller owns this one. */
export const testInstanceId = 'argo-daemon-guard-test';

export function cluster(): ClusterState {
  return inject('cluster');
}

let kubeConfig: KubeConfig | undefined;
export function kc(): KubeConfig {
  if (!kubeConfig) {
    kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(cluster().kubeconfig);
  }
  return kubeConfig;
}

export const core = () => kc().makeApiClient(CoreV1Api);
export const custom = () => kc().makeApiClient(CustomObjectsApi);

export const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** The API server's error for a refused request: HTTP code and Status message. */
export function apiError(err: unknown): { code: number; message: string } {
  if (err instanceof ApiException) {
    const body = typeof err.body === 'string' ? safeJson(err.body) : err.body;
    return { code: err.code, message: String((body as Json | undefined)?.message ?? err.message) };
  }
  throw err;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return { message: text };
  }
}

/** Warning headers (RFC 7234: `299 - "text"`), however the client joined several into one. */
export function warningsOf(headers: Record<string, string> | undefined): string[] {
  const raw = headers?.warning ?? headers?.Warning ?? '';
  return [...raw.matchAll(/\d{3} \S+ "((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]!.replace(/\\(.)/g, '$1'));
}

export async function waitUntil<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 30_000, intervalMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await sleep(intervalMs);
  }
}

/** A fresh namespace (deleted after the file's tests) whose default ServiceAccount exists. */
export async function testNamespace(prefix: string): Promise<string> {
  const ns = await core().createNamespace({ body: { metadata: { generateName: `${prefix}-`, labels: { 'argo-daemon-guard.io/test': 'true' } } } });
  const name = ns.metadata!.name!;
  afterAll(async () => {
    await core().deleteNamespace({ name }).catch(() => {});
  });
  await defaultServiceAccount(name);
  return name;
}

/**
 * The ServiceAccount admission plugin refuses pods until `default` exists. The controller-manager makes
 * it, but after a test restarted the API server its watches may back off for a minute first: past a
 * short wait the test makes it itself (what the controller would have made), since no test here is
 * about the controller-manager.
 */
export async function defaultServiceAccount(namespace: string): Promise<void> {
  const exists = async () => !!(await core().readNamespacedServiceAccount({ name: 'default', namespace }));
  try {
    await waitUntil(`ServiceAccount default in ${namespace}`, exists, 5_000);
  } catch {
    await core()
      .createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'default' } } })
      .catch((err: unknown) => {
        if ((err as { code?: number }).code !== 409) throw err;
      });
    await waitUntil(`ServiceAccount default in ${namespace}`, exists);
  }
}

// ---- Argo objects -----------------------------------------------------------------------------

export const workflowsApi = { group: argo.group, version: argo.version } as const;

export function workflowObject(o: { name: string; namespace: string; templates: Json[]; entrypoint?: string; labels?: Record<string, string> }): Json {
  return {
    apiVersion: argo.apiVersion,
    kind: argo.kinds.workflow,
    metadata: { name: o.name, namespace: o.namespace, labels: { [argo.controllerInstanceIdLabel]: testInstanceId, ...o.labels } },
    spec: { entrypoint: o.entrypoint ?? String(o.templates[0]!.name), templates: o.templates },
  };
}

/** A real Workflow object (so the pod's ownerReference carries a real uid), owned by no controller. */
export async function createWorkflow(namespace: string, name: string, templates: Json[]): Promise<{ name: string; uid: string }> {
  const created = (await custom().createNamespacedCustomObject({ ...workflowsApi, namespace, plural: argo.resources.workflows, body: workflowObject({ name, namespace, templates }) })) as Json;
  const meta = created.metadata as { name: string; uid: string };
  return { name: meta.name, uid: meta.uid };
}

// ---- Pods -------------------------------------------------------------------------------------

/** Creates a pod given as plain JSON (the fixtures' shape); returns what the API server stored. */
export async function createPod(namespace: string, pod: object, dryRun = false): Promise<V1Pod> {
  return core().createNamespacedPod({ namespace, body: pod as V1Pod, ...(dryRun ? { dryRun: 'All' } : {}) });
}

export async function readPod(namespace: string, name: string): Promise<V1Pod> {
  return core().readNamespacedPod({ name, namespace });
}

export function podReady(p: V1Pod): boolean {
  return p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

export async function waitForPod(namespace: string, name: string, what: string, ok: (p: V1Pod) => boolean, timeoutMs = 30_000): Promise<V1Pod> {
  return waitUntil(`pod ${namespace}/${name} ${what}`, async () => {
    const p = await readPod(namespace, name);
    return ok(p) ? p : undefined;
  }, timeoutMs);
}

export const isRunningAndReady = (p: V1Pod) => p.status?.phase === 'Running' && podReady(p) && !!p.status?.podIP && !!p.spec?.nodeName;
export const isSucceeded = (p: V1Pod) => p.status?.phase === 'Succeeded';

// ---- Metrics: did a request reach the webhook? ------------------------------------------------

/** Sum of a Prometheus counter's samples whose labels include `labels`. */
export function counter(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
    const m = /^([^{\s]+)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) sum += Number(m[3]);
  }
  return sum;
}

/** The API server's own count of calls to each admission webhook (by webhook name and operation). */
export async function apiserverMetrics(): Promise<string> {
  const r = await apiRequest(cluster(), '/metrics');
  if (r.status !== 200) throw new Error(`API server /metrics: HTTP ${r.status}`);
  return r.body;
}

export async function webhookMetrics(port = cluster().webhook.port): Promise<string> {
  const r = await fetchText(`https://127.0.0.1:${port}/metrics`, { tls: { ca: cluster().webhook.caFile } });
  if (r.status !== 200) throw new Error(`webhook /metrics: HTTP ${r.status}`);
  return r.body;
}

// ---- The webhook process ----------------------------------------------------------------------

/** Restarts the webhook with another policy file (or the default one). */
export async function restartWebhook(policyFile?: string): Promise<void> {
  const s = cluster();
  await stopWebhook(s);
  await startWebhook(s, policyFile ? { policyFile } : {});
}
