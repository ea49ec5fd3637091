import { describe, expect, it } from 'vitest';
import { podDaemon, type PodDaemon } from './daemon.ts';
import {
  agentPod,
  argoTemplateJson,
  artifactGcPod,
  container,
  hugeTemplate,
  influxClientPod,
  influxDaemonPod,
  influxdbTemplate,
  layouts,
  offloadConfigMap,
  plainPod,
  redisDaemonPod,
  setEnv,
} from '../../test/fixtures/pods.ts';

function daemonOf(d: PodDaemon): Extract<PodDaemon, { kind: 'daemon' }> {
  if (d.kind !== 'daemon') throw new Error(`expected a daemon, got ${d.kind}: ${d.reason}`);
  return d;
}

describe('podDaemon: the daemon pods Argo creates, every layout', () => {
  for (const layout of layouts) {
    it(`${layout}: the redis seed's daemon pod runs daemon template mock-database`, () => {
      const d = daemonOf(podDaemon(redisDaemonPod(layout)));
      expect(d.layout).toBe(layout);
      expect(d.template).toMatchObject({ name: 'mock-database', daemon: true, body: 'container', containers: [{ image: 'redis:alpine', hasReadinessProbe: true }] });
      expect(d.pod.workflowName).toBe('daemon-workflow');
    });

    it(`${layout}: the influxdb seed's daemon pod (retry attempt influx(0)) runs daemon template influxdb`, () => {
      const d = daemonOf(podDaemon(influxDaemonPod(layout)));
      expect(d.template.name).toBe('influxdb');
      expect(d.pod.nodeId).toBe('daemon-step-dvbnn-2254877734');
    });

    it(`${layout}: the influxdb client step is not a daemon`, () => {
      expect(podDaemon(influxClientPod(layout))).toMatchObject({ kind: 'not-daemon', reason: 'template influxdb-client is not a daemon' });
    });

    it(`${layout}: offloaded, with the ConfigMap's template passed in → the daemon`, () => {
      const template = hugeTemplate(influxdbTemplate);
      const pod = influxDaemonPod(layout, { template, offloaded: true });
      const cm = offloadConfigMap(pod, template) as { data: { ARGO_TEMPLATE: string } };
      expect(cm.data.ARGO_TEMPLATE.length).toBeGreaterThan(128 * 1024);
      const d = daemonOf(podDaemon(pod, { ok: true, json: cm.data.ARGO_TEMPLATE }));
      expect(d.template.name).toBe('influxdb');
      expect(d.layout).toBe(layout);
    });
  }

  it('an offloaded template that was not read → unknown, naming the ConfigMap', () => {
    const pod = influxDaemonPod('legacy', { offloaded: true });
    expect(podDaemon(pod)).toMatchObject({ kind: 'unknown', reason: 'template offloaded to ConfigMap daemon-step-dvbnn-influxdb-2254877734, which was not read' });
  });

  it('an offloaded template whose ConfigMap could not be read → unknown with the read error', () => {
    const pod = influxDaemonPod('init-less', { offloaded: true });
    expect(podDaemon(pod, { ok: false, reason: 'configmaps "daemon-step-dvbnn-influxdb-2254877734" is forbidden' })).toMatchObject({
      kind: 'unknown',
      reason: expect.stringContaining('is forbidden'),
    });
  });

  it('an offloaded ConfigMap holding something that is not JSON → unknown', () => {
    const pod = influxDaemonPod('legacy', { offloaded: true });
    expect(podDaemon(pod, { ok: true, json: '' })).toMatchObject({ kind: 'unknown', reason: expect.stringContaining('ARGO_TEMPLATE is not JSON') });
  });

  it('a template passed in for a pod whose template is inline is ignored: the pod\'s own env decides', () => {
    const pod = influxClientPod('legacy');
    expect(podDaemon(pod, { ok: true, json: argoTemplateJson(influxdbTemplate) }).kind).toBe('not-daemon');
  });
});

describe('podDaemon: pods that are skipped', () => {
  it('the agent pod → not-argo (runs no template)', () => {
    expect(podDaemon(agentPod())).toEqual({ kind: 'not-argo', reason: expect.stringContaining('agent') });
  });
  it('the artifact-GC pod → not-argo (runs no template)', () => {
    expect(podDaemon(artifactGcPod())).toEqual({ kind: 'not-argo', reason: expect.stringContaining('artifact-gc') });
  });
  it('a non-Argo pod → not-argo', () => {
    expect(podDaemon(plainPod())).toEqual({ kind: 'not-argo', reason: expect.stringContaining('workflows.argoproj.io/workflow') });
  });
});

describe('podDaemon: malformed input never throws, and says why', () => {
  it('ARGO_TEMPLATE not JSON → unknown', () => {
    for (const layout of layouts) {
      const d = podDaemon(setEnv(redisDaemonPod(layout), 'ARGO_TEMPLATE', '{"name":"mock-database","daemon":tru'));
      expect(d).toMatchObject({ kind: 'unknown', reason: expect.stringContaining('ARGO_TEMPLATE is not JSON') });
      expect(d.kind === 'unknown' && d.pod?.name).toBe(redisDaemonPod(layout).metadata.name);
    }
  });

  it('ARGO_TEMPLATE a JSON array → unknown', () => {
    expect(podDaemon(setEnv(redisDaemonPod(), 'ARGO_TEMPLATE', '[]'))).toMatchObject({ kind: 'unknown', reason: 'ARGO_TEMPLATE is not a JSON object' });
  });

  it('ARGO_TEMPLATE env missing everywhere → unknown', () => {
    for (const layout of layouts) {
      expect(podDaemon(setEnv(redisDaemonPod(layout), 'ARGO_TEMPLATE', undefined))).toMatchObject({ kind: 'unknown', reason: 'no container carries ARGO_TEMPLATE' });
    }
  });

  it('the env list of the carrying container replaced by a wrong type → unknown', () => {
    const pod = redisDaemonPod('legacy');
    (container(pod, 'init') as { env: unknown }).env = { ARGO_TEMPLATE: argoTemplateJson(influxdbTemplate) };
    expect(podDaemon(pod).kind).toBe('unknown');
  });

  it('metadata missing → not-argo', () => {
    const { metadata: _, ...pod } = redisDaemonPod();
    expect(podDaemon(pod)).toEqual({ kind: 'not-argo', reason: 'pod has no metadata' });
  });

  const junk: [string, unknown][] = [
    ['undefined', undefined],
    ['null', null],
    ['a number', 42],
    ['a string', '{"metadata":{}}'],
    ['an array', []],
    ['metadata null', { metadata: null }],
    ['spec a number', { metadata: { labels: { 'workflows.argoproj.io/workflow': 'wf' }, annotations: { 'workflows.argoproj.io/node-id': 'wf-1' } }, spec: 5 }],
    ['containers of wrong types', { metadata: { labels: { 'workflows.argoproj.io/workflow': 'wf' }, annotations: { 'workflows.argoproj.io/node-id': 'wf-1' } }, spec: { containers: [1, 'x', null, { env: [1, { name: 2 }] }], initContainers: 'init' } }],
  ];
  for (const [what, input] of junk) {
    it(`${what} → not-argo or unknown, with a reason`, () => {
      const d = podDaemon(input);
      expect(['not-argo', 'unknown']).toContain(d.kind);
      expect(d.kind !== 'daemon' && d.reason.length > 0).toBe(true);
    });
  }
});
