import { describe, expect, it } from 'vitest';
import { reaperConfig } from './config.ts';
import { flattenDocuments } from '../data.ts';
import { explain, explainJson, explainText, rfc3339 } from './explain.ts';
import { reasonNames, reasons, reasonsMarkdown } from './reasons.ts';
import { argoPod, clientStep, redisDaemon, workflowObject, type NodeSpec } from '../../test/support/workflows.ts';

const wf = 'explain-wf-8k2l1';
const uid = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';
const scope = `${wf}[0].with-db`;
const nodes: NodeSpec[] = [
  { name: wf, type: 'Steps', phase: 'Running', template: 'main' },
  { name: scope, type: 'Steps', phase: 'Succeeded', boundary: wf, template: 'with-db', finishedAt: '2025-03-01T10:03:00Z' },
  { name: `${scope}[0].db`, type: 'Pod', phase: 'Succeeded', boundary: scope, template: 'redis' },
  { name: `${wf}[1].live`, type: 'Pod', phase: 'Running', daemoned: true, boundary: wf, template: 'redis' },
  { name: `${wf}[1].client`, type: 'Pod', phase: 'Running', boundary: wf, template: 'client' },
];
const workflow = workflowObject({ name: wf, uid, phase: 'Running', nodes });
const pods = {
  apiVersion: 'v1',
  kind: 'List',
  items: [
    argoPod({ workflow: wf, workflowUid: uid, nodeName: `${scope}[0].db`, template: redisDaemon, phase: 'Running', uid: 'p-db' }),
    argoPod({ workflow: wf, workflowUid: uid, nodeName: `${wf}[1].live`, template: redisDaemon, phase: 'Running', uid: 'p-live' }),
    argoPod({ workflow: wf, workflowUid: uid, nodeName: `${wf}[1].client`, template: clientStep, phase: 'Running', uid: 'p-client' }),
  ],
};
const config = reaperConfig();
const now = new Date('2025-03-01T10:03:30Z');

describe('explain', () => {
  it('prints one JSON line per pod with exactly the contract keys, in order', () => {
    const ex = explain({ pods, workflows: workflow, config, now });
    expect(ex.problems).toEqual([]);
    const lines = explainJson(ex).trimEnd().split('\n');
    expect(lines).toEqual([
      '{"namespace":"argo","pod":"' + ex.lines[0]!.pod + '","uid":"p-db","decision":"wait","reason":"boundary-fulfilled","notBefore":"2025-03-01T10:04:00Z"}',
      '{"namespace":"argo","pod":"' + ex.lines[1]!.pod + '","uid":"p-live","decision":"keep","reason":"scope-live","notBefore":null}',
      '{"namespace":"argo","pod":"' + ex.lines[2]!.pod + '","uid":"p-client","decision":"keep","reason":"not-a-daemon","notBefore":null}',
    ]);
    for (const l of lines) expect(Object.keys(JSON.parse(l))).toEqual(['namespace', 'pod', 'uid', 'decision', 'reason', 'notBefore']);
  });

  it('without --workflow the owner counts as gone; the grace runs from --first-seen, else --now', () => {
    const noFirstSeen = explain({ pods, config, now });
    expect(noFirstSeen.lines.map((l) => [l.decision, l.reason, l.notBefore])).toEqual([
      ['wait', 'owner-gone', '2025-03-01T10:04:30Z'],
      ['wait', 'owner-gone', '2025-03-01T10:04:30Z'],
      ['keep', 'not-a-daemon', null],
    ]);
    const seen = explain({ pods, config, now, firstSeen: new Date('2025-03-01T09:00:00Z') });
    expect(seen.lines.map((l) => [l.decision, l.notBefore])).toEqual([
      ['reap', '2025-03-01T09:01:00Z'],
      ['reap', '2025-03-01T09:01:00Z'],
      ['keep', null],
    ]);
  });

  it('accepts many documents (a YAML stream) as well as Lists, and a List of Workflows', () => {
    const ex = explain({ pods: [pods.items[0], null, { kind: 'PodList', items: [pods.items[1]] }], workflows: { kind: 'List', items: [workflow] }, config, now });
    expect(ex.lines.map((l) => l.reason)).toEqual(['boundary-fulfilled', 'scope-live']);
  });

  it('reports documents it cannot use instead of failing', () => {
    const ex = explain({ pods: [{ kind: 'Service', metadata: { name: 's' } }, 'text', pods.items[0]], workflows: [{ kind: 'Workflow', metadata: { name: 'x' } }], config, now });
    expect(ex.problems).toEqual(['workflow document 1: Workflow x has no metadata.uid', 'pod document 1: kind "Service" is not Pod', 'pod document 2: not an object']);
    expect(ex.lines).toHaveLength(1);
  });

  it('a Workflow of another namespace is not this pod\'s', () => {
    const other = workflowObject({ name: wf, uid, namespace: 'elsewhere', phase: 'Running', nodes });
    expect(explain({ pods: pods.items[1], workflows: other, config, now }).lines[0]!.reason).toBe('owner-gone');
  });

  it('renders text for people, marking dry-run reaps', () => {
    const ex = explain({ pods, workflows: workflow, config, now: new Date('2025-03-01T11:00:00Z') });
    const text = explainText(ex, reaperConfig({ dryRun: true }));
    expect(text.split('\n')[0]).toMatch(/^NAMESPACE\s+POD\s+DECISION\s+REASON\s+NOT BEFORE$/);
    expect(text).toContain('reap (dry-run)');
    expect(text).toContain(`boundary-fulfilled: ${reasons['boundary-fulfilled'].description}`);
    expect(explainText(explain({ pods: [], config, now }), config)).toBe('no pods\n');
  });

  it('formats RFC 3339 UTC, without a fraction for whole seconds', () => {
    expect(rfc3339(new Date('2025-03-01T10:04:00Z'))).toBe('2025-03-01T10:04:00Z');
    expect(rfc3339(new Date('2025-03-01T10:04:00.250Z'))).toBe('2025-03-01T10:04:00.250Z');
  });

  it('flattens nested documents', () => {
    expect(flattenDocuments([{ kind: 'List', items: [1, [2, 3]] }, undefined, 4])).toEqual([1, 2, 3, 4]);
    expect(flattenDocuments({ kind: 'Pod', items: [1] })).toEqual([{ kind: 'Pod', items: [1] }]);
  });
});

describe('reasons', () => {
  it('are kebab-case tokens, each described once, and render as a README table', () => {
    for (const r of reasonNames) {
      expect(r).toMatch(/^[a-z]+(-[a-z]+)*$/);
      expect(reasons[r].description.length).toBeGreaterThan(10);
    }
    const table = reasonsMarkdown().split('\n');
    expect(table).toHaveLength(reasonNames.length + 2);
    expect(table[2]).toContain('`boundary-fulfilled` | wait, reap |');
  });
});
