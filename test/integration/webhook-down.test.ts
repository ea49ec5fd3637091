// failurePolicy Ignore, for real: with the webhook process stopped, Argo's pod creation still succeeds
// and the daemon pod is simply unlabeled (kwok then completes it, as it does every unlabeled Argo pod;
// the reaper's back-fill is what finds such pods in a real cluster). With the webhook back, the next
// daemon pod is labeled again.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { guard } from '../../core/keys.ts';
import { webhookNames } from '../../core/webhooks.ts';
import { redisTemplate, workflowPod } from '../fixtures/pods.ts';
import { startWebhook, stopWebhook, webhookReady } from '../cluster/cluster.ts';
import { portOpen } from '../cluster/ports.ts';
import {
  apiserverMetrics,
  cluster,
  counter,
  createPod,
  createWorkflow,
  isSucceeded,
  isRunningAndReady,
  testInstanceId,
  testNamespace,
  waitForPod,
} from './helpers.ts';

let ns: string;
beforeAll(async () => {
  ns = await testNamespace('webhook-down');
});
afterAll(async () => {
  // Whatever happened above, the webhook runs again for the next file.
  if (!(await webhookReady(cluster()))) await startWebhook(cluster());
});

async function daemonPod(workflow: string) {
  const wf = await createWorkflow(ns, workflow, [{ name: 'main', steps: [[{ name: 'start-database', template: redisTemplate.name }]] }, redisTemplate]);
  return { wf, pod: workflowPod({ workflow, namespace: ns, workflowUid: wf.uid, nodeName: `${workflow}[0].start-database`, template: redisTemplate, layout: 'legacy', instanceId: testInstanceId }) };
}

test('with the webhook stopped, a daemon pod is created unlabeled; with it back, the next one is labeled', async () => {
  const s = cluster();
  await stopWebhook(s);
  expect(await portOpen(s.webhook.port)).toBe(false);
  const failOpen = { name: webhookNames.mutatePods, type: 'admit' };
  const before = counter(await apiserverMetrics(), 'apiserver_admission_webhook_fail_open_count', failOpen);

  const missed = await daemonPod('while-webhook-down');
  const created = await createPod(ns, missed.pod);
  expect(created.metadata?.labels?.[guard.daemonLabel]).toBeUndefined();
  expect(created.metadata?.labels?.[guard.workflowUidLabel]).toBeUndefined();
  expect(created.metadata?.annotations?.[guard.lifetimeCapAnnotation]).toBeUndefined();
  expect(created.spec?.activeDeadlineSeconds).toBeUndefined();
  // The API server tried the webhook and failed open (failurePolicy Ignore).
  expect(counter(await apiserverMetrics(), 'apiserver_admission_webhook_fail_open_count', failOpen)).toBeGreaterThan(before);
  // Unlabeled, it looks like any finished step to kwok: completed.
  await waitForPod(ns, missed.pod.metadata.name, 'Succeeded (completed by kwok: no daemon label)', isSucceeded);

  await startWebhook(s);
  const next = await daemonPod('after-webhook-back');
  const labeled = await createPod(ns, next.pod);
  expect(labeled.metadata?.labels?.[guard.daemonLabel]).toBe('true');
  expect(labeled.metadata?.labels?.[guard.workflowUidLabel]).toBe(next.wf.uid);
  expect(labeled.spec?.activeDeadlineSeconds).toBe(86_400);
  await waitForPod(ns, next.pod.metadata.name, 'Running', isRunningAndReady);
});
