import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mutatingWebhookConfiguration, validatingWebhookConfiguration, webhookNames, type WebhookOptions } from './webhooks.ts';

const base: WebhookOptions = {
  name: 'argo-daemon-guard',
  clientConfig: { service: { namespace: 'argo-daemon-guard', name: 'argo-daemon-guard-webhook', port: 443 } },
  caBundle: 'LS0tLS1CRUdJTi...',
  excludedNamespaces: ['kube-system', 'argo-daemon-guard'],
};

type Hook = Record<string, unknown> & {
  name: string;
  rules: { apiGroups: string[]; apiVersions: string[]; resources: string[]; operations: string[]; scope: string }[];
  namespaceSelector: { matchExpressions: { key: string; operator: string; values?: string[] }[] };
  objectSelector: { matchExpressions?: { key: string; operator: string; values?: string[] }[] };
  matchConditions?: { name: string; expression: string }[];
  failurePolicy: string;
  timeoutSeconds: number;
  sideEffects: string;
  admissionReviewVersions: string[];
  clientConfig: Record<string, unknown>;
};

function hooks(o: WebhookOptions = base): Hook[] {
  return [...mutatingWebhookConfiguration(o).webhooks, ...validatingWebhookConfiguration(o).webhooks] as unknown as Hook[];
}
function hook(name: string, o: WebhookOptions = base): Hook {
  const h = hooks(o).find((x) => x.name === name);
  if (!h) throw new Error(`no webhook ${name}`);
  return h;
}

describe('the four webhooks', () => {
  it('are named after the guard and split over one mutating and one validating configuration', () => {
    expect(webhookNames).toEqual({
      mutatePods: 'mutate-pods.argo-daemon-guard.io',
      validatePods: 'validate-pods.argo-daemon-guard.io',
      validateWorkflows: 'validate-workflows.argo-daemon-guard.io',
      validateTemplates: 'validate-templates.argo-daemon-guard.io',
    });
    const m = mutatingWebhookConfiguration(base);
    const v = validatingWebhookConfiguration(base);
    expect(m).toMatchObject({ apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', metadata: { name: 'argo-daemon-guard' } });
    expect(v).toMatchObject({ apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingWebhookConfiguration', metadata: { name: 'argo-daemon-guard' } });
    expect(m.webhooks.map((h) => h.name)).toEqual([webhookNames.mutatePods]);
    expect(v.webhooks.map((h) => h.name)).toEqual([webhookNames.validatePods, webhookNames.validateWorkflows, webhookNames.validateTemplates]);
  });

  it('mutate pods: pods CREATE, Argo\'s workflow label must exist, a Workflow ownerReference is required, Ignore on failure', () => {
    const h = hook(webhookNames.mutatePods);
    expect(h.rules).toEqual([{ apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], operations: ['CREATE'], scope: 'Namespaced' }]);
    expect(h.objectSelector).toEqual({ matchExpressions: [{ key: 'workflows.argoproj.io/workflow', operator: 'Exists' }] });
    expect(h.matchConditions).toHaveLength(1);
    expect(h.matchConditions?.[0]?.expression).toContain("o.kind == 'Workflow'");
    expect(h.matchConditions?.[0]?.expression).toContain("o.apiVersion.startsWith('argoproj.io/')");
    expect(h.matchConditions?.[0]?.expression).toMatch(/^has\(object\.metadata\.ownerReferences\) && /);
    expect(h.failurePolicy).toBe('Ignore');
    expect(h.reinvocationPolicy).toBe('IfNeeded');
    expect(h.clientConfig).toEqual({ service: { namespace: 'argo-daemon-guard', name: 'argo-daemon-guard-webhook', port: 443, path: '/mutate' }, caBundle: base.caBundle });
  });

  it('validate pods: the same selection as the mutating webhook, Ignore on failure (the backstop never blocks Argo)', () => {
    const m = hook(webhookNames.mutatePods);
    const v = hook(webhookNames.validatePods);
    expect(v.rules).toEqual(m.rules);
    expect(v.objectSelector).toEqual(m.objectSelector);
    expect(v.matchConditions).toEqual(m.matchConditions);
    expect(v.namespaceSelector).toEqual(m.namespaceSelector);
    expect(v.failurePolicy).toBe('Ignore');
    expect((v.clientConfig.service as { path: string }).path).toBe('/validate');
  });

  it('validate workflows: workflows CREATE only, no object selector (Workflows carry no workflow label), Ignore by default', () => {
    const h = hook(webhookNames.validateWorkflows);
    expect(h.rules).toEqual([{ apiGroups: ['argoproj.io'], apiVersions: ['v1alpha1'], resources: ['workflows'], operations: ['CREATE'], scope: 'Namespaced' }]);
    expect(h.objectSelector).toEqual({});
    expect(h.matchConditions).toBeUndefined();
    expect(h.failurePolicy).toBe('Ignore');
  });

  it('validate templates: WorkflowTemplates, ClusterWorkflowTemplates and CronWorkflows on CREATE, and UPDATE only when spec changed', () => {
    const h = hook(webhookNames.validateTemplates);
    expect(h.rules).toEqual([
      { apiGroups: ['argoproj.io'], apiVersions: ['v1alpha1'], resources: ['workflowtemplates', 'clusterworkflowtemplates', 'cronworkflows'], operations: ['CREATE', 'UPDATE'], scope: '*' },
    ]);
    expect(h.objectSelector).toEqual({});
    expect(h.matchConditions).toEqual([{ name: 'create-or-spec-changed', expression: expect.stringContaining('object.spec != oldObject.spec') }]);
    expect(h.matchConditions?.[0]?.expression).toMatch(/^request\.operation == 'CREATE' \|\| /);
    expect(h.failurePolicy).toBe('Ignore');
  });

  it('failurePolicy Fail, the documented strict choice, can be set per group', () => {
    const o: WebhookOptions = { ...base, failurePolicy: { workflows: 'Fail', templates: 'Fail' } };
    expect(hook(webhookNames.validateWorkflows, o).failurePolicy).toBe('Fail');
    expect(hook(webhookNames.validateTemplates, o).failurePolicy).toBe('Fail');
    expect(hook(webhookNames.validatePods, o).failurePolicy).toBe('Ignore');
    expect(hook(webhookNames.mutatePods, o).failurePolicy).toBe('Ignore');
    const pods: WebhookOptions = { ...base, failurePolicy: { pods: 'Fail' } };
    expect(hook(webhookNames.mutatePods, pods).failurePolicy).toBe('Fail');
    expect(hook(webhookNames.validatePods, pods).failurePolicy).toBe('Fail');
  });
});

describe('all four webhooks', () => {
  it('sideEffects None, AdmissionReview v1, timeoutSeconds 5 by default', () => {
    for (const h of hooks()) {
      expect(h.sideEffects).toBe('None');
      expect(h.admissionReviewVersions).toEqual(['v1']);
      expect(h.timeoutSeconds).toBe(5);
    }
  });

  it('never a subresource (pods/exec is how Argo stops daemons) and never CONNECT or DELETE', () => {
    for (const h of hooks()) {
      for (const r of h.rules) {
        for (const resource of r.resources) expect(resource).not.toContain('/');
        expect(r.resources).not.toContain('*');
        expect(r.operations.every((op) => op === 'CREATE' || op === 'UPDATE')).toBe(true);
      }
    }
  });

  it('namespaceSelector excludes the given namespaces by their metadata.name label', () => {
    for (const h of hooks()) {
      expect(h.namespaceSelector).toEqual({ matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'argo-daemon-guard'] }] });
    }
  });

  it('kube-system is excluded even when not listed, so NotIn never has an empty value list', () => {
    for (const excludedNamespaces of [[], ['guard']]) {
      for (const h of hooks({ ...base, excludedNamespaces })) {
        const values = h.namespaceSelector.matchExpressions[0]?.values ?? [];
        expect(values).toContain('kube-system');
        for (const ns of excludedNamespaces) expect(values).toContain(ns);
        expect(new Set(values).size).toBe(values.length);
      }
    }
  });

  it('timeoutSeconds is a whole number from 1 to 5 whatever is asked for', () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer({ min: -100, max: 100 }), fc.double({ noNaN: false })), (t) => {
        for (const h of hooks({ ...base, timeoutSeconds: t })) {
          expect(Number.isInteger(h.timeoutSeconds)).toBe(true);
          expect(h.timeoutSeconds).toBeGreaterThanOrEqual(1);
          expect(h.timeoutSeconds).toBeLessThanOrEqual(5);
        }
      }),
    );
    expect(hook(webhookNames.validatePods, { ...base, timeoutSeconds: 3 }).timeoutSeconds).toBe(3);
    expect(hook(webhookNames.validatePods, { ...base, timeoutSeconds: 30 }).timeoutSeconds).toBe(5);
  });

  it('a URL client config (the test cluster) gets /mutate and /validate, without a double slash', () => {
    const o: WebhookOptions = { ...base, clientConfig: { url: 'https://127.0.0.1:9443/' } };
    expect(hook(webhookNames.mutatePods, o).clientConfig).toEqual({ url: 'https://127.0.0.1:9443/mutate', caBundle: base.caBundle });
    for (const name of [webhookNames.validatePods, webhookNames.validateWorkflows, webhookNames.validateTemplates]) {
      expect(hook(name, o).clientConfig).toEqual({ url: 'https://127.0.0.1:9443/validate', caBundle: base.caBundle });
    }
  });
});

describe('instanceId selection', () => {
  const o: WebhookOptions = { ...base, instanceId: 'ci-controller' };
  const instance = { key: 'workflows.argoproj.io/controller-instanceid', operator: 'In', values: ['ci-controller'] };

  it('pods: the workflow label must exist and the instance id must match', () => {
    for (const name of [webhookNames.mutatePods, webhookNames.validatePods]) {
      expect(hook(name, o).objectSelector).toEqual({ matchExpressions: [{ key: 'workflows.argoproj.io/workflow', operator: 'Exists' }, instance] });
    }
  });

  it('workflows: only the instance id', () => {
    expect(hook(webhookNames.validateWorkflows, o).objectSelector).toEqual({ matchExpressions: [instance] });
  });

  it('templates carry no instance id, so they are always checked', () => {
    expect(hook(webhookNames.validateTemplates, o).objectSelector).toEqual({});
  });

  it('without an instance id nothing selects on it', () => {
    for (const h of hooks()) expect(JSON.stringify(h.objectSelector)).not.toContain('controller-instanceid');
  });
});
