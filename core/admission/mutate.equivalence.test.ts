// mutatePod builds the desired pod by copying only the paths it changes (a performance change, see
// the README's Performance section). This keeps it honest: its patch is exactly the patch of the
// straightforward version — a deep copy of the whole pod changed in place, diffed as a whole — for
// every fixture pod, layout and policy, and for thousands of generated pods.
import fc from 'fast-check';
import { createPatch } from 'rfc6902';
import { describe, expect, it } from 'vitest';
import { argo, guard } from '../keys.ts';
import { at, integer, list, record } from '../data.ts';
import { workflowUidOf } from '../argo/pod.ts';
import { defaultPolicy, durationSeconds, type Policy } from '../policy/schema.ts';
import { influxdbTemplate, layouts, redisTemplate, workflowPod, type Json } from '../../test/fixtures/pods.ts';
import { policyWith } from '../../test/fixtures/policies.ts';
import { podDaemon, type PodDaemon } from './daemon.ts';
import { mutatePod, serviceContainerNames } from './mutate.ts';

/** The reference: the whole pod deep-copied, changed in place, diffed whole. */
function referencePatch(pod: unknown, daemon: Extract<PodDaemon, { kind: 'daemon' }>, p: Policy) {
  const desired = structuredClone(pod) as Record<string, unknown>;
  const meta = record(desired.metadata)!;
  const labels = { ...(record(meta.labels) ?? {}) };
  const annotations = { ...(record(meta.annotations) ?? {}) };
  labels[guard.daemonLabel] = 'true';
  const wfUid = workflowUidOf(daemon.pod);
  if (wfUid) labels[guard.workflowUidLabel] = wfUid;
  if (daemon.template.name) annotations[guard.templateAnnotation] = daemon.template.name;
  const spec = (record(desired.spec) ?? {}) as Record<string, unknown>;
  const cap = durationSeconds(p.maxLifetime);
  if (cap > 0) {
    const current = integer(spec.activeDeadlineSeconds);
    spec.activeDeadlineSeconds = current !== undefined && current > 0 && current < cap ? current : cap;
    annotations[guard.lifetimeCapAnnotation] = String(cap);
  }
  const services = new Set(serviceContainerNames(daemon));
  for (const c of list(spec.containers)) {
    const rc = record(c);
    if (!rc || !services.has(String(at(rc, 'name')))) continue;
    const resources = (record(rc.resources) ?? {}) as Record<string, unknown>;
    const requests = { ...(record(resources.requests) ?? {}) };
    const limits = { ...(record(resources.limits) ?? {}) };
    let changed = false;
    for (const [k, v] of Object.entries(p.defaults.requests)) if (!(k in requests) && !(k in limits)) ((requests[k] = v), (changed = true));
    for (const [k, v] of Object.entries(p.defaults.limits)) if (!(k in limits) && !(k in (record(resources.requests) ?? {}))) ((limits[k] = v), (changed = true));
    if (changed) rc.resources = { ...resources, ...(Object.keys(requests).length ? { requests } : {}), ...(Object.keys(limits).length ? { limits } : {}) };
  }
  meta.labels = labels;
  meta.annotations = annotations;
  desired.spec = spec;
  return createPatch(pod, desired);
}

const policies: Policy[] = [
  defaultPolicy,
  policyWith((p) => (p.maxLifetime = 0)),
  policyWith((p) => {
    p.maxLifetime = '2h';
    p.defaults = { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '1Gi', cpu: '2' } };
  }),
];

function expectSame(pod: unknown, p: Policy): void {
  const before = JSON.stringify(pod);
  const d = podDaemon(pod);
  if (d.kind !== 'daemon') return;
  expect(mutatePod(pod, d, p).patch).toEqual(referencePatch(pod, d, p));
  // Nothing of the request is changed by building the patch.
  expect(JSON.stringify(pod)).toBe(before);
}

const kafka: Json = {
  name: 'kafka',
  daemon: true,
  containerSet: { containers: [{ name: 'zookeeper', image: 'zk' }, { name: 'broker', image: 'kafka', resources: { limits: { memory: '1Gi' } } }] },
};

describe('mutatePod patches exactly as a diff of a whole deep copy would', () => {
  it('for every fixture template, layout and policy', () => {
    for (const template of [redisTemplate, influxdbTemplate, kafka, { ...redisTemplate, activeDeadlineSeconds: 600 }]) {
      for (const layout of layouts) {
        for (const p of policies) {
          const pod = workflowPod({ workflow: 'wf', namespace: 'ns', workflowUid: 'u-1', nodeName: 'wf[0].x', template, layout, activeDeadlineSeconds: 3600 });
          expectSame(pod, p);
          expectSame({ ...pod, metadata: { ...pod.metadata, labels: { ...pod.metadata.labels, [guard.daemonLabel]: 'true' } } }, p);
        }
      }
    }
  });

  it('for generated pods: odd labels, annotations, resources, deadlines and container lists', () => {
    const base = workflowPod({ workflow: 'wf', namespace: 'ns', workflowUid: 'u-1', nodeName: 'wf[0].x', template: kafka, layout: 'legacy' });
    const quantity = fc.oneof(fc.constantFrom('100m', '1', '1Gi'), fc.integer({ min: 0, max: 4 }));
    const resources = fc.oneof(
      fc.constant(undefined),
      fc.record({ requests: fc.option(fc.dictionary(fc.constantFrom('cpu', 'memory', 'gpu'), quantity), { nil: undefined }), limits: fc.option(fc.dictionary(fc.constantFrom('cpu', 'memory'), quantity), { nil: undefined }) }, { requiredKeys: [] }),
      // Any JSON value (a request is parsed JSON: no NaN, which a diff of a deep copy would "replace" with itself).
      fc.jsonValue({ maxDepth: 1 }),
    );
    const extra = fc.record({ name: fc.constantFrom('zookeeper', 'broker', 'main', 'wait', 'other'), image: fc.string(), resources }, { requiredKeys: ['name'] });
    fc.assert(
      fc.property(
        fc.dictionary(fc.string(), fc.oneof(fc.string(), fc.integer())),
        fc.option(fc.dictionary(fc.string(), fc.string()), { nil: undefined }),
        fc.oneof(fc.constant(undefined), fc.integer({ min: -5, max: 200_000 }), fc.string()),
        fc.array(extra, { maxLength: 4 }),
        fc.boolean(),
        fc.constantFrom(...policies),
        (labels, annotations, deadline, containers, keepOriginal, p) => {
          const pod = structuredClone(base) as unknown as { metadata: Json; spec: Json };
          pod.metadata.labels = { ...(pod.metadata.labels as Json), ...labels, [argo.workflowLabel]: 'wf' };
          if (annotations) pod.metadata.annotations = { ...(pod.metadata.annotations as Json), ...annotations, [argo.nodeIdAnnotation]: 'wf-1' };
          if (deadline === undefined) delete pod.spec.activeDeadlineSeconds;
          else pod.spec.activeDeadlineSeconds = deadline;
          pod.spec.containers = keepOriginal ? [...(pod.spec.containers as Json[]), ...containers] : containers;
          expectSame(pod, p);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
