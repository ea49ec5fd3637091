// What the fault tests share beyond test/integration's helpers: a loopback TCP proxy that can stop
// forwarding without closing (a watch that goes silent), the API server's audit log read from an
// offset (who deleted what), daemon pods created under load, and signals by pid file.
import { createServer, connect, type Server, type Socket } from 'node:net';
import { closeSync, openSync, readFileSync, readSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import type { V1Pod } from '@kubernetes/client-node';
import { guard } from '../../core/keys.ts';
import { readRecord, isRunning } from '../cluster/processes.ts';
import { sleep } from '../cluster/lock.ts';
import type { ClusterState } from '../cluster/state.ts';
import { redisTemplate, workflowPod } from '../fixtures/pods.ts';
import { core, createWorkflow, testInstanceId } from '../integration/helpers.ts';

// ---- A proxy that can go silent ------------------------------------------------------------------

export interface SilentProxy {
  port: number;
  /** Connections open now stop forwarding in both directions and stay open; new ones work. */
  freeze(): number;
  close(): Promise<void>;
}

export async function silentProxy(targetPort: number): Promise<SilentProxy> {
  const pairs = new Set<{ client: Socket; upstream: Socket; frozen: boolean }>();
  const server: Server = createServer((client) => {
    const upstream = connect({ host: '127.0.0.1', port: targetPort });
    const pair = { client, upstream, frozen: false };
    pairs.add(pair);
    const forward = (from: Socket, to: Socket) =>
      from.on('data', (chunk: Buffer) => {
        // A frozen connection swallows bytes: neither side hears from the other, nobody closes.
        if (!pair.frozen) to.write(chunk);
      });
    forward(client, upstream);
    forward(upstream, client);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    freeze() {
      let n = 0;
      for (const p of pairs) if (!p.frozen) ((p.frozen = true), n++);
      return n;
    },
    close: () =>
      new Promise((resolve) => {
        for (const p of pairs) (p.client.destroy(), p.upstream.destroy());
        server.close(() => resolve());
      }),
  };
}

/** A copy of the admin kubeconfig that reaches the API server through `port`. */
export function kubeconfigVia(s: ClusterState, port: number, file: string): string {
  const doc = parse(readFileSync(s.kubeconfig, 'utf8')) as { clusters: { cluster: { server: string } }[] };
  for (const c of doc.clusters) c.cluster.server = `https://127.0.0.1:${port}`;
  writeFileSync(file, stringify(doc), { mode: 0o600 });
  return file;
}

// ---- The API server's audit log ------------------------------------------------------------------

export interface AuditEntry {
  user: string;
  verb: string;
  resource: string;
  namespace: string;
  name: string;
  code: number;
  stage: string;
}

export function auditFile(s: ClusterState): string {
  return join(s.stateDir, 'logs', 'audit.log');
}

export function auditOffset(s: ClusterState): number {
  try {
    return statSync(auditFile(s)).size;
  } catch {
    return 0;
  }
}

export function auditSince(s: ClusterState, offset: number): AuditEntry[] {
  const size = auditOffset(s);
  if (size <= offset) return [];
  const fd = openSync(auditFile(s), 'r');
  const buf = Buffer.alloc(size - offset);
  readSync(fd, buf, 0, buf.length, offset);
  closeSync(fd);
  const out: AuditEntry[] = [];
  for (const line of buf.toString('utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const e = JSON.parse(line) as { user?: { username?: string }; verb?: string; objectRef?: { resource?: string; namespace?: string; name?: string }; responseStatus?: { code?: number }; stage?: string };
      out.push({ user: e.user?.username ?? '', verb: e.verb ?? '', resource: e.objectRef?.resource ?? '', namespace: e.objectRef?.namespace ?? '', name: e.objectRef?.name ?? '', code: e.responseStatus?.code ?? 0, stage: e.stage ?? '' });
    } catch {
      /* the last line may be half written */
    }
  }
  return out;
}

/**
 * Successful pod deletes per pod name in `namespace` since `offset`, by anyone but kwok (which, as the
 * kubelet, finishes every graceful delete with one of its own).
 */
export function deletesPerPod(s: ClusterState, offset: number, namespace: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const e of auditSince(s, offset)) {
    if (e.verb === 'delete' && e.resource === 'pods' && e.namespace === namespace && e.stage === 'ResponseComplete' && e.code === 200 && e.user !== 'kwok-controller') {
      out.set(e.name, (out.get(e.name) ?? 0) + 1);
    }
  }
  return out;
}

// ---- Processes ----------------------------------------------------------------------------------

/** SIGKILL to a component by its pid file (no handler runs: no Lease hand-over, no drain). */
export async function kill9(s: ClusterState, name: string): Promise<void> {
  const r = readRecord(s.stateDir, name);
  if (!r || !isRunning(r)) throw new Error(`${name} is not running`);
  process.kill(r.pid, 'SIGKILL');
  for (let i = 0; i < 100 && isRunning(r); i++) await sleep(50);
}

// ---- Daemon pods under load ---------------------------------------------------------------------

export interface LoadOutcome {
  created: string[];
  errors: string[];
}

/**
 * Creates daemon pods (as Argo would, owned by one real Workflow) with `concurrency` creates in flight
 * until `stop` resolves. They name a scheduler that does not exist, so they stay Pending and nothing but
 * admission touches them.
 */
export async function daemonPodsUnderLoad(namespace: string, stop: Promise<unknown>, concurrency = 6): Promise<LoadOutcome> {
  const workflow = `load-${Date.now().toString(36)}`;
  const wf = await createWorkflow(namespace, workflow, [{ name: 'main', steps: [[{ name: 'db', template: redisTemplate.name }]] }, redisTemplate]);
  let done = false;
  void stop.finally(() => (done = true));
  const out: LoadOutcome = { created: [], errors: [] };
  let n = 0;
  const worker = async () => {
    while (!done) {
      const pod = workflowPod({ workflow, namespace, workflowUid: wf.uid, nodeName: `${workflow}[${n++}].db`, template: redisTemplate, layout: 'legacy', instanceId: testInstanceId });
      (pod.spec as Record<string, unknown>).schedulerName = 'hardening-no-scheduler';
      try {
        const created = await core().createNamespacedPod({ namespace, body: pod as unknown as V1Pod });
        out.created.push(created.metadata!.name!);
      } catch (err) {
        out.errors.push((err as Error).message.slice(0, 200));
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return out;
}

/** How many of these pods carry the guard's daemon label (read back from the API server). */
export async function labeledAmong(namespace: string, names: string[]): Promise<{ labeled: number; unlabeled: string[] }> {
  const list = await core().listNamespacedPod({ namespace });
  const byName = new Map(list.items.map((p) => [p.metadata!.name!, p]));
  const unlabeled = names.filter((n) => byName.get(n)?.metadata?.labels?.[guard.daemonLabel] !== 'true');
  return { labeled: names.length - unlabeled.length, unlabeled };
}
