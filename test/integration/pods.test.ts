// Pods as Argo's controller creates them, admitted by the real API server through the registered
// webhooks (default policy), then run by kwok: daemon pods come back labeled and capped and stay
// Running; other Argo pods come back untouched and complete; non-Argo pods come back untouched.
import { beforeAll, describe, expect, test } from 'vitest';
import type { V1Pod } from '@kubernetes/client-node';
import { guard } from '../../core/keys.ts';
import { influxdbClientTemplate, offloadConfigMap, redisTemplate, workflowPod, type Layout } from '../fixtures/pods.ts';
import { sleep } from '../cluster/lock.ts';
import {
  cluster,
  core,
  createPod,
  createWorkflow,
  isRunningAndReady,
  isSucceeded,
  readPod,
  testInstanceId,
  testNamespace,
  waitForPod,
  type Json,
} from './helpers.ts';

/** The default policy's cap (maxLifetime 24h). */
const defaultCap = 86_400;

const stepsTemplate = {
  name: 'main',
  steps: [[{ name: 'start-database', template: redisTemplate.name }], [{ name: 'init-database', template: influxdbClientTemplate.name }]],
};

let ns: string;
beforeAll(async () => {
  ns = await testNamespace('pods');
});

/** A Workflow object and the pod Argo would create for one of its steps. */
async function argoPod(o: { workflow: string; template: Json; step: string; layout: Layout; offloaded?: boolean; activeDeadlineSeconds?: number }) {
  const wf = await createWorkflow(ns, o.workflow, [stepsTemplate, redisTemplate, influxdbClientTemplate]);
  const pod = workflowPod({
    workflow: wf.name,
    namespace: ns,
    workflowUid: wf.uid,
    nodeName: `${wf.name}[0].${o.step}`,
    template: o.template,
    layout: o.layout,
    instanceId: testInstanceId,
    ...(o.offloaded ? { offloaded: true } : {}),
    ...(o.activeDeadlineSeconds !== undefined ? { activeDeadlineSeconds: o.activeDeadlineSeconds } : {}),
  });
  return { wf, pod };
}

function expectLabeledDaemon(created: V1Pod, wfUid: string, template: string, deadline: number): void {
  expect(created.metadata?.labels?.[guard.daemonLabel]).toBe('true');
  expect(created.metadata?.labels?.[guard.workflowUidLabel]).toBe(wfUid);
  expect(created.metadata?.annotations?.[guard.templateAnnotation]).toBe(template);
  expect(created.metadata?.annotations?.[guard.lifetimeCapAnnotation]).toBe(String(defaultCap));
  expect(created.spec?.activeDeadlineSeconds).toBe(deadline);
}

function expectUntouched(sent: { metadata: Json }, created: V1Pod, sentDeadline?: number): void {
  const labels = (sent.metadata.labels ?? {}) as Record<string, string>;
  const annotations = (sent.metadata.annotations ?? {}) as Record<string, string>;
  expect(created.metadata?.labels ?? {}).toEqual(labels);
  expect(created.metadata?.annotations ?? {}).toEqual(annotations);
  expect(created.spec?.activeDeadlineSeconds).toBe(sentDeadline);
}

/** Daemon pods that became Running, checked again at the end: kwok must not complete them. */
const runningDaemons: { name: string; runningAt: number }[] = [];

describe('an Argo daemon pod owned by a real Workflow', () => {
  const cases: { layout: Layout; offloaded?: boolean; title: string }[] = [
    { layout: 'v3.5', title: 'v3.5: ARGO_TEMPLATE in every container' },
    { layout: 'legacy', title: 'legacy: ARGO_TEMPLATE in the init container' },
    { layout: 'init-less', title: 'v4.1 init-less: ARGO_TEMPLATE in the supervisor container' },
    { layout: 'legacy', offloaded: true, title: 'offloaded: read from the ConfigMap named like the pod, on this API server' },
  ];

  test.each(cases)('$title — comes back labeled and capped, and runs under kwok', async ({ layout, offloaded }) => {
    const { wf, pod } = await argoPod({ workflow: `daemon-${layout.replace('.', '')}${offloaded ? '-offloaded' : ''}`, template: redisTemplate, step: 'start-database', layout, offloaded });
    if (offloaded) {
      expect(pod.spec.initContainers.find((c) => c.name === 'init')?.env).toContainEqual({ name: 'ARGO_TEMPLATE', value: 'offloaded' });
      await core().createNamespacedConfigMap({ namespace: ns, body: offloadConfigMap(pod, redisTemplate) });
    }
    const created = await createPod(ns, pod);
    expectLabeledDaemon(created, wf.uid, String(redisTemplate.name), defaultCap);
    // Argo's own keys are never changed.
    for (const [k, v] of Object.entries(pod.metadata.labels)) expect(created.metadata?.labels?.[k]).toBe(v);
    for (const [k, v] of Object.entries(pod.metadata.annotations)) expect(created.metadata?.annotations?.[k]).toBe(v);

    const running = await waitForPod(ns, pod.metadata.name, 'scheduled, Running and Ready', isRunningAndReady);
    expect(running.spec?.nodeName).toBe(cluster().nodeName);
    expect(running.status?.containerStatuses?.every((c) => c.ready && c.state?.running)).toBe(true);
    runningDaemons.push({ name: pod.metadata.name, runningAt: Date.now() });
  });

  test('a longer activeDeadlineSeconds is lowered to the cap; a shorter one is kept', async () => {
    const long = await argoPod({ workflow: 'daemon-long-deadline', template: redisTemplate, step: 'start-database', layout: 'legacy', activeDeadlineSeconds: 7 * 86_400 });
    expectLabeledDaemon(await createPod(ns, long.pod), long.wf.uid, String(redisTemplate.name), defaultCap);
    const short = await argoPod({ workflow: 'daemon-short-deadline', template: redisTemplate, step: 'start-database', layout: 'legacy', activeDeadlineSeconds: 600 });
    expectLabeledDaemon(await createPod(ns, short.pod), short.wf.uid, String(redisTemplate.name), 600);
    for (const p of [long.pod, short.pod]) {
      await waitForPod(ns, p.metadata.name, 'Running', isRunningAndReady);
      runningDaemons.push({ name: p.metadata.name, runningAt: Date.now() });
    }
  });

  test('daemon pods stay Running (kwok completes only Argo pods without the daemon label)', async () => {
    expect(runningDaemons.length).toBeGreaterThanOrEqual(5);
    // kwok completes an unlabeled Argo pod 2 s after it runs; give it twice that.
    const latest = Math.max(...runningDaemons.map((d) => d.runningAt));
    await sleep(Math.max(0, latest + 4_000 - Date.now()));
    for (const d of runningDaemons) {
      const p = await readPod(ns, d.name);
      expect(p.status?.phase, d.name).toBe('Running');
      expect(p.metadata?.deletionTimestamp, d.name).toBeUndefined();
    }
  });
});

describe('pods the webhook leaves alone', () => {
  test('a non-daemon Argo pod comes back untouched and kwok completes it', async () => {
    const { pod } = await argoPod({ workflow: 'steps-client', template: influxdbClientTemplate, step: 'init-database', layout: 'legacy' });
    const created = await createPod(ns, pod);
    expectUntouched(pod, created);
    const done = await waitForPod(ns, pod.metadata.name, 'Succeeded', isSucceeded);
    expect(done.status?.containerStatuses?.every((c) => c.state?.terminated?.exitCode === 0)).toBe(true);
  });

  test('a non-Argo pod comes back untouched and keeps running', async () => {
    // ARGO_TEMPLATE of a daemon, but no Argo workflow label and no Workflow owner: not Argo's.
    const pod = {
      apiVersion: 'v1' as const,
      kind: 'Pod',
      metadata: { name: 'redis-plain', namespace: ns, labels: { app: 'redis' }, annotations: { note: 'not argo' } },
      spec: { containers: [{ name: 'redis', image: 'redis:7', env: [{ name: 'ARGO_TEMPLATE', value: '{"name":"x","daemon":true}' }] }] },
    };
    const created = await createPod(ns, pod);
    expectUntouched(pod, created);
    await waitForPod(ns, 'redis-plain', 'Running', isRunningAndReady);
    await sleep(3_000);
    expect((await readPod(ns, 'redis-plain')).status?.phase).toBe('Running');
  });

  test('an offloaded template whose ConfigMap does not exist: admitted, not labeled (never blocks Argo)', async () => {
    const { pod } = await argoPod({ workflow: 'daemon-offloaded-missing', template: redisTemplate, step: 'start-database', layout: 'legacy', offloaded: true });
    const created = await createPod(ns, pod);
    expect(created.metadata?.labels?.[guard.daemonLabel]).toBeUndefined();
    expect(created.spec?.activeDeadlineSeconds).toBeUndefined();
  });
});
