// Two webhook replicas behind the harness's loopback TCP balancer (contracts §6), on the port the
// webhook configurations point at: pods are labeled through either, and stopping the replica that
// served them does not stop labeling — new connections go to the other one.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { guard } from '../../core/keys.ts';
import { redisTemplate, workflowPod } from '../fixtures/pods.ts';
import { singleWebhook, startWebhookReplicas, type Replicas } from '../cluster/cluster.ts';
import { stop } from '../cluster/processes.ts';
import { cluster, counter, createPod, createWorkflow, testInstanceId, testNamespace, webhookMetrics } from './helpers.ts';

let ns: string;
let replicas: Replicas;
beforeAll(async () => {
  ns = await testNamespace('replicas');
  replicas = await startWebhookReplicas(cluster(), 2);
});
afterAll(async () => {
  await singleWebhook(cluster());
});

const labeledBy = async (port: number) => counter(await webhookMetrics(port), `${guard.metricPrefix}admissions_total`, { endpoint: 'mutate', kind: 'Pod', decision: 'labeled' });

async function labeledDaemon(i: number): Promise<void> {
  const workflow = `replicated-${i}`;
  const wf = await createWorkflow(ns, workflow, [{ name: 'main', steps: [[{ name: 'start-database', template: redisTemplate.name }]] }, redisTemplate]);
  const pod = workflowPod({ workflow, namespace: ns, workflowUid: wf.uid, nodeName: `${workflow}[0].start-database`, template: redisTemplate, layout: 'legacy', instanceId: testInstanceId });
  const created = await createPod(ns, pod);
  expect(created.metadata?.labels?.[guard.daemonLabel], pod.metadata.name).toBe('true');
}

test('daemon pods are labeled through the balancer, and still after the replica that served them stops', async () => {
  const [p1, p2] = replicas.ports as [number, number];
  for (let i = 0; i < 4; i++) await labeledDaemon(i);
  const served = [await labeledBy(p1), await labeledBy(p2)];
  expect(served[0]! + served[1]!).toBe(4);

  // Stop the busier replica (the API server keeps connections alive, so one may have served all).
  const busy = served[0]! >= served[1]! ? 0 : 1;
  await stop(cluster().stateDir, replicas.names[busy]!);
  const other = replicas.ports[1 - busy]!;
  const before = await labeledBy(other);
  for (let i = 4; i < 8; i++) await labeledDaemon(i);
  expect(await labeledBy(other)).toBe(before + 4);
});
