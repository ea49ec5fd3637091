import { describe, expect, it } from 'vitest';
import { classifyPod, locateTemplate, workflowUidOf, type PodFacts } from './pod.ts';
import {
  agentPod,
  argoTemplateJson,
  artifactGcPod,
  container,
  fnv32a,
  influxDaemonPod,
  influxWorkflow,
  influxdbTemplate,
  layouts,
  nodeIdOf,
  plainPod,
  podNameOf,
  redisDaemonPod,
  redisTemplate,
  redisWorkflow,
  templateCarriers,
  workflowPod,
  type Pod,
} from '../../test/fixtures/pods.ts';

function workload(pod: unknown): PodFacts {
  const cls = classifyPod(pod);
  if (cls.kind !== 'workload') throw new Error(`expected a workload pod, got ${cls.kind}: ${cls.reason}`);
  return cls.pod;
}

describe('Argo node ids and pod names (as the controller names them)', () => {
  it('hashes the node name with FNV-1a 32: daemon-step-dvbnn[0].influx(0) → daemon-step-dvbnn-2254877734', () => {
    expect(fnv32a('daemon-step-dvbnn[0].influx(0)')).toBe(2254877734);
    expect(nodeIdOf('daemon-step-dvbnn', 'daemon-step-dvbnn[0].influx(0)')).toBe('daemon-step-dvbnn-2254877734');
    expect(podNameOf('daemon-step-dvbnn', 'influxdb', 'daemon-step-dvbnn[0].influx(0)')).toBe('daemon-step-dvbnn-influxdb-2254877734');
  });

  it('the root node id is the workflow name', () => {
    expect(nodeIdOf('daemon-workflow', 'daemon-workflow')).toBe('daemon-workflow');
  });

  it('the influxdb daemon pod carries the node id and node name annotations of its retry attempt', () => {
    const pod = influxDaemonPod();
    expect(pod.metadata.name).toBe('daemon-step-dvbnn-influxdb-2254877734');
    expect(pod.metadata.annotations['workflows.argoproj.io/node-id']).toBe('daemon-step-dvbnn-2254877734');
    expect(pod.metadata.annotations['workflows.argoproj.io/node-name']).toBe('daemon-step-dvbnn[0].influx(0)');
  });

  it('ARGO_TEMPLATE is the template as Argo serializes it: inputs, outputs, metadata, daemon, container, retryStrategy', () => {
    expect(JSON.parse(argoTemplateJson(influxdbTemplate))).toEqual({
      name: 'influxdb',
      inputs: {},
      outputs: {},
      metadata: {},
      daemon: true,
      container: { name: '', image: 'influxdb:1.2', command: ['influxd'], readinessProbe: { httpGet: { path: '/ping', port: 8086 } }, resources: {} },
      retryStrategy: { limit: 10 },
    });
  });
});

describe('fixture layouts put ARGO_TEMPLATE where each Argo version does', () => {
  it('v3.5: every container, init, wait and main', () => {
    expect(templateCarriers(redisDaemonPod('v3.5')).sort()).toEqual(['init', 'main', 'wait']);
  });
  it('legacy (v3.6–v4.x): only the init container', () => {
    expect(templateCarriers(redisDaemonPod('legacy'))).toEqual(['init']);
    expect(redisDaemonPod('legacy').spec.containers.map((c) => c.name)).toEqual(['wait', 'main']);
  });
  it('init-less (v4.1): the supervisor container and user init containers', () => {
    const pod = redisDaemonPod('init-less', { template: { ...redisTemplate, initContainers: [{ name: 'seed-data', image: 'busybox:1.36', command: ['sh', '-c', 'true'] }] } });
    expect(templateCarriers(pod).sort()).toEqual(['seed-data', 'supervisor']);
    expect(pod.spec.initContainers.map((c) => c.name)).toEqual(['seed-data']);
  });
});

describe('classifyPod: a workload pod of every layout', () => {
  for (const layout of layouts) {
    it(`${layout}: reads workflow, node id, owner, ARGO_WORKFLOW_UID and the inline template`, () => {
      const pod = redisDaemonPod(layout);
      const facts = workload(pod);
      expect(facts.name).toBe(pod.metadata.name);
      expect(facts.namespace).toBe('argo');
      expect(facts.workflowName).toBe(redisWorkflow.name);
      expect(facts.nodeId).toBe(nodeIdOf(redisWorkflow.name, 'daemon-workflow[0].start-database'));
      expect(facts.workflowOwner).toEqual({ kind: 'Workflow', name: redisWorkflow.name, uid: redisWorkflow.uid });
      expect(facts.hasOwners).toBe(true);
      expect(facts.workflowUidFromEnv).toBe(redisWorkflow.uid);
      expect(facts.component).toBeUndefined();
      expect(facts.template).toMatchObject({ kind: 'inline', layout, json: argoTemplateJson(redisTemplate) });
    });

    it(`${layout}: an offloaded template points at the ConfigMap named like the pod`, () => {
      const pod = influxDaemonPod(layout, { offloaded: true });
      expect(workload(pod).template).toMatchObject({ kind: 'offloaded', layout, configMap: 'daemon-step-dvbnn-influxdb-2254877734' });
    });
  }

  it('legacy: the template is read from the init container', () => {
    expect(workload(redisDaemonPod('legacy')).template).toMatchObject({ kind: 'inline', layout: 'legacy', container: 'init' });
  });

  it('init-less: the supervisor is preferred over user init containers', () => {
    const pod = redisDaemonPod('init-less', { template: { ...redisTemplate, initContainers: [{ name: 'seed-data', image: 'busybox:1.36' }] } });
    expect(workload(pod).template).toMatchObject({ kind: 'inline', layout: 'init-less', container: 'supervisor' });
  });

  it('legacy with user init containers is still the legacy layout', () => {
    const pod = redisDaemonPod('legacy', { template: { ...redisTemplate, initContainers: [{ name: 'seed-data', image: 'busybox:1.36' }] } });
    expect(workload(pod).template).toMatchObject({ kind: 'inline', layout: 'legacy' });
  });

  it('a supervisor container without ARGO_TEMPLATE is not mistaken for the init-less layout', () => {
    const pod = redisDaemonPod('legacy', { template: { ...redisTemplate, sidecars: [{ name: 'supervisor', image: 'ghcr.io/acme/supervisord:4' }] } });
    expect(workload(pod).template).toMatchObject({ kind: 'inline', layout: 'legacy', container: 'init' });
  });

  it('keeps Argo labels and annotations as read, including instance id and exit-handler labels', () => {
    const facts = workload(redisDaemonPod('legacy', { instanceId: 'ci', onExit: true }));
    expect(facts.labels).toMatchObject({
      'workflows.argoproj.io/workflow': 'daemon-workflow',
      'workflows.argoproj.io/completed': 'false',
      'workflows.argoproj.io/controller-instanceid': 'ci',
      'workflows.argoproj.io/on-exit': 'true',
    });
  });
});

describe('classifyPod: pods to skip', () => {
  it('the agent pod (component agent, no node id) runs no template', () => {
    expect(classifyPod(agentPod())).toEqual({ kind: 'not-workload', reason: expect.stringContaining('agent') });
  });
  it('the artifact-GC pod (component artifact-gc, no node id) runs no template', () => {
    expect(classifyPod(artifactGcPod())).toEqual({ kind: 'not-workload', reason: expect.stringContaining('artifact-gc') });
  });
  it('a component pod is skipped even if it carried a node id', () => {
    const pod = agentPod() as { metadata: { annotations: Record<string, string> } };
    pod.metadata.annotations['workflows.argoproj.io/node-id'] = 'x-1';
    expect(classifyPod(pod).kind).toBe('not-workload');
  });
  it('a pod with the workflow label but no node-id annotation is not a workload pod', () => {
    const pod = redisDaemonPod();
    delete (pod.metadata.annotations as Record<string, string | undefined>)['workflows.argoproj.io/node-id'];
    expect(classifyPod(pod)).toEqual({ kind: 'not-workload', reason: expect.stringContaining('workflows.argoproj.io/node-id') });
  });
  it('a non-Argo pod (no workflow label), even one with an ARGO_TEMPLATE env var, is not Argo', () => {
    expect(classifyPod(plainPod())).toEqual({ kind: 'not-argo', reason: expect.stringContaining('workflows.argoproj.io/workflow') });
  });
});

describe('classifyPod: malformed input never throws', () => {
  const cases: [string, unknown, string][] = [
    ['undefined', undefined, 'not-argo'],
    ['null', null, 'not-argo'],
    ['a string', 'pod', 'not-argo'],
    ['an array', [redisDaemonPod()], 'not-argo'],
    ['metadata missing', { spec: redisDaemonPod().spec }, 'not-argo'],
    ['metadata a string', { metadata: 'daemon-workflow' }, 'not-argo'],
    ['labels an array', { metadata: { labels: ['workflows.argoproj.io/workflow'] } }, 'not-argo'],
    ['workflow label a number', { metadata: { labels: { 'workflows.argoproj.io/workflow': 42 } } }, 'not-argo'],
    ['annotations a string', { metadata: { labels: { 'workflows.argoproj.io/workflow': 'wf' }, annotations: 'x' } }, 'not-workload'],
  ];
  for (const [what, input, kind] of cases) {
    it(`${what} → ${kind} with a reason`, () => {
      const cls = classifyPod(input);
      expect(cls.kind).toBe(kind);
      expect(cls.kind !== 'workload' && cls.reason.length > 0).toBe(true);
    });
  }

  it('wrong types inside a workload pod read as absent, not as a crash', () => {
    const pod = {
      metadata: {
        name: 7,
        namespace: ['argo'],
        labels: { 'workflows.argoproj.io/workflow': 'wf' },
        annotations: { 'workflows.argoproj.io/node-id': 'wf-1' },
        ownerReferences: 'Workflow',
      },
      spec: { initContainers: { name: 'init' }, containers: [null, 3, { name: 5, env: 'ARGO_TEMPLATE' }, { env: [null, { name: 'ARGO_TEMPLATE', value: 12 }] }] },
    };
    const facts = workload(pod);
    expect(facts.name).toBe('');
    expect(facts.namespace).toBe('');
    expect(facts.workflowOwner).toBeUndefined();
    expect(facts.hasOwners).toBe(false);
    expect(facts.template).toEqual({ kind: 'missing', reason: expect.stringContaining('ARGO_TEMPLATE') });
  });

  it('an env var set through valueFrom is no template', () => {
    const pod = redisDaemonPod('legacy');
    const init = container(pod, 'init');
    init.env = init.env.map((e) => (e.name === 'ARGO_TEMPLATE' ? { name: 'ARGO_TEMPLATE', valueFrom: { configMapKeyRef: { name: 'x', key: 'y' } } } : e));
    expect(workload(pod).template.kind).toBe('missing');
  });

  it('a pod owned by something other than a Workflow has no workflow owner', () => {
    const pod = redisDaemonPod();
    pod.metadata.ownerReferences = [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'x', uid: 'u' }];
    const facts = workload(pod);
    expect(facts.workflowOwner).toBeUndefined();
    expect(facts.hasOwners).toBe(true);
  });

  it('a Workflow owner from another API group is not Argo\'s', () => {
    const pod = redisDaemonPod();
    pod.metadata.ownerReferences = [{ apiVersion: 'example.com/v1', kind: 'Workflow', name: 'x', uid: 'u' }];
    expect(workload(pod).workflowOwner).toBeUndefined();
  });
});

describe('locateTemplate', () => {
  it('no container carries ARGO_TEMPLATE → missing with a reason', () => {
    const pod: Pod = redisDaemonPod('legacy');
    for (const c of [...pod.spec.initContainers, ...pod.spec.containers]) c.env = (c.env as { name: string }[]).filter((e) => e.name !== 'ARGO_TEMPLATE');
    expect(locateTemplate(pod, pod.metadata.name)).toEqual({ kind: 'missing', reason: 'no container carries ARGO_TEMPLATE' });
  });
  it('a spec that is not an object → missing', () => {
    expect(locateTemplate({ spec: 'x' }, 'p').kind).toBe('missing');
    expect(locateTemplate(undefined, 'p').kind).toBe('missing');
  });
});

describe('workflowUidOf: the link from a pod to its Workflow', () => {
  it('the Workflow ownerReference comes first', () => {
    const facts = workload(influxDaemonPod());
    expect(workflowUidOf(facts)).toBe(influxWorkflow.uid);
  });

  it('an orphaned pod (ownerReference stripped by --cascade=orphan) falls back to the guard\'s workflow-uid label', () => {
    const pod = influxDaemonPod('legacy', { extraLabels: { 'argo-daemon-guard.io/workflow-uid': 'label-uid' } });
    delete pod.metadata.ownerReferences;
    const facts = workload(pod);
    expect(facts.hasOwners).toBe(false);
    expect(workflowUidOf(facts)).toBe('label-uid');
  });

  it('an orphaned pod without the label falls back to ARGO_WORKFLOW_UID in the executor containers', () => {
    for (const layout of layouts) {
      const pod = influxDaemonPod(layout);
      delete pod.metadata.ownerReferences;
      expect(workflowUidOf(workload(pod))).toBe(influxWorkflow.uid);
    }
  });

  it('nothing links the pod → undefined', () => {
    const pod = workflowPod({ workflow: 'wf', namespace: 'ns', workflowUid: '', nodeName: 'wf[0].a', template: redisTemplate, layout: 'legacy' });
    delete pod.metadata.ownerReferences;
    expect(workflowUidOf(workload(pod))).toBeUndefined();
  });
});
