// Admission of daemon pods exactly as Argo v3.7.18 and v4.0.5 create them (test/fixtures/argo-versions.ts
// builds them in the order of each version's createWorkflowPod): the same answers for both, and v4's
// artifact-plugin containers neither hide the template nor count as the user's containers.
import { describe, expect, it } from 'vitest';
import { applyPatch } from 'rfc6902';
import { classifyPod } from '../argo/pod.ts';
import { podDaemon } from './daemon.ts';
import { mutatePod } from './mutate.ts';
import { podSubject, validatePod, validateWorkflowObject, type Validation } from './validate.ts';
import { defaultPolicy } from '../policy/schema.ts';
import { only } from '../../test/fixtures/policies.ts';
import { argoTemplateJson, templateCarriers, type Json } from '../../test/fixtures/pods.ts';
import {
  argoVersions,
  controllerPod,
  daemonStepClient,
  daemonStepInfluxdb,
  daemonStepInfluxNodeId,
  daemonStepPod,
  daemonStepRun,
  executorImageOf,
  influxdbImages,
  type ArtifactPlugin,
} from '../../test/fixtures/argo-versions.ts';

const rulesOf = (v: Validation) => v.findings.map((f) => `${f.template}/${f.rule}=${f.mode}`);

/** examples/daemon-step.yaml as submitted (the client's image is the one each version's example uses). */
function daemonStepWorkflow(version: (typeof argoVersions)[number]): Json {
  return {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Workflow',
    metadata: { generateName: 'daemon-step-', namespace: 'argo' },
    spec: {
      entrypoint: 'daemon-example',
      templates: [
        { name: 'daemon-example', steps: [[{ name: 'influx', template: 'influxdb' }], [{ name: 'init-database', template: 'influxdb-client' }]] },
        daemonStepInfluxdb,
        daemonStepClient(version),
      ],
    },
  };
}

describe.each(argoVersions)('Argo v%s: the daemon pod of examples/daemon-step', (version) => {
  it('is a workload pod whose template sits in the init container, with the Workflow uid in the executor env', () => {
    const pod = daemonStepPod(version);
    const cls = classifyPod(pod);
    expect(cls.kind).toBe('workload');
    if (cls.kind !== 'workload') return;
    expect(cls.pod.nodeId).toBe(daemonStepInfluxNodeId);
    expect(cls.pod.workflowOwner).toEqual({ kind: 'Workflow', name: daemonStepRun.name, uid: daemonStepRun.uid });
    expect(cls.pod.workflowUidFromEnv).toBe(daemonStepRun.uid);
    expect(cls.pod.template).toMatchObject({ kind: 'inline', layout: 'legacy', container: 'init', json: argoTemplateJson(daemonStepInfluxdb) });
    expect(templateCarriers(pod)).toEqual(['init']);
  });

  it('is labeled as a daemon and capped, and nothing of Argo\'s moves', () => {
    const pod = daemonStepPod(version, { uid: undefined });
    const d = podDaemon(pod);
    expect(d).toMatchObject({ kind: 'daemon', layout: 'legacy', template: { name: 'influxdb', daemon: true } });
    const m = mutatePod(pod, d, defaultPolicy);
    expect(m.outcome).toBe('labeled');
    const out = structuredClone(pod);
    applyPatch(out, m.patch);
    expect(out.metadata.labels).toEqual({ ...pod.metadata.labels, 'argo-daemon-guard.io/daemon': 'true', 'argo-daemon-guard.io/workflow-uid': daemonStepRun.uid });
    expect(out.metadata.annotations).toMatchObject({ ...pod.metadata.annotations, 'argo-daemon-guard.io/template': 'influxdb', 'argo-daemon-guard.io/lifetime-cap': '86400' });
    expect(out.spec.activeDeadlineSeconds).toBe(86400);
    expect(out.spec.initContainers).toEqual(pod.spec.initContainers);
    expect(out.spec.containers).toEqual(pod.spec.containers);
  });

  it('gets the same findings at the pod as the Workflow got at submission', () => {
    const atSubmission = validateWorkflowObject(daemonStepWorkflow(version), 'argo', defaultPolicy);
    expect(atSubmission.daemonTemplates).toEqual(['influxdb']);
    expect(rulesOf(atSubmission)).toEqual(['influxdb/resources=warn']);
    const pod = daemonStepPod(version);
    expect(rulesOf(validatePod(pod, 'argo', podDaemon(pod), defaultPolicy))).toEqual(rulesOf(atSubmission));
  });

  it('the executor image is not the user\'s: an allow-list without quay.io/argoproj admits the pod', () => {
    const pod = daemonStepPod(version);
    expect(pod.spec.containers.map((c) => c.image)).toContain(executorImageOf(version));
    const p = only('registries', 'enforce', (p) => (p.rules.registries.allow = ['docker.io/library']));
    expect(validatePod(pod, 'argo', podDaemon(pod), p)).toMatchObject({ allowed: true, findings: [] });
  });

  it('an oversized template says "offloaded" in every init container and is read from the ConfigMap named like the pod', () => {
    const pod = daemonStepPod(version, { offloaded: true });
    const cls = classifyPod(pod);
    expect(cls.kind === 'workload' && cls.pod.template).toEqual({ kind: 'offloaded', layout: 'legacy', container: 'init', configMap: pod.metadata.name });
    expect(podDaemon(pod)).toMatchObject({ kind: 'unknown' });
    expect(podDaemon(pod, { ok: true, json: argoTemplateJson(daemonStepInfluxdb) })).toMatchObject({ kind: 'daemon', template: { name: 'influxdb' } });
  });

  it('its client step is no daemon and is left alone', () => {
    const pod = controllerPod({ version }, { workflow: daemonStepRun.name, workflowUid: daemonStepRun.uid, nodeName: `${daemonStepRun.name}[1].init-database`, template: daemonStepClient(version) });
    const d = podDaemon(pod);
    expect(d.kind).toBe('not-daemon');
    expect(mutatePod(pod, d, defaultPolicy)).toMatchObject({ outcome: 'skipped', patch: [] });
  });
});

describe('Argo v4.0.5: artifact-plugin containers', () => {
  const s3: ArtifactPlugin = { name: 'my-s3', image: 'registry.example.com/argo-plugins/s3:v1', entrypoint: ['/s3-driver'], input: true, output: true };
  const withInput: Json = { ...daemonStepInfluxdb, inputs: { artifacts: [{ name: 'config', path: '/etc/influxdb/influxdb.conf', plugin: { name: 'my-s3', key: 'influx/influxdb.conf' } }] } };
  const pluginPod = (template: Json = withInput) =>
    controllerPod({ version: '4.0.5', images: influxdbImages, artifactPlugins: [s3] }, { workflow: daemonStepRun.name, workflowUid: daemonStepRun.uid, nodeName: `${daemonStepRun.name}[0].influx`, template });

  it('the plugin\'s init container carries the template too; the guard reads it from `init`', () => {
    const pod = pluginPod();
    expect(pod.spec.initContainers.map((c) => c.name)).toEqual(['init', 'init-artifact-my-s3']);
    expect(pod.spec.containers.map((c) => c.name)).toEqual(['wait', 'main', 'artifact-plugin-my-s3']);
    expect(templateCarriers(pod)).toEqual(['init', 'init-artifact-my-s3']);
    expect(podDaemon(pod)).toMatchObject({ kind: 'daemon', layout: 'legacy', template: { name: 'influxdb' } });
  });

  it('v3.7.18 configured the same way adds no plugin container', () => {
    const pod = controllerPod({ version: '3.7.18', images: influxdbImages, artifactPlugins: [s3] }, { workflow: daemonStepRun.name, workflowUid: daemonStepRun.uid, nodeName: `${daemonStepRun.name}[0].influx`, template: daemonStepInfluxdb });
    expect([...pod.spec.initContainers, ...pod.spec.containers].map((c) => c.name)).toEqual(['init', 'wait', 'main']);
  });

  it('are Argo\'s, not the user\'s: the policy checks only the template\'s containers', () => {
    const pod = pluginPod();
    expect(podSubject(pod, podDaemon(pod) as Extract<ReturnType<typeof podDaemon>, { kind: 'daemon' }>).containers.map((c) => `${c.name}:${c.role}`)).toEqual(['main:service']);
    // The plugin's image comes from the controller's configuration: an allow-list that admits the
    // daemon's own image admits the pod, as it admitted the Workflow.
    const p = only('registries', 'enforce', (p) => (p.rules.registries.allow = ['docker.io/library']));
    expect(validatePod(pod, 'argo', podDaemon(pod), p)).toMatchObject({ allowed: true, findings: [] });
  });

  it('a sidecar the template declares stays the user\'s even under a name like a plugin\'s', () => {
    const template = { ...withInput, sidecars: [{ name: 'artifact-plugin-proxy', image: 'evil.example.com/proxy:1', securityContext: { privileged: true } }] };
    const pod = pluginPod(template);
    const d = podDaemon(pod) as Extract<ReturnType<typeof podDaemon>, { kind: 'daemon' }>;
    expect(podSubject(pod, d).containers.map((c) => `${c.name}:${c.role}`)).toEqual(['main:service', 'artifact-plugin-proxy:sidecar']);
    const v = validatePod(pod, 'argo', d, only('privileged', 'enforce'));
    expect(v.allowed).toBe(false);
    expect(v.message).toContain('container artifact-plugin-proxy is privileged');
  });
});
