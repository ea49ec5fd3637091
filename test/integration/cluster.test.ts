// The harness itself: the versions it built, the fake Node, the registered webhooks, and the kwok
// stages other tests (and later the reaper's) rely on — the test-only hold label, finalizers, deletion.
import { beforeAll, describe, expect, test } from 'vitest';
import { argo, guard, testing } from '../../core/keys.ts';
import { parseAllDocuments } from 'yaml';
import { stagesFile } from '../cluster/cluster.ts';
import { webhookNames } from '../../core/webhooks.ts';
import { influxdbClientTemplate, workflowPod } from '../fixtures/pods.ts';
import { sleep } from '../cluster/lock.ts';
import { webhookConfigurationName } from '../cluster/webhooks.ts';
import {
  apiError,
  cluster,
  core,
  createPod,
  createWorkflow,
  isRunningAndReady,
  kc,
  mergePatch,
  readPod,
  testNamespace,
  waitForPod,
  waitUntil,
} from './helpers.ts';
import { AdmissionregistrationV1Api, VersionApi } from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';

let ns: string;
beforeAll(async () => {
  ns = await testNamespace('harness');
});

/** "10k" → 10000 (the API server writes counts in canonical quantity form). */
function decimalQuantity(q: string | undefined): number {
  const m = /^(\d+)([kMG]?)$/.exec(q ?? '');
  return m ? Number(m[1]) * ({ '': 1, k: 1e3, M: 1e6, G: 1e9 } as Record<string, number>)[m[2]!]! : NaN;
}

const gone = async (name: string) => readPod(ns, name).then(() => false, (e: unknown) => apiError(e).code === 404);

describe('the cluster', () => {
  test('runs the Kubernetes version the harness built', async () => {
    const v = await kc().makeApiClient(VersionApi).getCode();
    expect(v.gitVersion).toBe(cluster().versions.kubernetes);
  });

  test('has one Ready fake Node with room for thousands of pods and no taint', async () => {
    const node = await core().readNode({ name: cluster().nodeName });
    expect(node.metadata?.annotations?.['kwok.x-k8s.io/node']).toBe('fake');
    expect(decimalQuantity(node.status?.allocatable?.pods)).toBeGreaterThanOrEqual(5000);
    expect(node.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(node.spec?.taints ?? []).toEqual([]);
  });

  test('has the four webhooks registered at the local webhook, with its CA', async () => {
    const adm = kc().makeApiClient(AdmissionregistrationV1Api);
    const caBundle = Buffer.from(readFileSync(cluster().webhook.caFile)).toString('base64');
    const m = await adm.readMutatingWebhookConfiguration({ name: webhookConfigurationName });
    const v = await adm.readValidatingWebhookConfiguration({ name: webhookConfigurationName });
    const all = [...(m.webhooks ?? []), ...(v.webhooks ?? [])];
    expect(all.map((w) => w.name).sort()).toEqual(Object.values(webhookNames).sort());
    for (const w of all) {
      expect(w.clientConfig.url?.startsWith(cluster().webhook.url + '/')).toBe(true);
      expect(w.clientConfig.caBundle).toBe(caBundle);
      expect(w.failurePolicy).toBe('Ignore');
      expect(w.namespaceSelector?.matchExpressions?.[0]?.values).toEqual(expect.arrayContaining(['kube-system', 'argo-daemon-guard']));
    }
  });
});

describe('kwok stages', () => {
  test('the stage file uses the keys core/keys.ts defines', () => {
    const text = readFileSync(stagesFile, 'utf8');
    const docs = parseAllDocuments(text).map((d) => d.toJS() as { kind: string; metadata: { name: string } });
    expect(docs.every((d) => d.kind === 'Stage')).toBe(true);
    expect(docs.map((d) => d.metadata.name)).toEqual(['node-initialize', 'node-heartbeat', 'pod-ready', 'pod-argo-complete', 'pod-delete']);
    for (const key of [argo.workflowLabel, guard.daemonLabel, testing.holdLabel]) expect(text).toContain(`.metadata.labels["${key}"]`);
  });

  const heldArgoPod = async (workflow: string, extraLabels: Record<string, string>) => {
    const wf = await createWorkflow(ns, workflow, [influxdbClientTemplate]);
    return workflowPod({ workflow, namespace: ns, workflowUid: wf.uid, nodeName: `${workflow}[0].init-database`, template: influxdbClientTemplate, layout: 'legacy', extraLabels });
  };

  test('a pod with the test-hold label is Running and Ready, never completed, and never deleted by kwok', async () => {
    // An Argo pod without the daemon label, which kwok would otherwise complete after 2 s.
    const pod = await heldArgoPod('held', { [testing.holdLabel]: 'true' });
    await createPod(ns, pod);
    await waitForPod(ns, pod.metadata.name, 'Running', isRunningAndReady);
    await sleep(4_000);
    expect((await readPod(ns, pod.metadata.name)).status?.phase).toBe('Running');

    await core().deleteNamespacedPod({ namespace: ns, name: pod.metadata.name });
    await sleep(3_000);
    const terminating = await readPod(ns, pod.metadata.name);
    expect(terminating.metadata?.deletionTimestamp).toBeDefined();
    expect(terminating.status?.phase).toBe('Running');
    // Only a forced delete removes it.
    await core().deleteNamespacedPod({ namespace: ns, name: pod.metadata.name, gracePeriodSeconds: 0 });
    await waitUntil('held pod gone after a forced delete', () => gone(pod.metadata.name), 10_000);
  });

  test('a deleted pod is removed at once; one with a finalizer stays until the finalizer is removed', async () => {
    const spec = { containers: [{ name: 'c', image: 'busybox', command: ['sleep', 'inf'] }] };
    await createPod(ns, { metadata: { name: 'plain' }, spec });
    await createPod(ns, { metadata: { name: 'finalized', finalizers: ['argo-daemon-guard.io/test-finalizer'] }, spec });
    await waitForPod(ns, 'plain', 'Running', isRunningAndReady);
    await waitForPod(ns, 'finalized', 'Running', isRunningAndReady);

    await core().deleteNamespacedPod({ namespace: ns, name: 'plain' });
    await waitUntil('plain pod removed by kwok', () => gone('plain'), 10_000);

    await core().deleteNamespacedPod({ namespace: ns, name: 'finalized' });
    await sleep(3_000);
    expect((await readPod(ns, 'finalized')).metadata?.deletionTimestamp).toBeDefined();
    await core().patchNamespacedPod({ namespace: ns, name: 'finalized', body: { metadata: { finalizers: null } } }, mergePatch);
    await waitUntil('finalized pod removed once its finalizer is gone', () => gone('finalized'), 10_000);
  });
});
