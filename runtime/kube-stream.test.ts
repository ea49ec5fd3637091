// The list splitter: items come out one by one, whole and in order, however the bytes are chunked.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ListSplitter, parseWatchLine, type MemberPath } from './kube-stream.ts';

function split(text: string, cuts: number[], members?: MemberPath): { items: unknown[]; rest: unknown; members: ([string, string][] | undefined)[] } {
  const bytes = Buffer.from(text, 'utf8');
  const items: unknown[] = [];
  const taken: ([string, string][] | undefined)[] = [];
  const s = new ListSplitter((raw, m) => (items.push(raw), taken.push(m)), members);
  let from = 0;
  for (const cut of [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)) {
    s.push(bytes.subarray(from, cut));
    from = cut;
  }
  s.push(bytes.subarray(from));
  return { items, rest: s.end(), members: taken };
}

const tricky = [
  { metadata: { name: 'a "quoted" \\ name', uid: '1' }, status: { nodes: { 'x[0]': { phase: 'Running', children: ['y', 'z'] } } } },
  { metadata: { name: 'items', annotations: { items: '[{"not":"an item"}]', '}': ']' } }, spec: { list: [[1, 2], [], {}] } },
  { metadata: { name: 'ünïcödé ✓ 🐘', uid: '\\"' }, items: [{ nested: true }] },
];

describe('ListSplitter', () => {
  it('yields each item of a list and keeps the rest', () => {
    const list = { kind: 'WorkflowList', apiVersion: 'v1', metadata: { resourceVersion: '42', continue: 'abc"def' }, items: tricky };
    const { items, rest } = split(JSON.stringify(list), []);
    expect(items).toEqual(tricky);
    expect(rest).toEqual({ ...list, items: [] });
  });

  it('does not depend on where the chunks are cut, nor on the order of the keys', () => {
    const lists = [
      JSON.stringify({ kind: 'List', metadata: { resourceVersion: '7' }, items: tricky }),
      JSON.stringify({ items: tricky, metadata: { continue: 'c', resourceVersion: '8' }, kind: 'items' }),
      JSON.stringify({ kind: 'List', metadata: { resourceVersion: '9' }, items: [] }),
      JSON.stringify({ kind: 'List', metadata: { resourceVersion: '9' }, items: tricky }, null, 2),
    ];
    fc.assert(
      fc.property(fc.constantFrom(...lists), fc.array(fc.nat(), { maxLength: 40 }), (text, cuts) => {
        const parsed = JSON.parse(text) as { items: unknown[] };
        const { items, rest } = split(text, cuts);
        expect(items).toEqual(parsed.items);
        expect(rest).toEqual({ ...parsed, items: [] });
      }),
      { numRuns: 400 },
    );
  });

  it('leaves managedFields out, and hands the member map over member by member', () => {
    const wf = (name: string) => ({
      metadata: { name, managedFields: [{ manager: 'argo', fieldsV1: { 'f:status': { 'f:nodes': { [`f:${name}-1`]: {} } } } }], labels: { a: 'b' } },
      spec: { nodes: { x: {} } },
      status: { phase: 'Running', nodes: { [`${name}-1`]: { id: `${name}-1`, phase: 'Running', children: ['}', '{'] }, [`${name}-"2"`]: { id: 'q\\"' }, odd: null }, finishedAt: null },
    });
    const list = { kind: 'WorkflowList', metadata: { resourceVersion: '3' }, items: [wf('a'), wf('b'), { metadata: { name: 'c' }, status: { nodes: [] } }] };
    const text = JSON.stringify(list);
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 30 }), (cuts) => {
        const { items, members } = split(text, cuts, ['status', 'nodes']);
        const strip = (o: ReturnType<typeof wf>) => ({ ...o, metadata: { ...o.metadata, managedFields: [] }, status: { ...o.status, nodes: {} } });
        expect(items).toEqual([strip(wf('a')), strip(wf('b')), { metadata: { name: 'c' }, status: { nodes: [] } }]);
        expect(members[0]!.map(([k, v]) => [k, JSON.parse(v)])).toEqual([
          ['a-1', wf('a').status.nodes['a-1']],
          ['a-"2"', wf('a').status.nodes['a-"2"']],
        ]);
        expect(members[1]!.map(([k]) => k)).toEqual(['b-1', 'b-"2"']);
        expect(members[2]).toBeUndefined();
      }),
      { numRuns: 300 },
    );
  });

  it('refuses a list cut short', () => {
    const s = new ListSplitter(() => {});
    s.push(Buffer.from('{"metadata":{},"items":[{"a":1},{"b":'));
    expect(() => s.end()).toThrow(/middle/);
  });
});

describe('parseWatchLine', () => {
  const object = { metadata: { name: 'w', managedFields: [{ a: 1 }] }, status: { phase: 'Running', nodes: { 'w-1': { id: 'w-1', phase: 'Running' } } } };
  it('takes the member map apart as a list does', () => {
    const e = parseWatchLine(JSON.stringify({ type: 'MODIFIED', object }), ['status', 'nodes']);
    expect(e.type).toBe('MODIFIED');
    expect(e.object).toEqual({ metadata: { name: 'w', managedFields: [] }, status: { phase: 'Running', nodes: {} } });
    expect(e.members?.map(([k, v]) => [k, JSON.parse(v)])).toEqual([['w-1', { id: 'w-1', phase: 'Running' }]]);
  });
  it('parses other lines whole: bookmarks, errors, another key order, no members asked', () => {
    const bookmark = { type: 'BOOKMARK', object: { metadata: { resourceVersion: '5' } } };
    expect(parseWatchLine(JSON.stringify(bookmark), ['status', 'nodes'])).toEqual(bookmark);
    const error = { type: 'ERROR', object: { code: 410 } };
    expect(parseWatchLine(JSON.stringify(error), ['status', 'nodes'])).toEqual(error);
    const reordered = { object, type: 'ADDED' };
    expect(parseWatchLine(JSON.stringify(reordered), ['status', 'nodes'])).toEqual(reordered);
    expect(parseWatchLine(JSON.stringify({ type: 'ADDED', object }))).toEqual({ type: 'ADDED', object });
  });
  it('refuses a line that is not JSON', () => {
    expect(() => parseWatchLine('{"type":"ADDED","object":{"a":', ['status', 'nodes'])).toThrow();
  });
});
