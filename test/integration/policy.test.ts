// The validating webhooks at submission, through the real API server: refusals under an explicit
// enforce policy (for all four kinds), warnings under the default policy, dry-run without side effects,
// and template UPDATEs that leave `spec` alone never reaching the webhook.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { stringify } from 'yaml';
import { argo } from '../../core/keys.ts';
import { webhookNames } from '../../core/webhooks.ts';
import { redisTemplate } from '../fixtures/pods.ts';
import {
  apiError,
  apiserverMetrics,
  cluster,
  counter,
  createPod,
  custom,
  mergePatch,
  readPod,
  restartWebhook,
  testInstanceId,
  testNamespace,
  waitUntil,
  warningsOf,
  webhookMetrics,
  workflowsApi,
  type Json,
} from './helpers.ts';
import { workflowPod } from '../fixtures/pods.ts';
import { guard } from '../../core/keys.ts';

/** A daemon without a readinessProbe: the rule this file enforces (and the default policy warns about). */
const daemon = {
  name: 'db',
  daemon: true,
  container: { image: 'redis:7', command: ['redis-server'], resources: { requests: { cpu: '100m', memory: '64Mi' } } },
};
const tester = { name: 'test', container: { image: 'redis:7', command: ['redis-cli', 'ping'] } };
const main = { name: 'main', steps: [[{ name: 'start-db', template: 'db' }], [{ name: 'test', template: 'test' }]] };
const workflowSpec = { entrypoint: 'main', templates: [main, daemon, tester] };

type Kind = (typeof argo.kinds)[keyof typeof argo.kinds];
const plural: Record<Kind, string> = {
  Workflow: argo.resources.workflows,
  WorkflowTemplate: argo.resources.workflowTemplates,
  ClusterWorkflowTemplate: argo.resources.clusterWorkflowTemplates,
  CronWorkflow: argo.resources.cronWorkflows,
};
const kinds = Object.keys(plural) as Kind[];
const clusterScoped = (k: Kind) => k === 'ClusterWorkflowTemplate';

function objectOf(kind: Kind, name: string, namespace: string): Json {
  const metadata: Json = { name, labels: { [argo.controllerInstanceIdLabel]: testInstanceId } };
  if (!clusterScoped(kind)) metadata.namespace = namespace;
  const spec = kind === 'CronWorkflow' ? { schedules: ['0 3 * * *'], workflowSpec } : structuredClone(workflowSpec);
  return { apiVersion: argo.apiVersion, kind, metadata, spec };
}

async function create(kind: Kind, name: string, namespace: string, o: { dryRun?: boolean } = {}) {
  const body = objectOf(kind, name, namespace);
  const common = { ...workflowsApi, plural: plural[kind], body, ...(o.dryRun ? { dryRun: 'All' } : {}) };
  return clusterScoped(kind) ? custom().createClusterCustomObjectWithHttpInfo(common) : custom().createNamespacedCustomObjectWithHttpInfo({ ...common, namespace });
}

async function exists(kind: Kind, name: string, namespace: string): Promise<boolean> {
  try {
    const common = { ...workflowsApi, plural: plural[kind], name };
    await (clusterScoped(kind) ? custom().getClusterCustomObject(common) : custom().getNamespacedCustomObject({ ...common, namespace }));
    return true;
  } catch (err) {
    if (apiError(err).code === 404) return false;
    throw err;
  }
}

const clusterObjects: string[] = [];
function uniqueName(base: string): string {
  const name = `${base}-${Math.random().toString(36).slice(2, 7)}`;
  clusterObjects.push(name);
  return name;
}

let ns: string;
beforeAll(async () => {
  ns = await testNamespace('policy');
});
afterAll(async () => {
  for (const name of clusterObjects) {
    await custom().deleteClusterCustomObject({ ...workflowsApi, plural: plural.ClusterWorkflowTemplate, name }).catch(() => {});
  }
});

const webhookFor = (kind: Kind) => (kind === 'Workflow' ? webhookNames.validateWorkflows : webhookNames.validateTemplates);

describe('under an explicit enforce policy (readinessProbe: enforce)', () => {
  beforeAll(async () => {
    const file = join(cluster().stateDir, 'policy-enforce-readiness.yaml');
    writeFileSync(file, stringify({ rules: { readinessProbe: { mode: 'enforce' } } }));
    await restartWebhook(file);
  });
  afterAll(async () => {
    await restartWebhook();
  });

  test.each(kinds)('a %s whose daemon template has no readinessProbe is refused with the webhook\'s message', async (kind) => {
    const name = uniqueName(`refused-${kind.toLowerCase()}`);
    const err = await create(kind, name, ns).then(
      () => undefined,
      (e: unknown) => apiError(e),
    );
    expect(err, `${kind} was admitted`).toBeDefined();
    expect(err!.code).toBe(403);
    expect(err!.message).toContain(`admission webhook "${webhookFor(kind)}" denied the request`);
    expect(err!.message).toContain('argo-daemon-guard denied');
    expect(err!.message).toContain('template db');
    expect(err!.message).toContain('readinessProbe');
    expect(await exists(kind, name, ns)).toBe(false);
  });

  test('the same daemon with a readinessProbe is admitted', async () => {
    const name = uniqueName('fixed');
    const body = objectOf('WorkflowTemplate', name, ns) as { spec: { templates: Json[] } };
    body.spec.templates = [main, { ...daemon, container: { ...daemon.container, readinessProbe: { tcpSocket: { port: 6379 } } } }, tester];
    await custom().createNamespacedCustomObject({ ...workflowsApi, namespace: ns, plural: plural.WorkflowTemplate, body });
    expect(await exists('WorkflowTemplate', name, ns)).toBe(true);
  });
});

describe('the policy file', () => {
  test('rewritten while the webhook runs, takes effect without a restart (and a bad version keeps the last good one)', async () => {
    const file = join(cluster().stateDir, 'policy-reload.yaml');
    writeFileSync(file, '{}\n');
    await restartWebhook(file);
    try {
      expect(await create('WorkflowTemplate', uniqueName('reload-before'), ns).then((r) => r.httpStatusCode)).toBe(201);
      writeFileSync(file, stringify({ rules: { readinessProbe: { mode: 'enforce' } } }));
      const refusal = await waitUntil('the rewritten policy to refuse', async () => {
        const err = await create('WorkflowTemplate', uniqueName('reload-after'), ns).then(() => undefined, (e: unknown) => apiError(e));
        return err?.code === 403 ? err : undefined;
      }, 30_000, 500);
      expect(refusal.message).toContain('readinessProbe');
      // Not valid against the schema: refused, the enforce policy stays in force.
      writeFileSync(file, stringify({ rules: { readinessProbe: { mode: 'sometimes' } } }));
      await waitUntil('the webhook to report the refused policy', async () => counter(await webhookMetrics(), `${guard.metricPrefix}policy_reload_total`, { outcome: 'failure' }) > 0, 30_000, 500);
      expect(await create('WorkflowTemplate', uniqueName('reload-bad'), ns).then(() => 0, (e: unknown) => apiError(e).code)).toBe(403);
    } finally {
      await restartWebhook();
    }
  });
});

describe('under the default policy (every rule warns)', () => {
  test.each(kinds)('a %s with the same daemon is admitted and the client receives the warnings', async (kind) => {
    const name = uniqueName(`warned-${kind.toLowerCase()}`);
    const res = await create(kind, name, ns);
    expect(res.httpStatusCode).toBe(201);
    const warnings = warningsOf(res.headers);
    expect(warnings.some((w) => w.includes('template db') && w.includes('readinessProbe')), JSON.stringify(warnings)).toBe(true);
    expect(await exists(kind, name, ns)).toBe(true);
  });

  test('a server-side dry-run create reaches the webhook and has no side effect', async () => {
    const name = uniqueName('dry-run');
    const validate = { name: webhookNames.validateWorkflows, operation: 'CREATE' };
    const before = { api: counter(await apiserverMetrics(), 'apiserver_admission_webhook_request_total', validate), hook: counter(await webhookMetrics(), `${guard.metricPrefix}admissions_total`) };
    const res = await create('Workflow', name, ns, { dryRun: true });
    expect(res.httpStatusCode).toBe(201);
    // The webhook ran (its warnings came back, the API server counted the call) ...
    expect(warningsOf(res.headers).some((w) => w.includes('readinessProbe'))).toBe(true);
    expect(counter(await apiserverMetrics(), 'apiserver_admission_webhook_request_total', validate)).toBe(before.api + 1);
    // ... but nothing was stored, and the webhook recorded no admission (dry-run is not audited).
    expect(await exists('Workflow', name, ns)).toBe(false);
    expect(counter(await webhookMetrics(), `${guard.metricPrefix}admissions_total`)).toBe(before.hook);
  });

  test('a dry-run daemon pod comes back labeled but is not created', async () => {
    const pod = workflowPod({ workflow: 'dry-run-wf', namespace: ns, workflowUid: '00000000-0000-4000-8000-000000000001', nodeName: 'dry-run-wf[0].start-database', template: redisTemplate, layout: 'legacy' });
    const before = counter(await webhookMetrics(), `${guard.metricPrefix}admissions_total`);
    const created = await createPod(ns, pod, true);
    expect(created.metadata?.labels?.[guard.daemonLabel]).toBe('true');
    await expect(readPod(ns, pod.metadata.name)).rejects.toSatisfy((e: unknown) => apiError(e).code === 404);
    expect(counter(await webhookMetrics(), `${guard.metricPrefix}admissions_total`)).toBe(before);
  });

  test('a WorkflowTemplate UPDATE that leaves spec alone never reaches the webhook; one that changes spec does', async () => {
    const name = uniqueName('update');
    await create('WorkflowTemplate', name, ns);
    const apiCalls = async () => counter(await apiserverMetrics(), 'apiserver_admission_webhook_request_total', { name: webhookNames.validateTemplates, operation: 'UPDATE' });
    const excluded = async () => counter(await apiserverMetrics(), 'apiserver_admission_match_condition_exclusions_total', { name: webhookNames.validateTemplates });
    const hookCalls = async () => counter(await webhookMetrics(), `${guard.metricPrefix}admissions_total`, { endpoint: 'validate', kind: 'WorkflowTemplate' });
    const before = { api: await apiCalls(), excluded: await excluded(), hook: await hookCalls() };

    const patch = (body: Json) => custom().patchNamespacedCustomObject({ ...workflowsApi, namespace: ns, plural: plural.WorkflowTemplate, name, body }, mergePatch);
    await patch({ metadata: { labels: { team: 'platform' } } });
    await patch({ metadata: { annotations: { note: 'metadata only' } } });
    // The API server evaluated the match condition and left the webhook out ...
    expect(await excluded()).toBe(before.excluded + 2);
    expect(await apiCalls()).toBe(before.api);
    // ... and the webhook saw nothing.
    expect(await hookCalls()).toBe(before.hook);

    await patch({ spec: { arguments: { parameters: [{ name: 'p', value: '1' }] } } });
    expect(await apiCalls()).toBe(before.api + 1);
    expect(await hookCalls()).toBe(before.hook + 1);
  });
});
