import { describe, expect, it } from 'vitest';
import { gzipSync } from 'node:zlib';
import { decodeCompressedNodes, fulfilled, readNodes, readWorkflow, type WorkflowState } from './status.ts';
import { compress, encodings, fnv32a, nodeIdOf, workflowObject, type NodeSpec } from '../../test/support/workflows.ts';

const wf = 'daemon-step-dvbnn';
// examples/daemon-step.yaml as Argo runs it: influx is a retried daemon, the client steps follow.
const nodes: NodeSpec[] = [
  { name: wf, type: 'Steps', phase: 'Running', template: 'daemon-example', children: [`${wf}[0]`] },
  { name: `${wf}[0]`, type: 'StepGroup', phase: 'Succeeded', boundary: wf, children: [`${wf}[0].influx`] },
  { name: `${wf}[0].influx`, type: 'Retry', phase: 'Running', boundary: wf, template: 'influxdb', daemoned: true, children: [`${wf}[0].influx(0)`] },
  { name: `${wf}[0].influx(0)`, type: 'Pod', phase: 'Running', boundary: wf, template: 'influxdb', daemoned: true, finishedAt: '2025-03-01T10:00:09Z' },
  { name: `${wf}[1]`, type: 'StepGroup', phase: 'Running', boundary: wf, children: [`${wf}[1].init-database`] },
  { name: `${wf}[1].init-database`, type: 'Pod', phase: 'Running', boundary: wf, template: 'influxdb-client' },
];

function read(obj: unknown): WorkflowState {
  const r = readWorkflow(obj);
  if (!r.ok) throw new Error(r.reason);
  return r.value;
}

describe('node ids', () => {
  it('are <workflow>-<fnv32a(node name)>, the root node id is the workflow name', () => {
    expect(nodeIdOf(wf, `${wf}[0].influx(0)`)).toBe('daemon-step-dvbnn-2254877734');
    expect(nodeIdOf(wf, wf)).toBe(wf);
    expect(fnv32a('')).toBe(0x811c9dc5);
  });
});

describe('readWorkflow', () => {
  it('reads identity, phase, times and the instance id', () => {
    const s = read(
      workflowObject({
        name: wf,
        uid: 'u-1',
        phase: 'Succeeded',
        finishedAt: '2025-03-01T10:05:00Z',
        deletionTimestamp: '2025-03-01T10:06:00Z',
        labels: { 'workflows.argoproj.io/controller-instanceid': 'ci' },
        nodes,
      }),
    );
    expect(s).toMatchObject({ uid: 'u-1', name: wf, namespace: 'argo', phase: 'Succeeded', completed: true, instanceId: 'ci' });
    expect(s.finishedAt).toBe(Date.parse('2025-03-01T10:05:00Z'));
    expect(s.deletionTimestamp).toBe(Date.parse('2025-03-01T10:06:00Z'));
  });

  it.each([
    ['Pending', false],
    ['Running', false],
    ['Succeeded', true],
    ['Failed', true],
    ['Error', true],
  ])('phase %s → completed %s', (phase, completed) => {
    expect(read(workflowObject({ name: wf, uid: 'u', phase, nodes: [] })).completed).toBe(completed);
  });

  it('an unknown phase reads as "" and not complete; a completed label alone does not complete it', () => {
    const obj = workflowObject({ name: wf, uid: 'u', phase: 'Running', nodes: [], labels: { 'workflows.argoproj.io/completed': 'true' } });
    (obj.status as Record<string, unknown>).phase = 'Finished';
    expect(read(obj)).toMatchObject({ phase: '', completed: false });
  });

  it('keeps Pod and scope nodes, drops StepGroup/Retry/Container/…, and never keeps a Pod node finishedAt', () => {
    const s = read(workflowObject({ name: wf, uid: 'u', phase: 'Running', nodes }));
    if (s.nodes.kind !== 'nodes') throw new Error(s.nodes.kind);
    expect([...s.nodes.nodes.keys()].sort()).toEqual([wf, nodeIdOf(wf, `${wf}[0].influx(0)`), nodeIdOf(wf, `${wf}[1].init-database`)].sort());
    expect(s.nodes.nodes.get(nodeIdOf(wf, `${wf}[0].influx(0)`))).toEqual({
      id: 'daemon-step-dvbnn-2254877734',
      type: 'Pod',
      phase: 'Running',
      boundaryID: wf,
      daemoned: true,
      templateName: 'influxdb',
    });
    expect(s.nodes.nodes.get(wf)).toEqual({ id: wf, type: 'Steps', phase: 'Running', boundaryID: '', daemoned: false });
  });

  it('keeps a scope node finishedAt', () => {
    const s = read(workflowObject({ name: wf, uid: 'u', phase: 'Running', nodes: [{ name: wf, type: 'DAG', phase: 'Failed', finishedAt: '2025-03-01T10:01:00Z' }] }));
    expect(s.nodes.kind === 'nodes' && s.nodes.nodes.get(wf)?.finishedAt).toBe(Date.parse('2025-03-01T10:01:00Z'));
  });

  it('keeps nodes of a type it does not know (a future Argo), so they are never "missing"', () => {
    const obj = workflowObject({ name: wf, uid: 'u', phase: 'Running', nodes: [{ name: `${wf}.x`, type: 'Pod', phase: 'Running', boundary: wf }] });
    const map = (obj.status as { nodes: Record<string, Record<string, unknown>> }).nodes;
    Object.values(map)[0]!.type = 'Sandbox';
    const s = read(obj);
    expect(s.nodes.kind === 'nodes' && s.nodes.nodes.get(nodeIdOf(wf, `${wf}.x`))?.type).toBe('Sandbox');
  });

  it.each(encodings.filter((e) => e !== 'offloaded'))('reads the node map from %s the same way', (encoding) => {
    const s = read(workflowObject({ name: wf, uid: 'u', phase: 'Running', nodes, encoding }));
    const inline = read(workflowObject({ name: wf, uid: 'u', phase: 'Running', nodes }));
    expect(s.nodes.kind).toBe('nodes');
    if (s.nodes.kind !== 'nodes' || inline.nodes.kind !== 'nodes') return;
    expect(s.nodes.source).toBe(encoding === 'nodes' ? 'inline' : encoding);
    expect([...s.nodes.nodes.entries()]).toEqual([...inline.nodes.nodes.entries()]);
  });

  it('offloadNodeStatusVersion → offloaded, even when a stale node map is present', () => {
    const obj = workflowObject({ name: wf, uid: 'u', phase: 'Running', nodes, encoding: 'offloaded' });
    expect(read(obj).nodes).toEqual({ kind: 'offloaded', version: 'fnv:3412375329' });
    (obj.status as Record<string, unknown>).nodes = {};
    expect(read(obj).nodes.kind).toBe('offloaded');
  });

  it('a Workflow with no status yet has an empty, readable node map', () => {
    const s = read({ apiVersion: 'argoproj.io/v1alpha1', kind: 'Workflow', metadata: { name: wf, namespace: 'argo', uid: 'u' }, spec: {} });
    expect(s).toMatchObject({ phase: '', completed: false, finishedAt: undefined, deletionTimestamp: undefined });
    expect(s.nodes.kind === 'nodes' && s.nodes.nodes.size).toBe(0);
  });

  it.each([
    ['wrong kind', { kind: 'Pod', metadata: { name: 'x', uid: 'u' } }, /kind "Pod"/],
    ['no metadata', { kind: 'Workflow' }, /no metadata/],
    ['no name', { kind: 'Workflow', metadata: { uid: 'u' } }, /no metadata.name/],
    ['no uid', { kind: 'Workflow', metadata: { name: 'x' } }, /x has no metadata.uid/],
    ['not an object', 'hello', /no metadata/],
  ])('refuses a Workflow with %s, naming why', (_, obj, reason) => {
    const r = readWorkflow(obj);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(reason);
  });
});

describe('readNodes: malformed or undecodable → a reason, never a throw', () => {
  it('an offloadNodeStatusVersion that String() cannot convert still reads as offloaded', () => {
    expect(readNodes({ offloadNodeStatusVersion: { toString: 1 } })).toEqual({ kind: 'offloaded', version: '{"toString":1}' });
    expect(readNodes({ offloadNodeStatusVersion: 'fnv:123' })).toEqual({ kind: 'offloaded', version: 'fnv:123' });
  });

  it.each([
    ['not base64', { compressedNodes: 'not base64!!' }, /not base64/],
    ['a number', { compressedNodes: 42 }, /not a string/],
    ['gzip magic, corrupt body', { compressedNodes: Buffer.from([0x1f, 0x8b, 1, 2, 3, 4]).toString('base64') }, /looks like gzip/],
    ['zstd magic, corrupt body', { compressedNodes: Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 9, 9, 9]).toString('base64') }, /looks like zstd/],
    ['random bytes (not brotli either)', { compressedNodes: Buffer.from('definitely not compressed data at all').toString('base64') }, /neither gzip, zstd nor brotli/],
    ['gzip of non-JSON', { compressedNodes: gzipSync('{nope').toString('base64') }, /\(gzip\) is not JSON/],
    ['gzip of a JSON array', { compressedNodes: compress('gzip', '[1,2]') }, /\(gzip\) is not a map of nodes/],
    ['zstd of a JSON string', { compressedNodes: compress('zstd', '"x"') }, /\(zstd\) is not a map of nodes/],
    ['nodes as a list', { nodes: [{ id: 'a' }] }, /status.nodes is not a map/],
  ])('%s', (_, status, reason) => {
    const n = readNodes(status);
    expect(n.kind).toBe('unreadable');
    if (n.kind === 'unreadable') expect(n.reason).toMatch(reason);
  });

  it('skips entries that are not objects and reads odd fields as their safe defaults', () => {
    const n = readNodes({ nodes: { a: 'x', b: { type: 'Pod', phase: 7, boundaryID: 3, daemoned: 'true' } } });
    expect(n.kind === 'nodes' && [...n.nodes.values()]).toEqual([{ id: 'b', type: 'Pod', phase: '', boundaryID: '', daemoned: false }]);
  });

  it('decodes brotli, which has no magic number, last', () => {
    const r = decodeCompressedNodes(compress('brotli', '{}'));
    expect(r).toEqual({ ok: true, codec: 'brotli', json: '{}' });
  });
});

describe('fulfilled (Argo NodePhase.Fulfilled)', () => {
  it.each([
    ['Succeeded', true],
    ['Failed', true],
    ['Error', true],
    ['Skipped', true],
    ['Omitted', true],
    ['Running', false],
    ['Pending', false],
    ['', false],
  ] as const)('%s → %s', (phase, want) => expect(fulfilled(phase)).toBe(want));
});
