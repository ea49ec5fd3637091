import { describe, expect, it } from 'vitest';
import { isWorkflowKind, readWorkflowObject, type WorkflowObjectView } from './workflow.ts';
import { objects, seeds, templateOf, type Json } from '../../test/fixtures/load.ts';

function read(obj: unknown): WorkflowObjectView {
  const r = readWorkflowObject(obj);
  if (!r.ok) throw new Error(`expected a readable object: ${r.reason}`);
  return r.value;
}

const daemonNames = (v: WorkflowObjectView) => v.templates.filter((t) => t.daemon).map((t) => t.name);

describe('readWorkflowObject: the seed workflows', () => {
  it('redis seed: one daemon template (mock-database), started once', () => {
    const v = read(seeds.redis());
    expect(v).toMatchObject({ kind: 'Workflow', name: 'daemon-workflow', namespace: 'argo', hostNetwork: false, hostPathVolumes: [], unresolved: [] });
    expect(daemonNames(v)).toEqual(['mock-database']);
    expect(v.daemons).toEqual({ count: 1, atLeast: false });
  });

  it('influxdb seed: one daemon template (influxdb) started once; a generateName workflow is named by its prefix', () => {
    const v = read(seeds.influxdb());
    expect(v.name).toBe('daemon-step-');
    expect(daemonNames(v)).toEqual(['influxdb']);
    expect(v.daemons).toEqual({ count: 1, atLeast: false });
    expect(v.templates.find((t) => t.name === 'influxdb-client')?.containers[0]?.requests).toEqual({ memory: '32Mi', cpu: '100m' });
  });
});

describe('readWorkflowObject: every object kind', () => {
  it('WorkflowTemplate with a DAG: templateRef to itself is resolved, to another WorkflowTemplate is listed as unresolved, withItems counts its items', () => {
    const v = read(objects.workflowTemplateDag());
    expect(v).toMatchObject({ kind: 'WorkflowTemplate', name: 'integration-suite', namespace: 'ci', labels: { team: 'payments' } });
    expect(daemonNames(v)).toEqual(['postgres', 'mock-api']);
    // postgres (via templateRef to this object) once + mock-api over 3 items; the other object's daemon is not counted
    expect(v.daemons).toEqual({ count: 4, atLeast: false });
    expect(v.unresolved).toEqual(['templateRef shared-cache/memcached']);
  });

  it('a templateRef to this object that names a template it does not have counts nothing', () => {
    const obj = objects.workflowTemplateDag();
    const tasks = (templateOf(obj, 'suite').dag as { tasks: Json[] }).tasks;
    tasks[0]!.templateRef = { name: 'integration-suite', template: 'no-such-template' };
    const v = read(obj);
    expect(v.daemons.count).toBe(3);
    expect(v.unresolved).toEqual(['templateRef shared-cache/memcached']);
  });

  it('ClusterWorkflowTemplate: a containerSet daemon through a cluster-scoped templateRef to itself is resolved; a namespaced templateRef of the same name is not', () => {
    const v = read(objects.clusterWorkflowTemplate());
    expect(v).toMatchObject({ kind: 'ClusterWorkflowTemplate', name: 'shared-services', namespace: '' });
    expect(daemonNames(v)).toEqual(['kafka', 'memcached']);
    const kafka = v.templates.find((t) => t.name === 'kafka')!;
    expect(kafka.body).toBe('containerSet');
    expect(kafka.containers.map((c) => c.name)).toEqual(['zookeeper', 'broker']);
    const memcached = v.templates.find((t) => t.name === 'memcached')!;
    expect(memcached.hostPathVolumes).toEqual(['host-sock:/var/run/memcached']);
    expect(memcached.containers[0]?.privileged).toBe(true);
    expect(v.daemons).toEqual({ count: 1, atLeast: false });
    expect(v.unresolved).toEqual(['templateRef shared-services/memcached']);
  });

  it('a WorkflowTemplate referring to itself with clusterScope: true names a ClusterWorkflowTemplate: unresolved', () => {
    const obj = objects.workflowTemplateDag();
    const tasks = (templateOf(obj, 'suite').dag as { tasks: Json[] }).tasks;
    tasks[0]!.templateRef = { name: 'integration-suite', template: 'postgres', clusterScope: true };
    const v = read(obj);
    expect(v.unresolved).toContain('templateRef cluster integration-suite/postgres');
    expect(v.daemons.count).toBe(3);
  });

  it('CronWorkflow: templates under spec.workflowSpec; an inline daemon step, withSequence start..end, workflow-level hostNetwork and hostPath', () => {
    const v = read(objects.cronWorkflow());
    expect(v).toMatchObject({ kind: 'CronWorkflow', name: 'nightly-load-test', namespace: 'perf', hostNetwork: true, hostPathVolumes: ['docker-sock:/var/run/docker.sock'] });
    expect(daemonNames(v)).toEqual(['redis-shard', 'load/target']);
    const inline = v.templates.find((t) => t.name === 'load/target')!;
    expect(inline.containers[0]).toMatchObject({ image: 'nginx:1.27', hasReadinessProbe: true });
    // inline target once + redis-shard 1..3 (three); the k6 loop starts no daemon
    expect(v.daemons).toEqual({ count: 4, atLeast: false });
  });

  it('a CronWorkflow without spec.workflowSpec cannot be read, and says which field is missing', () => {
    const r = readWorkflowObject({ apiVersion: 'argoproj.io/v1alpha1', kind: 'CronWorkflow', metadata: { name: 'c' }, spec: { templates: [] } });
    expect(r).toEqual({ ok: false, reason: 'CronWorkflow c has no spec.workflowSpec' });
  });

  it('a Workflow that runs a WorkflowTemplate by workflowTemplateRef lists it as unresolved', () => {
    const v = read({ apiVersion: 'argoproj.io/v1alpha1', kind: 'Workflow', metadata: { generateName: 'suite-' }, spec: { workflowTemplateRef: { name: 'integration-suite' } } });
    expect(v.unresolved).toEqual(['workflowTemplateRef integration-suite']);
    expect(v.templates).toEqual([]);
    expect(v.daemons).toEqual({ count: 0, atLeast: false });
  });

  it('a Workflow\'s templateRef is never to itself (a Workflow cannot be referenced): unresolved', () => {
    const v = read({
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Workflow',
      metadata: { name: 'suite' },
      spec: { entrypoint: 'main', templates: [{ name: 'main', steps: [[{ name: 'db', templateRef: { name: 'suite', template: 'db' } }]] }, { name: 'db', daemon: true, container: { image: 'redis' } }] },
    });
    expect(v.unresolved).toEqual(['templateRef suite/db']);
    expect(v.daemons.count).toBe(0);
  });

  it('nested inline templates: an inline steps template whose steps hold an inline daemon', () => {
    const v = read({
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Workflow',
      metadata: { name: 'nested' },
      spec: {
        entrypoint: 'main',
        templates: [{ name: 'main', dag: { tasks: [{ name: 'group', inline: { steps: [[{ name: 'svc', inline: { daemon: true, container: { image: 'redis' } } }]] } }] } }],
      },
    });
    expect(daemonNames(v)).toEqual(['main/group/svc']);
    expect(v.daemons.count).toBe(1);
  });

  it('an entrypoint that is itself a daemon template starts one daemon', () => {
    const v = read({ kind: 'Workflow', metadata: { name: 'solo' }, spec: { entrypoint: 'db', templates: [{ name: 'db', daemon: true, container: { image: 'redis' } }] } });
    expect(v.daemons).toEqual({ count: 1, atLeast: false });
  });
});

describe('daemonsPerWorkflow counting: how loops count', () => {
  it('withItems counts its items, withSequence its literal count, a templated count or withParam counts once and makes it "at least"', () => {
    const v = read(objects.workflowLoops());
    // caches 2 + brokers 3 + replicas ("{{workflow.parameters.shards}}": once) + per-target (withParam: once)
    expect(v.daemons).toEqual({ count: 7, atLeast: true });
  });

  const step = (loop: Json) => ({
    kind: 'Workflow',
    metadata: { name: 'loop' },
    spec: { entrypoint: 'main', templates: [{ name: 'main', steps: [[{ name: 's', template: 'db', ...loop }]] }, { name: 'db', daemon: true, container: { image: 'redis' } }] },
  });
  const table: [string, Json, { count: number; atLeast: boolean }][] = [
    ['no loop', {}, { count: 1, atLeast: false }],
    ['withItems of 4', { withItems: [1, 2, 3, 4] }, { count: 4, atLeast: false }],
    ['withItems empty', { withItems: [] }, { count: 0, atLeast: false }],
    ['withSequence count "5"', { withSequence: { count: '5' } }, { count: 5, atLeast: false }],
    ['withSequence count 5 (a number)', { withSequence: { count: 5 } }, { count: 5, atLeast: false }],
    ['withSequence start 2 end 6 (inclusive)', { withSequence: { start: '2', end: '6' } }, { count: 5, atLeast: false }],
    ['withSequence end 3 (start defaults to 0)', { withSequence: { end: '3' } }, { count: 4, atLeast: false }],
    ['withSequence counting down 5..1', { withSequence: { start: '5', end: '1' } }, { count: 5, atLeast: false }],
    ['withSequence count from a parameter', { withSequence: { count: '{{inputs.parameters.n}}' } }, { count: 1, atLeast: true }],
    ['withParam', { withParam: '{{steps.gen.outputs.result}}' }, { count: 1, atLeast: true }],
  ];
  for (const [what, loop, expected] of table) {
    it(`${what} → ${expected.atLeast ? 'at least ' : ''}${expected.count}`, () => {
      expect(read(step(loop)).daemons).toEqual(expected);
    });
  }

  it('non-daemon loops count nothing', () => {
    const obj = step({ withItems: [1, 2, 3] });
    ((obj.spec.templates[1] as Json).daemon as unknown) = false;
    expect(read(obj).daemons).toEqual({ count: 0, atLeast: false });
  });
});

describe('readWorkflowObject: malformed input never throws', () => {
  const cases: [string, unknown, string][] = [
    ['undefined', undefined, 'kind undefined is not one of'],
    ['a Pod', { kind: 'Pod', metadata: { name: 'p' } }, 'kind "Pod" is not one of'],
    ['no spec', { kind: 'Workflow', metadata: { name: 'w' } }, 'Workflow w has no spec'],
    ['spec a string', { kind: 'WorkflowTemplate', metadata: { name: 'w' }, spec: 'x' }, 'WorkflowTemplate w has no spec'],
    ['no metadata', { kind: 'Workflow' }, 'Workflow (unnamed) has no spec'],
  ];
  for (const [what, obj, reason] of cases) {
    it(`${what} → not ok: ${reason}`, () => {
      const r = readWorkflowObject(obj);
      expect(r.ok).toBe(false);
      expect(!r.ok && r.reason).toContain(reason);
    });
  }

  it('wrong types inside the spec read as nothing', () => {
    const v = read({
      kind: 'Workflow',
      metadata: { name: 7, labels: { a: 1, b: 'x' } },
      spec: { templates: [null, 'x', { name: 'main', steps: 'x', dag: { tasks: {} } }, { name: 'd', daemon: true, steps: [['x', null, { template: 5 }]] }], volumes: {}, hostNetwork: 'yes' },
    });
    expect(v.name).toBe('');
    expect(v.labels).toEqual({ b: 'x' });
    expect(v.hostNetwork).toBe(false);
    expect(v.daemons.count).toBe(0);
  });

  it('kind names Argo\'s four kinds only', () => {
    expect(['Workflow', 'WorkflowTemplate', 'ClusterWorkflowTemplate', 'CronWorkflow'].every(isWorkflowKind)).toBe(true);
    expect(isWorkflowKind('WorkflowEventBinding')).toBe(false);
    expect(isWorkflowKind(undefined)).toBe(false);
  });
});
