// What the reaper's cluster tests share: reaper processes from this checkout with a config of the
// test's own, Workflows written by hand with a status (kept away from any Argo controller by the test
// instance id), and their daemon pods as Argo would create them.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach } from 'vitest';
import { stringify } from 'yaml';
import { argo } from '../../core/keys.ts';
import { reaperSpec } from '../cluster/components.ts';
import { fetchText } from '../cluster/kubeconfig.ts';
import { logFileOf, start, stop } from '../cluster/processes.ts';
import { nodeIdOf, redisTemplate, workflowPod } from '../fixtures/pods.ts';
import { cluster, core, createPod, defaultServiceAccount, custom, mergePatch, testInstanceId, waitUntil, workflowObject, workflowsApi, type Json } from './helpers.ts';

export interface ReaperProcess {
  name: string;
  port: number;
  configFile: string;
  /** Every JSON line the reaper has logged so far. */
  logs(): Json[];
  /** The audit records (event "reap"). */
  audit(): Json[];
  metrics(): Promise<string>;
  stop(): Promise<void>;
}

const namespaces: string[] = [];
afterAll(async () => {
  for (const name of namespaces) await core().deleteNamespace({ name }).catch(() => {});
});

/** A namespace for one test (deleted after the file), so one test's leftovers never meet another's reaper. */
export async function reaperNamespace(): Promise<string> {
  const created = await core().createNamespace({ body: { metadata: { generateName: 'reaper-', labels: { 'argo-daemon-guard.io/test': 'true' } } } });
  const name = created.metadata!.name!;
  namespaces.push(name);
  await defaultServiceAccount(name);
  return name;
}

const running = new Set<ReaperProcess>();
afterEach(async () => {
  for (const r of running) await r.stop();
});

function jsonLines(file: string): Json[] {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => {
      try {
        return JSON.parse(l) as Json;
      } catch {
        return {};
      }
    });
}

/** Starts a reaper with this config (YAML-able object); returns once its caches are synced. */
export async function startReaper(o: { name: string; config: Json; dryRun?: boolean; leaseNamespace: string; waitSynced?: boolean; kubeconfig?: string }): Promise<ReaperProcess> {
  const s = cluster();
  const configFile = join(s.stateDir, `${o.name}.config.yaml`);
  writeFileSync(configFile, stringify(o.config));
  const logFile = logFileOf(s.stateDir, o.name);
  // A fresh log per run of this name, so records of an earlier test never count here.
  writeFileSync(logFile, '');
  const proc = start(s.stateDir, reaperSpec(s, { name: o.name, configFile, dryRun: o.dryRun ?? false, leaseNamespace: o.leaseNamespace, ...(o.kubeconfig ? { kubeconfig: o.kubeconfig } : {}) }));
  const lines = () => jsonLines(logFile);
  const port = await waitUntil(`reaper ${o.name} listening (log ${logFile})`, async () => {
    const l = lines().find((x) => x.msg === 'reaper health endpoint listening');
    return l ? Number(l.port) : undefined;
  });
  if (o.waitSynced !== false) await waitUntil(`reaper ${o.name} caches synced`, async () => lines().some((x) => x.msg === 'caches synced'), 60_000);
  const r: ReaperProcess = {
    name: o.name,
    port,
    configFile,
    logs: lines,
    audit: () => lines().filter((x) => x.event === 'reap'),
    metrics: async () => (await fetchText(`http://127.0.0.1:${port}/metrics`)).body,
    stop: async () => {
      running.delete(r);
      await stop(s.stateDir, o.name);
      void proc;
    },
  };
  running.add(r);
  return r;
}

// ---- Workflows with a status of their own -----------------------------------------------------

export interface StagedDaemon {
  workflow: { name: string; uid: string };
  pod: { name: string; uid: string };
  nodeName: string;
}

const nodeTime = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

/** Steps scope `wf` with one daemon step `db`, Running and daemoned: Argo's status while the scope is live. */
function liveStatus(wf: string): Json {
  const started = nodeTime();
  const daemon = `${wf}[0].db`;
  return {
    phase: 'Running',
    startedAt: started,
    nodes: {
      [wf]: { id: wf, name: wf, displayName: wf, type: 'Steps', templateName: 'main', phase: 'Running', startedAt: started, children: [nodeIdOf(wf, `${wf}[0]`)] },
      [nodeIdOf(wf, `${wf}[0]`)]: { id: nodeIdOf(wf, `${wf}[0]`), name: `${wf}[0]`, displayName: '[0]', type: 'StepGroup', phase: 'Running', boundaryID: wf, startedAt: started, children: [nodeIdOf(wf, daemon)] },
      [nodeIdOf(wf, daemon)]: {
        id: nodeIdOf(wf, daemon),
        name: daemon,
        displayName: 'db',
        type: 'Pod',
        templateName: String(redisTemplate.name),
        phase: 'Running',
        boundaryID: wf,
        daemoned: true,
        startedAt: started,
        // A daemon node's finishedAt is set once it is ready; it never means the daemon ended.
        finishedAt: started,
      },
    },
  };
}

/** The status Argo writes when the scope completes: nodes fulfilled, daemoned cleared. */
function endedStatus(wf: string, live: Json): Json {
  const ended = nodeTime();
  const nodes = structuredClone(live.nodes) as Record<string, Json>;
  for (const n of Object.values(nodes)) {
    n.phase = 'Succeeded';
    n.finishedAt = ended;
    delete n.daemoned;
  }
  return { ...live, phase: 'Succeeded', finishedAt: ended, nodes };
}

/** A Workflow whose scope is live, and its daemon pod, Running under kwok and labeled by the webhook. */
export async function stageDaemon(namespace: string, wf: string, o: { grace?: number; hold?: boolean; finalizer?: boolean } = {}): Promise<StagedDaemon> {
  const body = workflowObject({
    name: wf,
    namespace,
    templates: [{ name: 'main', steps: [[{ name: 'db', template: redisTemplate.name }]] }, redisTemplate],
  });
  body.status = liveStatus(wf);
  const created = (await custom().createNamespacedCustomObject({ ...workflowsApi, namespace, plural: argo.resources.workflows, body })) as Json;
  const uid = (created.metadata as { uid: string }).uid;
  const nodeName = `${wf}[0].db`;
  const pod = workflowPod({ workflow: wf, namespace, workflowUid: uid, nodeName, template: redisTemplate, layout: 'legacy', instanceId: testInstanceId });
  const spec = pod.spec as Json;
  spec.terminationGracePeriodSeconds = o.grace ?? 1;
  if (o.hold) pod.metadata.labels['argo-daemon-guard.io/test-hold'] = 'true';
  if (o.finalizer) (pod.metadata as Json).finalizers = ['argo-daemon-guard.io/test-finalizer'];
  const p = await createPod(namespace, pod);
  await waitUntil(`daemon pod ${p.metadata!.name} Running`, async () => (await core().readNamespacedPod({ namespace, name: p.metadata!.name! })).status?.phase === 'Running');
  return { workflow: { name: wf, uid }, pod: { name: p.metadata!.name!, uid: p.metadata!.uid! }, nodeName };
}

/** Argo's controller finishing the scope: the node map and phase it would write. */
export async function endScope(namespace: string, wf: string): Promise<void> {
  const current = (await custom().getNamespacedCustomObject({ ...workflowsApi, namespace, plural: argo.resources.workflows, name: wf })) as Json;
  await custom().patchNamespacedCustomObject(
    { ...workflowsApi, namespace, plural: argo.resources.workflows, name: wf, body: { status: endedStatus(wf, current.status as Json) } },
    mergePatch,
  );
}

export async function podExists(namespace: string, name: string, uid: string): Promise<boolean> {
  try {
    const p = await core().readNamespacedPod({ namespace, name });
    return p.metadata?.uid === uid;
  } catch {
    return false;
  }
}

export async function eventsFor(namespace: string, uid: string): Promise<{ reason: string; message: string; kind: string }[]> {
  const list = await core().listNamespacedEvent({ namespace, fieldSelector: `involvedObject.uid=${uid}` });
  return list.items.map((e) => ({ reason: e.reason ?? '', message: e.message ?? '', kind: e.involvedObject.kind ?? '' }));
}

/** A reaper config for a local cluster: short margin, frequent resync, limited to the test's namespace. */
export function localConfig(namespace: string, extra: Json = {}): Json {
  return { graceMargin: '1s', resync: '20s', namespaces: [namespace], ...extra };
}
