import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { applyPatch, type Operation } from 'rfc6902';
import { mutatePod, serviceContainerNames, type Mutation } from './mutate.ts';
import { podDaemon } from './daemon.ts';
import { defaultPolicy, type Policy } from '../policy/schema.ts';
import {
  agentPod,
  artifactGcPod,
  container,
  hugeTemplate,
  influxClientPod,
  influxDaemonPod,
  influxWorkflow,
  influxdbTemplate,
  layouts,
  offloadConfigMap,
  plainPod,
  redisDaemonPod,
  redisTemplate,
  redisWorkflow,
  setEnv,
  workflowPod,
  type Json,
  type Layout,
  type Pod,
} from '../../test/fixtures/pods.ts';
import { policyWith } from '../../test/fixtures/policies.ts';

const guardLabels = ['argo-daemon-guard.io/daemon', 'argo-daemon-guard.io/workflow-uid'];
const guardAnnotations = ['argo-daemon-guard.io/template', 'argo-daemon-guard.io/lifetime-cap'];
const argoLabels = ['workflows.argoproj.io/workflow', 'workflows.argoproj.io/completed', 'workflows.argoproj.io/controller-instanceid', 'workflows.argoproj.io/on-exit'];
const argoAnnotations = ['workflows.argoproj.io/node-id', 'workflows.argoproj.io/node-name'];

function mutate(pod: unknown, policy: Policy = defaultPolicy, offloaded?: Parameters<typeof podDaemon>[1]): Mutation {
  return mutatePod(pod, podDaemon(pod, offloaded), policy);
}

/** The pod after the API server applies the patch; fails the test on any patch error. */
function patched<T>(pod: T, patch: Operation[]): T {
  const out = structuredClone(pod);
  const errors = applyPatch(out as object, patch);
  expect(errors.filter((e) => e !== null)).toEqual([]);
  return out;
}

const esc = (key: string) => key.replaceAll('~', '~0').replaceAll('/', '~1');

const kafkaTemplate: Json = {
  name: 'kafka',
  daemon: true,
  containerSet: {
    containers: [
      { name: 'zookeeper', image: 'quay.io/strimzi/kafka:0.45.0-kafka-3.9.0', command: ['zookeeper-server-start.sh'] },
      { name: 'broker', image: 'quay.io/strimzi/kafka:0.45.0-kafka-3.9.0', command: ['kafka-server-start.sh'], readinessProbe: { tcpSocket: { port: 9092 } } },
    ],
  },
  sidecars: [{ name: 'jmx-exporter', image: 'bitnami/jmx-exporter:1.0.1' }],
};

function kafkaPod(layout: Layout, over: Partial<Parameters<typeof workflowPod>[0]> = {}): Pod {
  return workflowPod({ workflow: 'stack-x7k2p', namespace: 'ci', workflowUid: '3e1f0c2a-6b7d-4e59-8a1b-2c3d4e5f6a7b', nodeName: 'stack-x7k2p[0].kafka', template: kafkaTemplate, layout, ...over });
}

describe('mutatePod: a daemon pod is labeled', () => {
  for (const layout of layouts) {
    it(`${layout}: the redis seed's daemon gets the daemon label, the workflow-uid label from its owner, the template and lifetime-cap annotations, and the 24h deadline`, () => {
      const pod = redisDaemonPod(layout);
      const m = mutate(pod);
      expect(m.outcome).toBe('labeled');
      expect(m.reason).toBe(`daemon template mock-database (${layout} layout)`);
      expect(m.lifetimeCapSeconds).toBe(86400);
      expect(m.patch).toEqual(
        expect.arrayContaining([
          { op: 'add', path: '/metadata/labels/argo-daemon-guard.io~1daemon', value: 'true' },
          { op: 'add', path: '/metadata/labels/argo-daemon-guard.io~1workflow-uid', value: redisWorkflow.uid },
          { op: 'add', path: '/metadata/annotations/argo-daemon-guard.io~1template', value: 'mock-database' },
          { op: 'add', path: '/metadata/annotations/argo-daemon-guard.io~1lifetime-cap', value: '86400' },
          { op: 'add', path: '/spec/activeDeadlineSeconds', value: 86400 },
        ]),
      );
      expect(m.patch).toHaveLength(5);
      const after = patched(pod, m.patch);
      expect(after.metadata.labels).toEqual({ ...pod.metadata.labels, 'argo-daemon-guard.io/daemon': 'true', 'argo-daemon-guard.io/workflow-uid': redisWorkflow.uid });
      expect(after.spec.activeDeadlineSeconds).toBe(86400);
    });
  }

  it('the influxdb seed daemon (retryStrategy) is labeled with its own workflow uid and template', () => {
    const after = patched(influxDaemonPod(), mutate(influxDaemonPod()).patch);
    expect(after.metadata.labels['argo-daemon-guard.io/workflow-uid']).toBe(influxWorkflow.uid);
    expect(after.metadata.annotations['argo-daemon-guard.io/template']).toBe('influxdb');
  });

  it('an offloaded daemon is labeled once its ConfigMap\'s template is passed in', () => {
    const template = hugeTemplate(influxdbTemplate);
    const pod = influxDaemonPod('legacy', { template, offloaded: true });
    const json = (offloadConfigMap(pod, template) as { data: { ARGO_TEMPLATE: string } }).data.ARGO_TEMPLATE;
    const m = mutate(pod, defaultPolicy, { ok: true, json });
    expect(m.outcome).toBe('labeled');
    expect(patched(pod, m.patch).metadata.annotations['argo-daemon-guard.io/template']).toBe('influxdb');
  });

  it('a label forged through podMetadata is overwritten with the owner\'s uid; a stale daemon label is set to "true"', () => {
    const pod = redisDaemonPod('legacy', { extraLabels: { 'argo-daemon-guard.io/workflow-uid': 'forged', 'argo-daemon-guard.io/daemon': 'false' } });
    const after = patched(pod, mutate(pod).patch);
    expect(after.metadata.labels['argo-daemon-guard.io/workflow-uid']).toBe(redisWorkflow.uid);
    expect(after.metadata.labels['argo-daemon-guard.io/daemon']).toBe('true');
  });

  it('a pod without a Workflow owner takes the workflow uid from ARGO_WORKFLOW_UID', () => {
    const pod = redisDaemonPod('init-less');
    delete pod.metadata.ownerReferences;
    expect(patched(pod, mutate(pod).patch).metadata.labels['argo-daemon-guard.io/workflow-uid']).toBe(redisWorkflow.uid);
  });

  it('a pod with no uid anywhere gets the daemon label but no workflow-uid label', () => {
    const pod = setEnv(redisDaemonPod('legacy'), 'ARGO_WORKFLOW_UID', undefined);
    delete pod.metadata.ownerReferences;
    const after = patched(pod, mutate(pod).patch);
    expect(after.metadata.labels['argo-daemon-guard.io/daemon']).toBe('true');
    expect(after.metadata.labels).not.toHaveProperty('argo-daemon-guard.io/workflow-uid');
  });

  it('Argo\'s labels and annotations (workflow, completed, controller-instanceid, on-exit, node-id, node-name) are left exactly as they were', () => {
    const pod = redisDaemonPod('legacy', { instanceId: 'ci-controller', onExit: true });
    const m = mutate(pod);
    for (const op of m.patch) expect(op.path).not.toMatch(/workflows\.argoproj\.io/);
    const after = patched(pod, m.patch);
    for (const k of argoLabels) expect(after.metadata.labels[k]).toBe(pod.metadata.labels[k]);
    for (const k of argoAnnotations) expect(after.metadata.annotations[k]).toBe(pod.metadata.annotations[k]);
    expect(after.metadata.ownerReferences).toEqual(pod.metadata.ownerReferences);
  });
});

describe('mutatePod: the lifetime cap on activeDeadlineSeconds (lowered, never raised)', () => {
  const table: [string, number | undefined, string | number, number | undefined, number | undefined][] = [
    ['no deadline → the cap', undefined, '24h', 86400, 86400],
    ['a lower deadline is kept', 600, '24h', 600, 600],
    ['a deadline equal to the cap is kept', 3600, '1h', 3600, 3600],
    ['a higher deadline is lowered to the cap', 172800, '24h', 86400, 86400],
    ['the cap in seconds', 5000, 1800, 1800, 1800],
    ['cap off (0): a deadline is left alone', 172800, 0, 172800, undefined],
    ['cap off (0): no deadline stays none', undefined, '0', undefined, undefined],
  ];
  for (const [what, before, cap, after, reported] of table) {
    it(what, () => {
      const pod = redisDaemonPod('legacy', before === undefined ? {} : { activeDeadlineSeconds: before });
      const m = mutate(pod, policyWith((p) => (p.maxLifetime = cap)));
      const out = patched(pod, m.patch);
      expect(out.spec.activeDeadlineSeconds).toBe(after);
      expect(m.lifetimeCapSeconds).toBe(reported);
      if (before !== undefined && after === before) expect(m.patch.some((op) => op.path === '/spec/activeDeadlineSeconds')).toBe(false);
    });
  }

  it('the lifetime-cap annotation records the policy cap; with the cap off there is none', () => {
    const pod = redisDaemonPod('legacy', { activeDeadlineSeconds: 600 });
    expect(patched(pod, mutate(pod, policyWith((p) => (p.maxLifetime = '2h'))).patch).metadata.annotations['argo-daemon-guard.io/lifetime-cap']).toBe('7200');
    expect(patched(pod, mutate(pod, policyWith((p) => (p.maxLifetime = 0))).patch).metadata.annotations).not.toHaveProperty('argo-daemon-guard.io/lifetime-cap');
  });
});

describe('mutatePod: resource defaults on service containers', () => {
  const defaults = (requests: Record<string, string>, limits: Record<string, string> = {}) => policyWith((p) => (p.defaults = { requests, limits }));

  it('fills requests and limits where the daemon container sets none', () => {
    const pod = redisDaemonPod('legacy');
    const after = patched(pod, mutate(pod, defaults({ cpu: '100m', memory: '128Mi' }, { memory: '512Mi' })).patch);
    expect(container(after, 'main').resources).toEqual({ requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '512Mi' } });
  });

  it('only the service container changes: init, wait and supervisor keep their resources', () => {
    for (const layout of layouts) {
      const pod = redisDaemonPod(layout);
      const m = mutate(pod, defaults({ cpu: '100m', memory: '128Mi' }, { memory: '512Mi' }));
      const mainIndex = pod.spec.containers.findIndex((c) => c.name === 'main');
      for (const op of m.patch.filter((op) => op.path.startsWith('/spec/containers'))) expect(op.path.startsWith(`/spec/containers/${mainIndex}/resources`)).toBe(true);
      expect(m.patch.some((op) => op.path.startsWith('/spec/initContainers'))).toBe(false);
    }
  });

  it('never overwrites what the user set', () => {
    const pod = influxDaemonPod('legacy', { template: { ...influxdbTemplate, container: { ...(influxdbTemplate.container as Json), resources: { requests: { cpu: '2', memory: '4Gi' }, limits: { memory: '8Gi' } } } } });
    const m = mutate(pod, defaults({ cpu: '100m', memory: '128Mi' }, { memory: '512Mi' }));
    expect(m.patch.some((op) => op.path.includes('/resources'))).toBe(false);
  });

  it('a container with only a limit gets no default request for it (Kubernetes uses the limit), so request ≤ limit', () => {
    const pod = influxDaemonPod('legacy', { template: { ...influxdbTemplate, container: { ...(influxdbTemplate.container as Json), resources: { limits: { cpu: '200m' } } } } });
    const after = patched(pod, mutate(pod, defaults({ cpu: '500m', memory: '128Mi' })).patch);
    expect(container(after, 'main').resources).toEqual({ requests: { memory: '128Mi' }, limits: { cpu: '200m' } });
  });

  it('a container with only a request gets no default limit for it, which could be below the request', () => {
    const pod = influxDaemonPod('legacy', { template: { ...influxdbTemplate, container: { ...(influxdbTemplate.container as Json), resources: { requests: { memory: '1Gi' } } } } });
    const after = patched(pod, mutate(pod, defaults({}, { memory: '512Mi', cpu: '1' })).patch);
    expect(container(after, 'main').resources).toEqual({ requests: { memory: '1Gi' }, limits: { cpu: '1' } });
  });

  it('a containerSet daemon: every container of the set gets defaults, the sidecar does not', () => {
    for (const layout of layouts) {
      const pod = kafkaPod(layout);
      const d = podDaemon(pod);
      expect(d.kind === 'daemon' && serviceContainerNames(d)).toEqual(['zookeeper', 'broker']);
      const after = patched(pod, mutatePod(pod, d, defaults({ cpu: '100m' })).patch);
      expect(container(after, 'zookeeper').resources).toEqual({ requests: { cpu: '100m' } });
      expect(container(after, 'broker').resources).toEqual({ requests: { cpu: '100m' } });
      expect(container(after, 'jmx-exporter')).not.toHaveProperty('resources');
    }
  });

  it('a container or script template\'s service container is "main"', () => {
    const d = podDaemon(redisDaemonPod());
    expect(d.kind === 'daemon' && serviceContainerNames(d)).toEqual(['main']);
  });

  it('no defaults in the policy → no resource change', () => {
    expect(mutate(redisDaemonPod()).patch.some((op) => op.path.includes('resources'))).toBe(false);
  });
});

describe('mutatePod: idempotence (a second pass over its own output is empty)', () => {
  const policies: [string, Policy][] = [
    ['default policy', defaultPolicy],
    ['defaults and a 2h cap', policyWith((p) => ((p.maxLifetime = '2h'), (p.defaults = { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '512Mi', cpu: '1' } })))],
    ['cap off', policyWith((p) => (p.maxLifetime = 0))],
  ];
  const pods: [string, () => Pod][] = [
    ['redis v3.5', () => redisDaemonPod('v3.5')],
    ['redis legacy with a lower deadline', () => redisDaemonPod('legacy', { activeDeadlineSeconds: 300 })],
    ['influxdb init-less with a higher deadline', () => influxDaemonPod('init-less', { activeDeadlineSeconds: 10_000_000 })],
    ['kafka containerSet', () => kafkaPod('legacy')],
  ];
  for (const [pname, make] of pods) {
    for (const [polname, policy] of policies) {
      it(`${pname}, ${polname}`, () => {
        const pod = make();
        const first = mutate(pod, policy);
        expect(first.patch.length).toBeGreaterThan(0);
        const once = patched(pod, first.patch);
        expect(mutate(once, policy).patch).toEqual([]);
      });
    }
  }
});

describe('mutatePod: pods that get no patch', () => {
  const cases: [string, () => unknown, Mutation['outcome']][] = [
    ['a non-daemon step (influxdb client)', () => influxClientPod('legacy'), 'skipped'],
    ['a non-daemon step, v3.5', () => influxClientPod('v3.5'), 'skipped'],
    ['a non-daemon step, init-less', () => influxClientPod('init-less'), 'skipped'],
    ['a non-Argo pod', plainPod, 'skipped'],
    ['the agent pod', agentPod, 'skipped'],
    ['the artifact-GC pod', artifactGcPod, 'skipped'],
    ['an offloaded daemon whose ConfigMap was not read', () => influxDaemonPod('legacy', { offloaded: true }), 'unknown'],
    ['ARGO_TEMPLATE not JSON', () => setEnv(redisDaemonPod(), 'ARGO_TEMPLATE', 'not json'), 'unknown'],
    ['garbage', () => ({ metadata: 'x', spec: [] }), 'skipped'],
  ];
  for (const [what, make, outcome] of cases) {
    it(`${what} → no patch, ${outcome}`, () => {
      const m = mutate(make());
      expect(m.patch).toEqual([]);
      expect(m.outcome).toBe(outcome);
      expect(m.reason.length).toBeGreaterThan(0);
      expect(m.lifetimeCapSeconds).toBeUndefined();
    });
  }
});

describe('mutatePod: property: only the guard\'s own keys, the deadline and service resources ever move', () => {
  const keyChars = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-._/~'.split(''));
  const randomKey = fc.string({ unit: keyChars, minLength: 1, maxLength: 24 });
  const key = fc.oneof(
    { weight: 1, arbitrary: fc.constantFrom(...guardLabels, ...guardAnnotations, 'app.kubernetes.io/name', 'team', 'workflows.argoproj.io/on-exit', 'workflows.argoproj.io/controller-instanceid', 'workflows.argoproj.io/completed') },
    { weight: 3, arbitrary: randomKey },
  );
  const stringMap = fc.dictionary(key, fc.string({ maxLength: 12 }), { maxKeys: 6 });
  const quantity = fc.constantFrom('10m', '100m', '1', '64Mi', '1Gi');
  const resourceMap = fc.dictionary(fc.constantFrom('cpu', 'memory', 'ephemeral-storage'), quantity, { maxKeys: 3 });
  const templates: Json[] = [redisTemplate, influxdbTemplate, kafkaTemplate];

  const scenario = fc.record({
    layout: fc.constantFrom(...layouts),
    template: fc.constantFrom(...templates),
    requests: fc.option(resourceMap, { nil: undefined }),
    limits: fc.option(resourceMap, { nil: undefined }),
    extraLabels: stringMap,
    extraAnnotations: stringMap,
    instanceId: fc.option(fc.constantFrom('ci', 'prod-controller'), { nil: undefined }),
    onExit: fc.boolean(),
    deadline: fc.option(fc.integer({ min: 1, max: 10_000_000 }), { nil: undefined }),
    orphaned: fc.boolean(),
    maxLifetime: fc.oneof(fc.constantFrom<string | number>('24h', '1h30m', '0', '45s'), fc.integer({ min: 0, max: 1_000_000 })),
    defaultRequests: resourceMap,
    defaultLimits: resourceMap,
  });

  type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never;
  function build(s: Scenario): { pod: Pod; policy: Policy; services: string[] } {
    const withResources = (c: Json): Json => {
      const resources: Json = {};
      if (s.requests) resources.requests = s.requests;
      if (s.limits) resources.limits = s.limits;
      return Object.keys(resources).length ? { ...c, resources } : c;
    };
    const template: Json = s.template.containerSet
      ? { ...s.template, containerSet: { containers: (s.template.containerSet as { containers: Json[] }).containers.map(withResources) } }
      : { ...s.template, container: withResources(s.template.container as Json) };
    const pod = workflowPod({
      workflow: 'wf-abc12',
      namespace: 'ci',
      workflowUid: 'uid-1',
      nodeName: 'wf-abc12[0].svc',
      template,
      layout: s.layout,
      extraLabels: s.extraLabels,
      extraAnnotations: s.extraAnnotations,
      instanceId: s.instanceId,
      onExit: s.onExit,
      activeDeadlineSeconds: s.deadline,
    });
    if (s.orphaned) delete pod.metadata.ownerReferences;
    const policy = policyWith((p) => {
      p.maxLifetime = s.maxLifetime;
      p.defaults = { requests: s.defaultRequests, limits: s.defaultLimits };
    });
    const services = s.template.containerSet ? (s.template.containerSet as { containers: Json[] }).containers.map((c) => String(c.name)) : ['main'];
    return { pod, policy, services };
  }

  it('every patch op path is a guard label or annotation, spec.activeDeadlineSeconds, or a service container\'s resources; Argo\'s keys never change', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const { pod, policy, services } = build(s);
        const m = mutate(pod, policy);
        expect(m.outcome).toBe('labeled');
        const serviceIndexes = pod.spec.containers.flatMap((c, i) => (services.includes(String(c.name)) ? [i] : []));
        const allowed = [
          ...guardLabels.map((k) => `/metadata/labels/${esc(k)}`),
          ...guardAnnotations.map((k) => `/metadata/annotations/${esc(k)}`),
          '/spec/activeDeadlineSeconds',
        ];
        for (const op of m.patch) {
          const ok = allowed.includes(op.path) || serviceIndexes.some((i) => op.path === `/spec/containers/${i}/resources` || op.path.startsWith(`/spec/containers/${i}/resources/`));
          expect(ok, `patch op ${op.op} ${op.path}`).toBe(true);
          expect(op.op === 'add' || op.op === 'replace', `patch op ${op.op} ${op.path}`).toBe(true);
        }
        const after = patched(pod, m.patch);
        for (const [k, v] of Object.entries(pod.metadata.labels)) if (!guardLabels.includes(k)) expect(after.metadata.labels[k]).toBe(v);
        for (const [k, v] of Object.entries(pod.metadata.annotations)) if (!guardAnnotations.includes(k)) expect(after.metadata.annotations[k]).toBe(v);
        for (const k of argoLabels) expect(after.metadata.labels[k]).toBe(pod.metadata.labels[k]);
        for (const k of argoAnnotations) expect(after.metadata.annotations[k]).toBe(pod.metadata.annotations[k]);
        expect(after.metadata.ownerReferences).toEqual(pod.metadata.ownerReferences);
        expect(after.spec.initContainers).toEqual(pod.spec.initContainers);
      }),
      { numRuns: 300 },
    );
  });

  it('a second pass over the patched pod is empty', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const { pod, policy } = build(s);
        const after = patched(pod, mutate(pod, policy).patch);
        expect(mutate(after, policy).patch).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  it('the deadline is never raised, and never above a cap that is on', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const { pod, policy } = build(s);
        const after = patched(pod, mutate(pod, policy).patch);
        const before = pod.spec.activeDeadlineSeconds;
        const cap = typeof s.maxLifetime === 'number' ? s.maxLifetime : ({ '24h': 86400, '1h30m': 5400, '0': 0, '45s': 45 } as Record<string, number>)[s.maxLifetime]!;
        const got = after.spec.activeDeadlineSeconds;
        if (before !== undefined) expect(got).toBeLessThanOrEqual(before);
        if (cap > 0) {
          expect(got).toBe(before === undefined ? cap : Math.min(before, cap));
        } else expect(got).toBe(before);
      }),
      { numRuns: 300 },
    );
  });

  it('a default never lands beside a value the user set for the same resource (so it cannot push request above limit)', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const { pod, policy, services } = build(s);
        const after = patched(pod, mutate(pod, policy).patch);
        for (const name of services) {
          const was = (container(pod, name).resources ?? {}) as { requests?: Record<string, string>; limits?: Record<string, string> };
          const now = (container(after, name).resources ?? {}) as { requests?: Record<string, string>; limits?: Record<string, string> };
          for (const [k, v] of Object.entries(was.requests ?? {})) expect(now.requests?.[k]).toBe(v);
          for (const [k, v] of Object.entries(was.limits ?? {})) expect(now.limits?.[k]).toBe(v);
          for (const k of Object.keys(now.requests ?? {})) if (!(k in (was.requests ?? {}))) {
            expect(k in (was.limits ?? {})).toBe(false);
            expect(now.requests?.[k]).toBe(s.defaultRequests[k]);
          }
          for (const k of Object.keys(now.limits ?? {})) if (!(k in (was.limits ?? {}))) {
            expect(k in (was.requests ?? {})).toBe(false);
            expect(now.limits?.[k]).toBe(s.defaultLimits[k]);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
