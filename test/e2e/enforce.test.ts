// Under an explicit enforce policy, a Workflow with a daemon that breaks a rule is refused when it is
// submitted (`kubectl create -f`), before Argo's controller — running, watching every namespace — can
// create any pod; a Workflow that keeps the rules runs. The policy enforces every rule in e2e-enforce-*
// namespaces only; the seeds' daemons set no resource requests, so both are refused there.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { stringify } from 'yaml';
import type { ClusterState } from '../cluster/cluster.ts';
import { argoControllerRunning, startArgoController, stopArgoController } from '../cluster/argo.ts';
import { cluster, custom, kc, restartWebhook, testNamespace, waitUntil, workflowsApi } from '../integration/helpers.ts';
import { Observer, properlyLabeled } from './observe.ts';
import { argoUser, auditEntries } from './stack.ts';
import { longScope, seedSubmissions, submit } from './workflows.ts';

let s: ClusterState;
let ns: string;
let obs: Observer;
let startedArgo = false;

beforeAll(async () => {
  s = cluster();
  startedArgo = !argoControllerRunning(s);
  if (startedArgo) await startArgoController(s);
  const policyFile = join(s.stateDir, 'policy-e2e-enforce.yaml');
  writeFileSync(policyFile, stringify({ namespaces: [{ names: ['e2e-enforce-*'], mode: 'enforce' }] }));
  await restartWebhook(policyFile);
  ns = await testNamespace('e2e-enforce');
  obs = await Observer.start(kc(), { namespaces: (n) => n === ns });
}, 120_000);

afterAll(async () => {
  obs?.stop();
  await restartWebhook();
  if (startedArgo) await stopArgoController(s);
});

describe('an explicit enforce policy', () => {
  test('refuses a Workflow whose daemon breaks a rule at submission, before Argo creates any pod', async () => {
    const refusedAt = Date.now();
    for (const seed of seedSubmissions()) {
      const err = await submit(s.kubeconfig, ns, seed.manifest).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(err, `${seed.key} refused`).toBeDefined();
      expect(err!.message).toMatch(/admission webhook "validate-workflows\.argo-daemon-guard\.io" denied the request/);
      expect(err!.message).toMatch(/resources/);
      expect(err!.message).toMatch(seed.key === 'seed-redis' ? /mock-database/ : /influxdb/);
    }
    const list = (await custom().listNamespacedCustomObject({ ...workflowsApi, namespace: ns, plural: 'workflows' })) as { items: unknown[] };
    expect(list.items).toEqual([]);

    // A Workflow that keeps every rule runs: Argo is up and creates pods here.
    const { name } = await submit(s.kubeconfig, ns, longScope(1).manifest);
    await waitUntil(`Workflow ${name} Succeeded`, async () => obs.workflowByName(ns, name)?.phase === 'Succeeded', 90_000, 250);
    const pods = [...obs.pods.values()];
    expect(pods.length).toBeGreaterThan(0);
    expect(pods.every((p) => p.workflowName === name)).toBe(true);
    expect(pods.filter((p) => p.facts.daemon).every(properlyLabeled)).toBe(true);
    // The API server was never asked for a pod of the refused Workflows.
    const creates = auditEntries(s, (n) => n === ns).filter((e) => e.verb === 'create' && e.subresource === undefined && e.at >= refusedAt);
    expect(creates.length).toBe(pods.length);
    expect(creates.every((e) => e.user === argoUser && e.name.startsWith(name))).toBe(true);
  }, 180_000);
});
