import { describe, expect, it } from 'vitest';
import { applyPatch, type Operation } from 'rfc6902';
import { admit, malformedReview, offloadedTemplateConfigMap, readReview, reviewOf, type AdmissionRequestView, type Endpoint } from './review.ts';
import { defaultPolicy, type Policy } from '../policy/schema.ts';
import { admissionReview } from '../../test/fixtures/admission.ts';
import { objects, seeds, templateOf, type Json } from '../../test/fixtures/load.ts';
import { enforcePolicy } from '../../test/fixtures/policies.ts';
import {
  agentPod,
  hugeTemplate,
  influxClientPod,
  influxDaemonPod,
  influxdbTemplate,
  influxWorkflow,
  layouts,
  offloadConfigMap,
  plainPod,
  redisDaemonPod,
  redisWorkflow,
  type Pod,
} from '../../test/fixtures/pods.ts';

function request(body: unknown): AdmissionRequestView {
  const r = readReview(body);
  if (!r.ok) throw new Error(`expected a readable AdmissionReview: ${r.reason}`);
  return r.request;
}

function review(endpoint: Endpoint, object: Json, policy: Policy = defaultPolicy, opts: Parameters<typeof admissionReview>[1] = {}, offloaded?: Parameters<typeof admit>[3]) {
  const body = admissionReview(object, opts);
  const req = request(body);
  return { uid: req.uid, ...admit(endpoint, req, policy, offloaded) };
}

function decodePatch(patch: string | undefined): Operation[] {
  expect(patch).toBeDefined();
  return JSON.parse(Buffer.from(patch!, 'base64').toString('utf8')) as Operation[];
}

describe('admit: the default policy admits both seed workflows, with warnings', () => {
  for (const [name, wf] of [['redis', seeds.redis], ['influxdb', seeds.influxdb]] as const) {
    it(`${name} seed Workflow CREATE → allowed, warnings name the template, rule and fix`, () => {
      const a = review('validate', wf(), defaultPolicy, { namespace: 'argo' });
      expect(a.response.uid).toBe(a.uid);
      expect(a.response.allowed).toBe(true);
      expect(a.response.status).toBeUndefined();
      expect(a.response.warnings?.length).toBeGreaterThan(0);
      for (const w of a.response.warnings ?? []) expect(w).toMatch(/^argo-daemon-guard: template \S+: resources: .*; fix: /);
      expect(a.record.decision).toBe('warn');
      expect(a.response.auditAnnotations).toMatchObject({ decision: 'warn', findings: expect.stringMatching(/\/resources=warn$/) });
    });
  }

  for (const layout of layouts) {
    it(`${layout}: the daemon pods Argo creates for the seeds are labeled by the mutating webhook and admitted with warnings by the validating one`, () => {
      for (const [pod, uid, tmpl] of [[redisDaemonPod(layout), redisWorkflow.uid, 'mock-database'], [influxDaemonPod(layout), influxWorkflow.uid, 'influxdb']] as const) {
        const m = review('mutate', pod);
        expect(m.response).toMatchObject({ allowed: true, patchType: 'JSONPatch' });
        expect(m.record.decision).toBe('labeled');
        const out = structuredClone(pod) as Pod;
        expect(applyPatch(out, decodePatch(m.response.patch)).every((e) => e === null)).toBe(true);
        expect(out.metadata.labels).toMatchObject({ 'argo-daemon-guard.io/daemon': 'true', 'argo-daemon-guard.io/workflow-uid': uid });
        expect(out.metadata.annotations).toMatchObject({ 'argo-daemon-guard.io/template': tmpl, 'argo-daemon-guard.io/lifetime-cap': '86400' });
        expect(out.spec.activeDeadlineSeconds).toBe(86400);

        const v = review('validate', out);
        expect(v.response.allowed).toBe(true);
        expect(v.response.warnings).toEqual([expect.stringContaining(`template ${tmpl}: resources:`)]);
        expect(v.record.decision).toBe('warn');
      }
    });
  }

  it('the influxdb client steps get no patch and no warning', () => {
    const m = review('mutate', influxClientPod());
    expect(m.response).toEqual({ uid: m.uid, allowed: true, auditAnnotations: { decision: 'skip', reason: 'template influxdb-client is not a daemon' } });
    const v = review('validate', influxClientPod());
    expect(v.response.allowed).toBe(true);
    expect(v.response.warnings).toBeUndefined();
    expect(v.record.decision).toBe('skip');
  });
});

describe('admit: refusals under an explicit enforce policy', () => {
  it('the redis seed Workflow is denied with 403 and a message naming the template, rule and fix', () => {
    const a = review('validate', seeds.redis(), enforcePolicy);
    expect(a.response.allowed).toBe(false);
    expect(a.response.status).toEqual({ code: 403, reason: 'Forbidden', message: expect.stringContaining('argo-daemon-guard denied Workflow argo/daemon-workflow: template mock-database: resources: ') });
    expect(a.response.status?.message).toContain('; fix: set resources.requests.cpu');
    expect(a.record).toMatchObject({ decision: 'deny', endpoint: 'validate', kind: 'Workflow', namespace: 'argo', name: 'daemon-workflow' });
    expect(a.response.auditAnnotations?.decision).toBe('deny');
  });

  it('the daemon pod is denied by the validating backstop', () => {
    const a = review('validate', redisDaemonPod('legacy'), enforcePolicy);
    expect(a.response.allowed).toBe(false);
    expect(a.response.status?.message).toContain(`pod argo/${redisDaemonPod().metadata.name}`);
    expect(a.record.decision).toBe('deny');
  });

  it('the mutating webhook never denies, whatever the policy', () => {
    expect(review('mutate', redisDaemonPod('legacy'), enforcePolicy).response.allowed).toBe(true);
  });

  it('a dry-run request is decided the same way and says it was a dry run', () => {
    const a = review('validate', seeds.redis(), enforcePolicy, { dryRun: true });
    expect(a.response.allowed).toBe(false);
    expect(a.record.dryRun).toBe(true);
  });
});

describe('admit: every object kind on the validating endpoint', () => {
  it('WorkflowTemplate, ClusterWorkflowTemplate and CronWorkflow CREATE are checked', () => {
    const wt = review('validate', objects.workflowTemplateDag());
    expect(wt.record).toMatchObject({ decision: 'warn', kind: 'WorkflowTemplate', namespace: 'ci' });
    const cwt = review('validate', objects.clusterWorkflowTemplate());
    expect(cwt.record).toMatchObject({ decision: 'warn', kind: 'ClusterWorkflowTemplate', namespace: '' });
    const cron = review('validate', objects.cronWorkflow());
    expect(cron.record).toMatchObject({ decision: 'warn', kind: 'CronWorkflow', namespace: 'perf' });
  });

  it('an UPDATE of a WorkflowTemplate is checked like a CREATE', () => {
    const wt = objects.workflowTemplateDag();
    (templateOf(wt, 'postgres').container as Json).securityContext = { privileged: true };
    const a = review('validate', wt, enforcePolicy, { operation: 'UPDATE', oldObject: objects.workflowTemplateDag() });
    expect(a.response.allowed).toBe(false);
    expect(a.response.status?.message).toContain('template postgres: privileged: container main is privileged');
  });

  it('a Workflow without daemons → allowed, decision skip', () => {
    const wf = { apiVersion: 'argoproj.io/v1alpha1', kind: 'Workflow', metadata: { name: 'hello', namespace: 'argo' }, spec: { entrypoint: 'main', templates: [{ name: 'main', container: { image: 'busybox' } }] } };
    const a = review('validate', wf, enforcePolicy);
    expect(a.response).toMatchObject({ allowed: true });
    expect(a.record.decision).toBe('skip');
  });

  it('a malformed Workflow (no spec) → allowed with a warning, decision unknown', () => {
    const a = review('validate', { apiVersion: 'argoproj.io/v1alpha1', kind: 'Workflow', metadata: { name: 'broken', namespace: 'argo' } }, enforcePolicy);
    expect(a.response.allowed).toBe(true);
    expect(a.response.warnings).toEqual(['argo-daemon-guard: Workflow argo/broken not checked: Workflow broken has no spec']);
    expect(a.record.decision).toBe('unknown');
  });

  it('a Workflow on the mutating endpoint is only validated: skip, no patch', () => {
    const a = review('mutate', seeds.redis());
    expect(a.response.patch).toBeUndefined();
    expect(a.record.decision).toBe('skip');
  });
});

describe('admit: what is never checked', () => {
  it('a subresource (pods/exec, how Argo stops daemons) is allowed untouched', () => {
    for (const endpoint of ['mutate', 'validate'] as const) {
      const a = review(endpoint, redisDaemonPod(), enforcePolicy, { subResource: 'exec' });
      expect(a.response).toEqual({ uid: a.uid, allowed: true, auditAnnotations: { decision: 'skip', reason: 'subresource exec is never checked' } });
    }
  });

  it('a kind the guard does not handle is allowed', () => {
    const a = review('validate', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: 'argo' } }, enforcePolicy);
    expect(a.response.allowed).toBe(true);
    expect(a.record).toMatchObject({ decision: 'skip', reason: 'core/ConfigMap is not handled' });
  });

  it('agent and non-Argo pods: no patch, nothing to validate', () => {
    for (const pod of [agentPod(), plainPod()]) {
      expect(review('mutate', pod).response.patch).toBeUndefined();
      expect(review('validate', pod, enforcePolicy).response).toMatchObject({ allowed: true });
    }
  });
});

describe('admit: offloaded templates', () => {
  const template = hugeTemplate(influxdbTemplate);
  const pod = influxDaemonPod('legacy', { template, offloaded: true });
  const json = (offloadConfigMap(pod, template) as { data: { ARGO_TEMPLATE: string } }).data.ARGO_TEMPLATE;

  it('offloadedTemplateConfigMap names the ConfigMap to read for an offloaded pod, and none otherwise', () => {
    expect(offloadedTemplateConfigMap(request(admissionReview(pod)))).toBe(pod.metadata.name);
    expect(offloadedTemplateConfigMap(request(admissionReview(influxDaemonPod('legacy'))))).toBeUndefined();
    expect(offloadedTemplateConfigMap(request(admissionReview(pod, { subResource: 'status' })))).toBeUndefined();
    expect(offloadedTemplateConfigMap(request(admissionReview(seeds.redis())))).toBeUndefined();
  });

  it('with the ConfigMap read, the pod is labeled', () => {
    const a = review('mutate', pod, defaultPolicy, {}, { ok: true, json });
    expect(a.record.decision).toBe('labeled');
  });

  it('without it, the pod is admitted unchanged and the decision is unknown', () => {
    const m = review('mutate', pod);
    expect(m.response.patch).toBeUndefined();
    expect(m.record.decision).toBe('unknown');
    const v = review('validate', pod, enforcePolicy, {}, { ok: false, reason: 'configmaps is forbidden' });
    expect(v.response.allowed).toBe(true);
    expect(v.response.warnings?.[0]).toContain('configmaps is forbidden');
    expect(v.record.decision).toBe('unknown');
  });
});

describe('readReview: whatever the body, a readable uid gets an answer', () => {
  const cases: [string, unknown, string | undefined, string][] = [
    ['not an object', 'hello', undefined, 'no request'],
    ['no request', { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }, undefined, 'no request'],
    ['request without uid', { kind: 'AdmissionReview', request: { kind: { kind: 'Pod' } } }, undefined, 'has no uid'],
    ['uid not a string', { kind: 'AdmissionReview', request: { uid: 5 } }, undefined, 'has no uid'],
    ['wrong kind', { kind: 'TokenReview', request: { uid: 'u1', kind: { kind: 'Pod' } } }, 'u1', 'kind is "TokenReview", not AdmissionReview'],
    ['no kind.kind', { kind: 'AdmissionReview', request: { uid: 'u2' } }, 'u2', 'request has no kind.kind'],
  ];
  for (const [what, body, uid, reason] of cases) {
    it(`${what} → not ok, uid ${uid ?? 'unknown'}, "${reason}"`, () => {
      const r = readReview(body);
      expect(r.ok).toBe(false);
      expect(!r.ok && r.uid).toBe(uid);
      expect(!r.ok && r.reason).toContain(reason);
    });
  }

  it('a well-formed Pod CREATE is read with its namespace, name and operation', () => {
    const req = request(admissionReview(redisDaemonPod(), { uid: 'a1b2' }));
    expect(req).toMatchObject({ uid: 'a1b2', kind: 'Pod', group: '', resource: 'pods', subResource: undefined, namespace: 'argo', name: redisDaemonPod().metadata.name, operation: 'CREATE', dryRun: false });
  });

  it('a generateName Workflow CREATE has no name', () => {
    expect(request(admissionReview(seeds.influxdb(), { namespace: 'argo' })).name).toBe('');
  });

  it('malformedReview: allowed, with the reason as a warning and an audit annotation', () => {
    expect(malformedReview('u9', 'request has no kind.kind')).toEqual({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid: 'u9', allowed: true, warnings: ['argo-daemon-guard: request not checked: request has no kind.kind'], auditAnnotations: { decision: 'unknown', reason: 'request has no kind.kind' } },
    });
  });

  it('reviewOf wraps a response as an AdmissionReview v1', () => {
    expect(reviewOf({ uid: 'u', allowed: true })).toEqual({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'u', allowed: true } });
  });

  it('admit never throws on a garbage object inside a readable request', () => {
    for (const object of [null, 'pod', 42, [], { metadata: [] }]) {
      for (const endpoint of ['mutate', 'validate'] as const) {
        const req = request({ kind: 'AdmissionReview', request: { uid: 'u', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', object } });
        expect(admit(endpoint, req, enforcePolicy).response).toMatchObject({ uid: 'u', allowed: true });
      }
      const req = request({ kind: 'AdmissionReview', request: { uid: 'u', kind: { group: 'argoproj.io', version: 'v1alpha1', kind: 'Workflow' }, operation: 'CREATE', object } });
      expect(admit('validate', req, enforcePolicy).response).toMatchObject({ uid: 'u', allowed: true });
    }
  });

  it('audit annotation reasons are cut to 256 characters', () => {
    const wf = seeds.redis();
    (templateOf(wf, 'mock-database').container as Json).securityContext = { privileged: true };
    const a = review('validate', wf, enforcePolicy);
    const message = a.response.status?.message ?? '';
    expect(message.length).toBeGreaterThan(256);
    expect(a.response.auditAnnotations?.reason).toBe(message.slice(0, 256));
  });
});
