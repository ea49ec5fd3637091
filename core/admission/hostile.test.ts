// Hostile JSON where the core expects strings: objects whose toString/valueOf are not functions
// ({"toString": 1} makes String() and template literals throw "Cannot convert object to primitive
// value"), arrays holding such objects (String([x]) calls x's toString), numbers, booleans. The core
// reads only the types it expects, so these come out as a decision with a reason, never an exception.
import { describe, expect, it } from 'vitest';
import { admit, readReview } from './review.ts';
import { podDaemon } from './daemon.ts';
import { mutatePod } from './mutate.ts';
import { validatePod, validateWorkflowObject } from './validate.ts';
import { defaultPolicy } from '../policy/schema.ts';
import { admissionReview } from '../../test/fixtures/admission.ts';
import { layouts, redisDaemonPod, redisTemplate, type Json, type Pod } from '../../test/fixtures/pods.ts';

/** Values no reader may turn into a string: each of these throws in String() or a template literal. */
const hostile: [string, () => unknown][] = [
  ['{"toString": 1}', () => ({ toString: 1 })],
  ['{"toString": "x", "valueOf": 1}', () => ({ toString: 'x', valueOf: 1 })],
  ['[{"toString": 1}]', () => [{ toString: 1 }]],
  ['{"valueOf": {}, "toString": []}', () => ({ valueOf: {}, toString: [] })],
];
/** Mistyped, but String() would not throw on them: read as absent all the same. */
const mistyped: [string, () => unknown][] = [
  ['a number', () => 5],
  ['an array', () => ['main']],
  ['an object', () => ({ name: 'main' })],
  ['true', () => true],
];
const values = [...hostile, ...mistyped];

function throwsInString(v: unknown): boolean {
  try {
    String(v);
    return false;
  } catch {
    return true;
  }
}

it('the hostile values do throw in String() (the premise of these tests)', () => {
  for (const [, v] of hostile) expect(throwsInString(v())).toBe(true);
});

function withContainerName(pod: Pod, container: string, name: unknown): Pod {
  const out = structuredClone(pod);
  for (const c of out.spec.containers as Json[]) if (c.name === container) c.name = name;
  return out;
}

describe('mutatePod with a hostile container name', () => {
  for (const layout of layouts) {
    for (const [label, v] of values) {
      it(`${layout}: the "wait" container's name is ${label}: still labeled, that container untouched`, () => {
        const pod = withContainerName(redisDaemonPod(layout), 'wait', v());
        const d = podDaemon(pod);
        expect(d.kind).toBe('daemon');
        const m = mutatePod(pod, d, defaultPolicy);
        expect(m.outcome).toBe('labeled');
        expect(m.patch.map((o) => o.path)).toContain('/spec/activeDeadlineSeconds');
        expect(m.patch.some((o) => o.path.startsWith('/spec/containers'))).toBe(false);
      });
    }
  }

  it('with resource defaults, the service container still gets them and the hostile one does not', () => {
    const p = structuredClone(defaultPolicy);
    p.defaults.requests = { cpu: '100m' };
    const pod = withContainerName(redisDaemonPod('legacy'), 'wait', { toString: 1 });
    const m = mutatePod(pod, podDaemon(pod), p);
    const main = (pod.spec.containers as Json[]).findIndex((c) => c.name === 'main');
    expect(m.patch.filter((o) => o.path.startsWith('/spec/containers')).map((o) => o.path)).toEqual([`/spec/containers/${main}/resources`]);
  });
});

describe('validatePod with hostile names', () => {
  for (const [label, v] of values) {
    it(`metadata.name is ${label}: the subject falls back to generateName or (unnamed)`, () => {
      const pod = redisDaemonPod('legacy');
      (pod.metadata as Json).name = v();
      const d = podDaemon(pod);
      const val = validatePod(pod, 'argo', d, defaultPolicy);
      expect(val.allowed).toBe(true);
      expect(val.subject).toBe('pod argo/(unnamed)');
      (pod.metadata as Json).generateName = 'daemon-workflow-';
      expect(validatePod(pod, 'argo', podDaemon(pod), defaultPolicy).subject).toBe('pod argo/daemon-workflow-');
    });

    it(`a sidecar's name is ${label}: checked as a container without a name`, () => {
      const pod = redisDaemonPod('legacy');
      (pod.spec.containers as Json[]).push({ name: v(), image: 'evil.example/x', securityContext: { privileged: true } });
      const val = validatePod(pod, 'argo', podDaemon(pod), defaultPolicy);
      expect(val.findings.map((f) => `${f.rule}=${f.mode}`)).toContain('privileged=warn');
      expect(val.warnings.join('\n')).toContain('container sidecar is privileged');
    });

    it(`an init container's name is ${label}: checked, named init`, () => {
      const pod = redisDaemonPod('legacy');
      (pod.spec.initContainers as Json[]).push({ name: v(), image: 'x', securityContext: { privileged: true } });
      const val = validatePod(pod, 'argo', podDaemon(pod), defaultPolicy);
      expect(val.warnings.join('\n')).toContain('container init is privileged');
    });
  }
});

function workflow(): Json {
  return { apiVersion: 'argoproj.io/v1alpha1', kind: 'Workflow', metadata: { name: 'w', namespace: 'ns' }, spec: { entrypoint: 'main', templates: [{ name: 'main', steps: [[{ name: 'db', template: String(redisTemplate.name) }]] }, structuredClone(redisTemplate)] } };
}

describe('validateWorkflowObject with hostile fields', () => {
  for (const [label, v] of values) {
    it(`kind is ${label}: not checked, and the reason says so`, () => {
      const wf = workflow();
      wf.kind = v();
      const val = validateWorkflowObject(wf, 'ns', defaultPolicy);
      expect(val.allowed).toBe(true);
      expect(val.subject).toBe('object ns/w');
      expect(val.unknown).toMatch(/^kind .* is not one of Workflow/);
    });

    it(`metadata.name is ${label}: checked, the subject falls back to (unnamed)`, () => {
      const wf = workflow();
      (wf.metadata as Json).name = v();
      const val = validateWorkflowObject(wf, 'ns', defaultPolicy);
      expect(val.subject).toBe('Workflow ns/(unnamed)');
      expect(val.daemonTemplates).toEqual([redisTemplate.name]);
    });

    it(`metadata.generateName is ${label} and there is no name: (unnamed)`, () => {
      const wf = workflow();
      delete (wf.metadata as Json).name;
      (wf.metadata as Json).generateName = v();
      expect(validateWorkflowObject(wf, 'ns', defaultPolicy).subject).toBe('Workflow ns/(unnamed)');
    });

    it(`a template, step or templateRef name is ${label}: still checked`, () => {
      const wf = workflow();
      const spec = wf.spec as { templates: Json[] };
      spec.templates.push({ name: v(), daemon: true, container: { name: v(), image: v() } });
      spec.templates.push({ name: 'refs', steps: [[{ name: v(), templateRef: { name: v(), template: v() } }]], dag: { tasks: [{ name: v(), inline: { name: v(), daemon: true, container: { image: 'a' } } }] } });
      const val = validateWorkflowObject(wf, 'ns', defaultPolicy);
      expect(val.unknown).toBeUndefined();
      expect(val.daemonTemplates).toContain(redisTemplate.name);
      expect(val.allowed).toBe(true);
    });
  }
});

describe('admit with hostile request fields: a decision, never an exception', () => {
  for (const [label, v] of values) {
    for (const endpoint of ['mutate', 'validate'] as const) {
      it(`${endpoint}: pod and container names are ${label}`, () => {
        const pod = withContainerName(redisDaemonPod('legacy'), 'wait', v());
        (pod.metadata as Json).name = v();
        const body = admissionReview(pod as unknown as Json);
        const read = readReview(body);
        expect(read.ok).toBe(true);
        if (!read.ok) return;
        const a = admit(endpoint, read.request, defaultPolicy);
        expect(a.response.allowed).toBe(true);
        expect(a.record.decision).toBe(endpoint === 'mutate' ? 'labeled' : 'warn');
        expect(() => JSON.stringify(a)).not.toThrow();
      });
    }

    it(`validate: a Workflow whose kind and name are ${label}`, () => {
      const wf = workflow();
      wf.kind = v();
      (wf.metadata as Json).name = v();
      const body = admissionReview({ ...workflow(), metadata: { namespace: 'ns' } });
      ((body.request as Json).object as Json).kind = wf.kind;
      ((body.request as Json).object as Json).metadata = wf.metadata;
      const read = readReview(body);
      expect(read.ok).toBe(true);
      if (!read.ok) return;
      const a = admit('validate', read.request, defaultPolicy);
      expect(a.record.decision).toBe('unknown');
      expect(a.response.allowed).toBe(true);
    });

    it(`the AdmissionReview's own kind is ${label}: malformed, with a reason`, () => {
      const body = admissionReview(redisDaemonPod('legacy') as unknown as Json);
      body.kind = v();
      const read = readReview(body);
      expect(read.ok).toBe(false);
      if (read.ok) return;
      expect(read.reason).toMatch(/not AdmissionReview$/);
    });
  }
});

describe('validateWorkflowObject with inline templates nested without end', () => {
  const nested = (depth: number): Json => {
    let t: Json = { name: 'leaf', daemon: true, container: { image: 'redis' } };
    for (let i = 0; i < depth; i++) t = { steps: [[{ name: `s${i}`, inline: t }]] };
    return { apiVersion: 'argoproj.io/v1alpha1', kind: 'Workflow', metadata: { name: 'deep' }, spec: { templates: [{ name: 'main', ...t }] } };
  };

  it('64 levels: read and checked', () => {
    const v = validateWorkflowObject(nested(64), 'ns', defaultPolicy);
    expect(v.unknown).toBeUndefined();
    expect(v.daemonTemplates).toHaveLength(1);
  });

  it('65 levels, and 20,000: not checked, with the reason (no stack overflow)', () => {
    for (const depth of [65, 20_000]) {
      const v = validateWorkflowObject(nested(depth), 'ns', defaultPolicy);
      expect(v.allowed).toBe(true);
      expect(v.unknown).toBe('Workflow deep nests inline templates more than 64 deep');
    }
  });
});
