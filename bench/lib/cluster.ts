// The bench's own test cluster (test/cluster's `up` with a state directory of its own, tied to this
// process by the harness's watchdog), and the few API calls the benchmarks make as the admin.
import { readFileSync, rmSync } from 'node:fs';
import { Pool } from 'undici';
import { join } from 'node:path';
import { down, up, type ClusterState } from '../../test/cluster/cluster.ts';
import { cacheRoot } from '../../test/cluster/paths.ts';
import type { ClientName } from '../../test/cluster/pki.ts';
import { apiRequest } from '../../test/cluster/state.ts';
import { log, sleep } from './report.ts';

export interface BenchCluster {
  state: ClusterState;
  stop(): Promise<void>;
}

export async function benchCluster(_quick: boolean): Promise<BenchCluster> {
  const stateDir = join(cacheRoot(), 'bench', `cluster-${process.pid}`);
  const started = Date.now();
  const state = await up({ stateDir, ownerPid: process.pid, log: (l) => log(`cluster: ${l}`) });
  log(`cluster ready in ${((Date.now() - started) / 1000).toFixed(1)} s (${stateDir})`);
  return {
    state,
    stop: async () => {
      await down({ stateDir, log: (l) => log(`cluster: ${l}`) });
      for (const d of ['pki', 'kubeconfig', 'kubeconfig.yaml', 'etcd', 'cluster.json']) rmSync(join(stateDir, d), { recursive: true, force: true });
    },
  };
}

export async function api<T = unknown>(s: ClusterState, path: string, o: { method?: string; body?: unknown; contentType?: string; ok?: number[] } = {}): Promise<T> {
  const r = await apiRequest(s, path, { method: o.method ?? 'GET', body: o.body, headers: o.contentType ? { 'Content-Type': o.contentType } : {} });
  if (!(o.ok ?? [200, 201, 202]).includes(r.status)) throw new Error(`${o.method ?? 'GET'} ${path}: HTTP ${r.status} ${r.body.slice(0, 300)}`);
  return (r.body ? JSON.parse(r.body) : undefined) as T;
}

/** A namespace whose default ServiceAccount exists (pods are refused until it does). */
export async function ensureNamespace(s: ClusterState, name: string): Promise<void> {
  await api(s, '/api/v1/namespaces', { method: 'POST', body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { 'argo-daemon-guard.io/bench': 'true' } } }, ok: [201, 409] });
  for (let i = 0; i < 240; i++) {
    if ((await apiRequest(s, `/api/v1/namespaces/${name}/serviceaccounts/default`)).status === 200) return;
    await sleep(250);
  }
  throw new Error(`ServiceAccount default never appeared in ${name}`);
}

export async function deleteNamespace(s: ClusterState, name: string): Promise<void> {
  await api(s, `/api/v1/namespaces/${name}`, { method: 'DELETE', ok: [200, 202, 404] });
}

export interface KeepAliveClient {
  request<T = unknown>(method: string, path: string, body?: unknown, o?: { contentType?: string; ok?: number[] }): Promise<{ status: number; body: T }>;
  close(): Promise<void>;
}

/** Requests over a pool of keep-alive connections, as the admin (creating objects in bulk) or another client of the harness. */
export function keepAliveClient(s: ClusterState, connections = 16, as: ClientName = 'admin'): KeepAliveClient {
  const pool = new Pool(s.server, {
    connections,
    pipelining: 1,
    connect: { ca: readFileSync(s.pki.ca.cert), cert: readFileSync(s.pki.clients[as].cert), key: readFileSync(s.pki.clients[as].key) },
    headersTimeout: 60_000,
    bodyTimeout: 60_000,
  });
  return {
    async request<T>(method: string, path: string, body?: unknown, o: { contentType?: string; ok?: number[] } = {}) {
      const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
      const res = await pool.request({ method: method as 'GET', path, headers: { accept: 'application/json', ...(payload ? { 'content-type': o.contentType ?? 'application/json' } : {}) }, body: payload ?? null });
      const text = await res.body.text();
      if (!(o.ok ?? [200, 201, 202]).includes(res.statusCode)) throw new Error(`${method} ${path}: HTTP ${res.statusCode} ${text.slice(0, 300)}`);
      return { status: res.statusCode, body: (text ? JSON.parse(text) : undefined) as T };
    },
    close: () => pool.close(),
  };
}

/** Runs `fn` over `items` with at most `concurrency` at once. */
export async function pool<T>(items: T[], concurrency: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}
