import { describe, expect, it } from 'vitest';
import { podSubject, validatePod, validateWorkflowObject, type Validation } from './validate.ts';
import { podDaemon, type PodDaemon } from './daemon.ts';
import { mutatePod } from './mutate.ts';
import { defaultPolicy, type Policy } from '../policy/schema.ts';
import { applyPatch } from 'rfc6902';
import { objects, seeds, templateOf, type Json } from '../../test/fixtures/load.ts';
import { enforcePolicy, only, policyWith } from '../../test/fixtures/policies.ts';
import { influxClientPod, influxDaemonPod, layouts, plainPod, redisDaemonPod, redisTemplate, setEnv, type Pod } from '../../test/fixtures/pods.ts';

const rulesOf = (v: Validation) => v.findings.map((f) => `${f.template}/${f.rule}=${f.mode}`);

function daemonOf(pod: unknown): Extract<PodDaemon, { kind: 'daemon' }> {
  const d = podDaemon(pod);
  if (d.kind !== 'daemon') throw new Error(`expected a daemon: ${d.reason}`);
  return d;
}

describe('validateWorkflowObject: the seed workflows under the default policy', () => {
  it('redis seed: admitted with a warning that mock-database requests no cpu or memory', () => {
    const v = validateWorkflowObject(seeds.redis(), 'argo', defaultPolicy);
    expect(v.allowed).toBe(true);
    expect(v.subject).toBe('Workflow argo/daemon-workflow');
    expect(v.daemonTemplates).toEqual(['mock-database']);
    expect(rulesOf(v)).toEqual(['mock-database/resources=warn']);
    expect(v.warnings).toEqual([
      'argo-daemon-guard: template mock-database: resources: container main sets no requests.cpu, requests.memory; fix: set resources.requests.cpu, resources.requests.memory on container main',
    ]);
  });

  it('influxdb seed: admitted with a warning on influxdb only (the client requests cpu and memory but is no daemon)', () => {
    const v = validateWorkflowObject(seeds.influxdb(), 'argo', defaultPolicy);
    expect(v.allowed).toBe(true);
    expect(v.subject).toBe('Workflow argo/daemon-step-');
    expect(v.daemonTemplates).toEqual(['influxdb']);
    expect(rulesOf(v)).toEqual(['influxdb/resources=warn']);
  });

  it('with policy defaults for cpu and memory, the seeds pass with no finding at all', () => {
    const p = policyWith((p) => (p.defaults.requests = { cpu: '100m', memory: '128Mi' }));
    for (const wf of [seeds.redis(), seeds.influxdb()]) expect(validateWorkflowObject(wf, 'argo', p)).toMatchObject({ allowed: true, warnings: [], findings: [] });
  });
});

describe('validateWorkflowObject: an explicit enforce policy refuses, naming template, rule and fix', () => {
  it('redis seed: denied for missing requests and limits', () => {
    const v = validateWorkflowObject(seeds.redis(), 'argo', enforcePolicy);
    expect(v.allowed).toBe(false);
    expect(v.message).toBe(
      'argo-daemon-guard denied Workflow argo/daemon-workflow: template mock-database: resources: container main sets no requests.cpu, requests.memory, limits.memory; fix: set resources.requests.cpu, resources.requests.memory, resources.limits.memory on container main',
    );
  });

  it('influxdb seed with requests and a limit added: admitted', () => {
    const wf = seeds.influxdb();
    (templateOf(wf, 'influxdb').container as Json).resources = { requests: { cpu: '200m', memory: '256Mi' }, limits: { memory: '1Gi' } };
    expect(validateWorkflowObject(wf, 'argo', enforcePolicy)).toMatchObject({ allowed: true, message: '', warnings: [] });
  });

  const variants: [string, (wf: Json) => void, string][] = [
    ['no readinessProbe', (wf) => delete (templateOf(wf, 'influxdb').container as Json).readinessProbe, 'influxdb/readinessProbe'],
    ['an image outside the allow-list', (wf) => ((templateOf(wf, 'influxdb').container as Json).image = 'evil.example/influxdb:1.2'), 'influxdb/registries'],
    ['a privileged daemon', (wf) => ((templateOf(wf, 'influxdb').container as Json).securityContext = { privileged: true }), 'influxdb/privileged'],
    ['hostNetwork on the workflow', (wf) => ((wf.spec as Json).hostNetwork = true), 'influxdb/hostNetwork'],
    ['a hostPath volume on the template', (wf) => (templateOf(wf, 'influxdb').volumes = [{ name: 'data', hostPath: { path: '/var/lib/influxdb' } }]), 'influxdb/hostPath'],
    ['a hostPath volume on the workflow', (wf) => ((wf.spec as Json).volumes = [{ name: 'data', hostPath: { path: '/var/lib/influxdb' } }]), 'influxdb/hostPath'],
    ['a deadline above the 2h cap', (wf) => (templateOf(wf, 'influxdb').activeDeadlineSeconds = 86400), 'influxdb/maxLifetime'],
    ['three daemons started withItems (max 2)', (wf) => (((templateOf(wf, 'daemon-example').steps as Json[][])[0]![0] as Json).withItems = [1, 2, 3]), 'daemon-step-/daemonsPerWorkflow'],
  ];
  for (const [what, edit, finding] of variants) {
    it(`${what} → denied by ${finding}`, () => {
      const wf = seeds.influxdb();
      (templateOf(wf, 'influxdb').container as Json).resources = { requests: { cpu: '200m', memory: '256Mi' }, limits: { memory: '1Gi' } };
      edit(wf);
      const v = validateWorkflowObject(wf, 'argo', enforcePolicy);
      expect(v.allowed).toBe(false);
      expect(rulesOf(v)).toEqual([`${finding}=enforce`]);
      const [template, rule] = finding.split('/');
      expect(v.message).toContain(`template ${template}: ${rule}: `);
      expect(v.message).toContain('; fix: ');
    });
  }

  it('the same violation under warn is admitted with a warning, under audit silently recorded, under off not seen', () => {
    const wf = seeds.redis();
    (wf.spec as Json).hostNetwork = true;
    const warn = validateWorkflowObject(wf, 'argo', only('hostNetwork', 'warn'));
    expect(warn).toMatchObject({ allowed: true, warnings: [expect.stringContaining('hostNetwork')] });
    const audit = validateWorkflowObject(wf, 'argo', only('hostNetwork', 'audit'));
    expect(audit).toMatchObject({ allowed: true, warnings: [], findings: [{ rule: 'hostNetwork', mode: 'audit' }] });
    expect(validateWorkflowObject(wf, 'argo', only('hostNetwork', 'off'))).toMatchObject({ allowed: true, warnings: [], findings: [] });
  });

  it('the namespace of the request decides the overrides; the workflow\'s labels decide the selector exemptions', () => {
    const wf = seeds.redis();
    const p = policyWith((p) => {
      p.rules.resources.mode = 'enforce';
      p.namespaces = [{ names: ['sandbox-*'], mode: 'warn' }];
      p.exemptions = [{ selector: { matchLabels: { team: 'platform' } }, rules: ['resources'] }];
    });
    expect(validateWorkflowObject(wf, 'argo', p).allowed).toBe(false);
    expect(validateWorkflowObject(wf, 'sandbox-17', p)).toMatchObject({ allowed: true, warnings: [expect.any(String)] });
    (wf.metadata as Json).labels = { team: 'platform' };
    expect(validateWorkflowObject(wf, 'argo', p)).toMatchObject({ allowed: true, findings: [] });
  });
});

describe('validateWorkflowObject: every object kind', () => {
  it('WorkflowTemplate (DAG): mock-api has no probe and too few requests; the daemon loop counts 4', () => {
    const v = validateWorkflowObject(objects.workflowTemplateDag(), 'ci', defaultPolicy);
    expect(v.subject).toBe('WorkflowTemplate ci/integration-suite');
    expect(v.daemonTemplates).toEqual(['postgres', 'mock-api']);
    expect(rulesOf(v)).toEqual(['mock-api/readinessProbe=warn', 'mock-api/resources=warn']);
    const strict = validateWorkflowObject(objects.workflowTemplateDag(), 'ci', policyWith((p) => ((p.rules.daemonsPerWorkflow.mode = 'enforce'), (p.rules.daemonsPerWorkflow.max = 3))));
    expect(strict.allowed).toBe(false);
    expect(strict.message).toContain('template integration-suite: daemonsPerWorkflow: a run starts 4 daemons, more than the limit of 3');
  });

  it('ClusterWorkflowTemplate: a privileged daemon with a template hostPath volume; containerSet kafka passes readiness through its broker', () => {
    const v = validateWorkflowObject(objects.clusterWorkflowTemplate(), '', defaultPolicy);
    expect(v.subject).toBe('ClusterWorkflowTemplate shared-services');
    expect(rulesOf(v)).toEqual(['memcached/privileged=warn', 'memcached/hostPath=warn']);
  });

  it('CronWorkflow: workflow-level hostNetwork and hostPath reach every daemon, inline ones included', () => {
    const v = validateWorkflowObject(objects.cronWorkflow(), 'perf', defaultPolicy);
    expect(v.subject).toBe('CronWorkflow perf/nightly-load-test');
    expect(v.daemonTemplates).toEqual(['redis-shard', 'load/target']);
    expect(rulesOf(v)).toEqual([
      'redis-shard/resources=warn',
      'redis-shard/hostNetwork=warn',
      'redis-shard/hostPath=warn',
      'load/target/resources=warn',
      'load/target/hostNetwork=warn',
      'load/target/hostPath=warn',
    ]);
  });

  it('Workflow with loops: "at least 7" daemons is over the default limit of 5', () => {
    const v = validateWorkflowObject(objects.workflowLoops(), 'ci', defaultPolicy);
    expect(v.warnings).toEqual(['argo-daemon-guard: template fan-out-: daemonsPerWorkflow: a run starts at least 7 daemons, more than the limit of 5; fix: start at most 5 daemons per workflow, or share one daemon between steps']);
  });

  it('an object with no daemon has no finding and no daemon template', () => {
    const wf = { apiVersion: 'argoproj.io/v1alpha1', kind: 'Workflow', metadata: { name: 'hello' }, spec: { entrypoint: 'main', templates: [{ name: 'main', container: { image: 'busybox', command: ['true'] } }] } };
    expect(validateWorkflowObject(wf, 'argo', defaultPolicy)).toMatchObject({ allowed: true, warnings: [], findings: [], daemonTemplates: [] });
  });

  it('an object that cannot be read is admitted with a "not checked" warning and the reason', () => {
    const v = validateWorkflowObject({ kind: 'Workflow', metadata: { name: 'broken' } }, 'argo', enforcePolicy);
    expect(v).toMatchObject({ allowed: true, unknown: 'Workflow broken has no spec', warnings: ['argo-daemon-guard: Workflow argo/broken not checked: Workflow broken has no spec'] });
  });
});

describe('validatePod: the backstop at pod creation', () => {
  for (const layout of layouts) {
    it(`${layout}: the redis daemon pod under the default policy warns about requests, and nothing about Argo's executor containers`, () => {
      const pod = redisDaemonPod(layout);
      const v = validatePod(pod, 'argo', podDaemon(pod), defaultPolicy);
      expect(v.subject).toBe(`pod argo/${pod.metadata.name}`);
      expect(v.daemonTemplates).toEqual(['mock-database']);
      expect(rulesOf(v)).toEqual(['mock-database/resources=warn']);
    });

    it(`${layout}: the subject is the pod's own containers, without init, wait or supervisor`, () => {
      const pod = redisDaemonPod(layout, { template: { ...redisTemplate, sidecars: [{ name: 'exporter', image: 'oliver006/redis_exporter:v1.62.0' }], initContainers: [{ name: 'seed', image: 'busybox:1.36' }] } });
      const s = podSubject(pod, daemonOf(pod));
      expect(s.containers.map((c) => `${c.name}:${c.role}`)).toEqual(['main:service', 'exporter:sidecar', 'seed:init']);
    });
  }

  it('Argo\'s executor image is never held against the registry allow-list', () => {
    const pod = redisDaemonPod('legacy');
    const v = validatePod(pod, 'argo', podDaemon(pod), only('registries', 'enforce', (p) => (p.rules.registries.allow = ['docker.io/library'])));
    expect(v).toMatchObject({ allowed: true, findings: [] });
  });

  it('pod-level settings: hostNetwork, hostPath volumes and the deadline come from the pod spec', () => {
    const pod = redisDaemonPod('legacy', { hostNetwork: true, activeDeadlineSeconds: 99999, workflowVolumes: [{ name: 'sock', hostPath: { path: '/var/run/docker.sock' } }] });
    const s = podSubject(pod, daemonOf(pod));
    expect(s).toMatchObject({ hostNetwork: true, hostPathVolumes: ['sock:/var/run/docker.sock'], activeDeadlineSeconds: 99999 });
    const v = validatePod(pod, 'argo', podDaemon(pod), enforcePolicy);
    expect(v.allowed).toBe(false);
    expect(rulesOf(v)).toEqual(expect.arrayContaining(['mock-database/hostNetwork=enforce', 'mock-database/hostPath=enforce', 'mock-database/maxLifetime=enforce']));
  });

  it('after the mutating webhook ran, the pod passes what the defaults and the cap satisfy', () => {
    const p: Policy = policyWith((p) => {
      p.rules.resources = { mode: 'enforce', requests: ['cpu', 'memory'], limits: ['memory'] };
      p.rules.maxLifetime.mode = 'enforce';
      p.defaults = { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '512Mi' } };
      p.maxLifetime = '1h';
    });
    const pod: Pod = redisDaemonPod('init-less', { activeDeadlineSeconds: 86400 });
    const mutated = structuredClone(pod);
    applyPatch(mutated, mutatePod(pod, podDaemon(pod), p).patch);
    expect(validatePod(mutated, 'argo', podDaemon(mutated), p)).toMatchObject({ allowed: true, findings: [] });
  });

  it('pod labels decide selector exemptions', () => {
    const p = only('readinessProbe', 'enforce', (p) => (p.exemptions = [{ selector: { matchLabels: { 'app.kubernetes.io/part-of': 'legacy-ci' } } }]));
    const pod = redisDaemonPod('legacy', { template: { ...redisTemplate, container: { image: 'redis:alpine', command: ['redis-server'] } } });
    expect(validatePod(pod, 'argo', podDaemon(pod), p).allowed).toBe(false);
    const exempt = redisDaemonPod('legacy', { template: { ...redisTemplate, container: { image: 'redis:alpine', command: ['redis-server'] } }, extraLabels: { 'app.kubernetes.io/part-of': 'legacy-ci' } });
    expect(validatePod(exempt, 'argo', podDaemon(exempt), p)).toMatchObject({ allowed: true, findings: [] });
  });

  it('non-daemon and non-Argo pods: allowed, nothing checked', () => {
    for (const pod of [influxClientPod('legacy'), plainPod()]) {
      expect(validatePod(pod, 'argo', podDaemon(pod), enforcePolicy)).toMatchObject({ allowed: true, message: '', warnings: [], findings: [], daemonTemplates: [] });
    }
  });

  it('a pod whose template cannot be read: allowed with a "not checked" warning, never denied', () => {
    const pod = setEnv(influxDaemonPod('legacy'), 'ARGO_TEMPLATE', '{oops');
    const v = validatePod(pod, 'argo', podDaemon(pod), enforcePolicy);
    expect(v.allowed).toBe(true);
    expect(v.unknown).toContain('ARGO_TEMPLATE is not JSON');
    expect(v.warnings[0]).toMatch(/^argo-daemon-guard: pod argo\/daemon-step-dvbnn-influxdb-2254877734 not checked: /);
  });
});
