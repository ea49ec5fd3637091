// The reap procedure against a stand-in API server: every outcome, and what it leaves behind.
import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { Writable } from 'node:stream';
import { readWorkflow } from '../core/argo/status.ts';
import { reaperConfig, type ReaperConfigFile } from '../core/leftover/config.ts';
import { decide } from '../core/leftover/decide.ts';
import { readPod } from '../core/leftover/pod.ts';
import { argoPod, redisDaemon, workflowObject, type WorkflowSpec } from '../test/support/workflows.ts';
import type { DeleteResult, EventTarget, ReaperCluster } from './cluster.ts';
import { createReaperMetrics } from './metrics.ts';
import { reapLeftover, type ReapDeps } from './reap.ts';
import { CircuitBreaker, RateLimit } from './valves.ts';

const wfName = 'daemon-workflow';
const wfUid = 'c0ffee00-0000-4000-8000-000000000001';
const ended = '2025-03-01T10:00:30Z';
const completed: WorkflowSpec = {
  name: wfName,
  uid: wfUid,
  phase: 'Succeeded',
  startedAt: '2025-03-01T10:00:00Z',
  finishedAt: ended,
  nodes: [
    { name: wfName, type: 'Steps', phase: 'Succeeded', children: [`${wfName}[0]`], finishedAt: ended },
    { name: `${wfName}[0]`, type: 'StepGroup', phase: 'Succeeded', boundary: wfName, finishedAt: ended },
    { name: `${wfName}[0].start-database`, type: 'Pod', phase: 'Succeeded', boundary: wfName, template: 'redis', daemoned: false, finishedAt: '2025-03-01T10:00:10Z' },
  ],
};
const rawPod = (resourceVersion = '100') => {
  const pod = argoPod({ workflow: wfName, workflowUid: wfUid, nodeName: `${wfName}[0].start-database`, template: redisDaemon, phase: 'Running', guardLabels: true, terminationGracePeriodSeconds: 5 });
  (pod.metadata as { resourceVersion?: string }).resourceVersion = resourceVersion;
  return pod;
};
type RawMeta = { metadata: { uid: string; resourceVersion?: string } };

/** A stand-in API server: one pod, one Workflow, deletes that may or may not make the pod go. */
function standIn(o: { podGoes?: 'at-once' | 'never' | 'on-force'; workflow?: unknown } = {}) {
  let pod: unknown = rawPod();
  const calls: { gets: number; deletes: { uid: string; grace: number; resourceVersion?: string }[]; events: { target: EventTarget; reason: string; type: string }[] } = { gets: 0, deletes: [], events: [] };
  const cluster: ReaperCluster = {
    async getPod() {
      calls.gets++;
      return pod && structuredClone(pod);
    },
    async getWorkflow() {
      return o.workflow === undefined ? workflowObject(completed) : (o.workflow ?? undefined);
    },
    async deletePod(_ns, _name, uid, grace, resourceVersion): Promise<DeleteResult> {
      calls.deletes.push({ uid, grace, ...(resourceVersion === undefined ? {} : { resourceVersion }) });
      if (!pod) return 'gone';
      const meta = (pod as RawMeta).metadata;
      if (meta.uid !== uid || (resourceVersion !== undefined && meta.resourceVersion !== resourceVersion)) return 'conflict';
      const goes = o.podGoes ?? 'at-once';
      if (goes === 'at-once' || (goes === 'on-force' && grace === 0)) pod = undefined;
      return 'accepted';
    },
    async event(target, type, reason) {
      calls.events.push({ target, type, reason });
    },
  };
  return { cluster, calls, replacePod: (p: unknown) => (pod = p) };
}

function setup(o: { config?: ReaperConfigFile; dryRunFlag?: boolean; rate?: RateLimit; breaker?: CircuitBreaker; cluster: ReaperCluster }) {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'debug' }, new Writable({ write: (c: Buffer, _e, cb) => (lines.push(JSON.parse(c.toString())), cb()) }));
  const metrics = createReaperMetrics({ defaultMetrics: false });
  let clock = Date.parse('2025-03-01T10:02:00Z');
  const tripped: string[] = [];
  const config = reaperConfig({ graceMargin: '2s', ...o.config });
  const deps: ReapDeps = {
    cluster: o.cluster,
    log,
    metrics,
    rate: o.rate ?? new RateLimit(60),
    breaker: o.breaker ?? new CircuitBreaker(100, 600_000),
    config: () => config,
    dryRunFlag: o.dryRunFlag ?? false,
    now: () => clock,
    sleep: async (ms) => void (clock += ms),
    onBreakerTripped: (d) => tripped.push(d),
  };
  const pod = readPod(rawPod());
  const wf = readWorkflow(workflowObject(completed));
  if (!wf.ok) throw new Error(wf.reason);
  const verdict = decide({ pod, workflow: wf.value, now: new Date(clock), config });
  return { deps, verdict, lines, metrics, tripped };
}

const audit = (lines: Record<string, unknown>[]) => lines.filter((l) => l.event === 'reap');

describe('reaping a leftover daemon', () => {
  it('deletes it with a uid precondition and its grace, verifies it is gone, and records it everywhere', async () => {
    const s = standIn();
    const { deps, verdict, lines, metrics } = setup({ cluster: s.cluster });
    expect(verdict).toMatchObject({ decision: 'reap', reason: 'boundary-fulfilled' });
    const r = await reapLeftover(verdict, new Date(), deps);
    expect(r.outcome).toBe('deleted');
    expect(s.calls.deletes).toEqual([{ uid: verdict.uid, grace: 5 }]);
    expect(audit(lines)).toHaveLength(1);
    expect(audit(lines)[0]).toMatchObject({ workflow: wfName, workflowUid: wfUid, namespace: 'argo', pod: verdict.pod, podUid: verdict.uid, reason: 'boundary-fulfilled', scopeEndedAt: '2025-03-01T10:00:30.000Z', action: 'delete', outcome: 'deleted' });
    expect(audit(lines)[0]!.nodeId).toBe(verdict.nodeId);
    expect(s.calls.events.map((e) => `${e.target.kind}:${e.reason}`)).toEqual(['Workflow:DaemonReaped', 'Pod:DaemonReaped']);
    expect(s.calls.events[0]!.target.uid).toBe(wfUid);
    expect((await metrics.reaps.get()).values).toEqual([expect.objectContaining({ labels: { reason: 'boundary-fulfilled', outcome: 'deleted' }, value: 1 })]);
  });

  it('in dry-run deletes nothing and records a would-reap', async () => {
    for (const how of [{ dryRunFlag: true }, { config: { dryRun: true } }, { config: { dryRunNamespaces: ['ar*'] } }]) {
      const s = standIn();
      const { deps, verdict, lines } = setup({ cluster: s.cluster, ...how });
      const r = await reapLeftover(verdict, new Date(), deps);
      expect(r.outcome).toBe('would-reap');
      expect(s.calls.deletes).toEqual([]);
      expect(audit(lines)[0]).toMatchObject({ outcome: 'would-reap', action: 'none', dryRun: true });
      expect(s.calls.events.map((e) => e.reason)).toEqual(['DaemonWouldReap', 'DaemonWouldReap']);
    }
  });

  it('does nothing when the fresh Workflow says the scope is live again (a stale cache)', async () => {
    const live: WorkflowSpec = {
      ...completed,
      phase: 'Running',
      finishedAt: undefined,
      nodes: completed.nodes.map((n) => ({ ...n, phase: n.type === 'Pod' ? 'Running' : 'Running', daemoned: n.type === 'Pod' ? true : undefined, finishedAt: undefined })),
    };
    const s = standIn({ workflow: workflowObject(live) });
    const { deps, verdict } = setup({ cluster: s.cluster });
    const r = await reapLeftover(verdict, new Date(), deps);
    expect(r.outcome).toBe('not-leftover');
    expect(r.verdict).toMatchObject({ decision: 'keep', reason: 'scope-live' });
    expect(s.calls.deletes).toEqual([]);
  });

  it('never deletes a pod that now has another uid under the same name', async () => {
    const s = standIn();
    const other = rawPod();
    other.metadata.uid = 'a-new-pod';
    s.replacePod(other);
    const { deps, verdict } = setup({ cluster: s.cluster });
    const r = await reapLeftover(verdict, new Date(), deps);
    expect(r.outcome).toBe('uid-changed');
    expect(s.calls.deletes).toEqual([]);
  });

  it('waits its turn under the rate limit', async () => {
    const s = standIn();
    const rate = new RateLimit(1);
    rate.take(Date.parse('2025-03-01T10:01:30Z'));
    const { deps, verdict } = setup({ cluster: s.cluster, rate });
    const r = await reapLeftover(verdict, new Date(), deps);
    expect(r).toMatchObject({ outcome: 'rate-limited', retryAt: Date.parse('2025-03-01T10:02:30Z') });
    expect(s.calls.deletes).toEqual([]);
  });

  it('turns to dry-run when the circuit breaker trips, and says so once', async () => {
    const s = standIn();
    const breaker = new CircuitBreaker(1, 600_000);
    breaker.admit(Date.parse('2025-03-01T10:01:00Z'));
    const { deps, verdict, tripped, lines } = setup({ cluster: s.cluster, breaker });
    const r = await reapLeftover(verdict, new Date(), deps);
    expect(r.outcome).toBe('would-reap');
    expect(breaker.tripped).toBe(true);
    expect(tripped).toHaveLength(1);
    expect(audit(lines)[0]).toMatchObject({ outcome: 'would-reap', circuitOpen: true });
    expect(s.calls.deletes).toEqual([]);
  });

  it('reports a pod still there after grace plus margin as stuck, and forces it only when configured', async () => {
    const stuck = standIn({ podGoes: 'never' });
    const a = setup({ cluster: stuck.cluster });
    expect((await reapLeftover(a.verdict, new Date(), a.deps)).outcome).toBe('stuck');
    expect(stuck.calls.deletes.map((d) => d.grace)).toEqual([5]);
    expect(stuck.calls.events.map((e) => `${e.type}:${e.reason}`)).toContain('Warning:DaemonStuck');

    const forced = standIn({ podGoes: 'on-force' });
    const b = setup({ cluster: forced.cluster, config: { stuck: 'force' } });
    expect((await reapLeftover(b.verdict, new Date(), b.deps)).outcome).toBe('forced');
    expect(forced.calls.deletes.map((d) => d.grace)).toEqual([5, 0]);
  });

  it('records an API failure as an error and deletes nothing', async () => {
    const s = standIn();
    s.cluster.deletePod = async () => {
      throw new Error('HTTP 500: etcd unavailable');
    };
    const { deps, verdict, lines } = setup({ cluster: s.cluster });
    const r = await reapLeftover(verdict, new Date(), deps);
    expect(r.outcome).toBe('error');
    expect(audit(lines)[0]).toMatchObject({ outcome: 'error', err: 'HTTP 500: etcd unavailable' });
  });
});

describe('the cached pod instead of a fresh read (the delete is pinned to its resourceVersion)', () => {
  it('reads only the Workflow, and deletes with the uid and resourceVersion the decision saw', async () => {
    const s = standIn();
    const { deps, verdict, lines } = setup({ cluster: s.cluster });
    const r = await reapLeftover(verdict, new Date(), { ...deps, cachedPod: readPod(rawPod()) });
    expect(r.outcome).toBe('deleted');
    // The one read after the delete is the verification (no watch hook here).
    expect(s.calls.gets).toBe(1);
    expect(s.calls.deletes).toEqual([{ uid: verdict.uid, grace: 5, resourceVersion: '100' }]);
    expect(audit(lines)).toEqual([expect.objectContaining({ outcome: 'deleted' })]);
  });

  it('a pod changed since it was cached is read fresh and decided again before a second delete', async () => {
    const s = standIn();
    s.replacePod(rawPod('101'));
    const { deps, verdict, lines } = setup({ cluster: s.cluster });
    const r = await reapLeftover(verdict, new Date(), { ...deps, cachedPod: readPod(rawPod('100')) });
    expect(r.outcome).toBe('deleted');
    expect(s.calls.deletes).toEqual([
      { uid: verdict.uid, grace: 5, resourceVersion: '100' },
      { uid: verdict.uid, grace: 5 },
    ]);
    expect(lines.some((l) => l.msg === 'pod changed since it was cached; reading it and deciding again')).toBe(true);
    expect(audit(lines)).toEqual([expect.objectContaining({ outcome: 'deleted' })]);
  });

  it('a pod replaced since it was cached (another uid) is left alone after the refused delete', async () => {
    const s = standIn();
    const other = rawPod('102');
    other.metadata.uid = 'a-new-pod';
    s.replacePod(other);
    const { deps, verdict } = setup({ cluster: s.cluster });
    const r = await reapLeftover(verdict, new Date(), { ...deps, cachedPod: readPod(rawPod('100')) });
    expect(r.outcome).toBe('uid-changed');
    expect(s.calls.deletes).toEqual([{ uid: verdict.uid, grace: 5, resourceVersion: '100' }]);
  });

  it('a cached copy of another pod, or one without a resourceVersion, is not used: the pod is read fresh', async () => {
    for (const cachedPod of [{ ...readPod(rawPod()), uid: 'someone-else' }, { ...readPod(rawPod()), resourceVersion: undefined }]) {
      const s = standIn();
      const { deps, verdict } = setup({ cluster: s.cluster });
      expect((await reapLeftover(verdict, new Date(), { ...deps, cachedPod })).outcome).toBe('deleted');
      expect(s.calls.deletes).toEqual([{ uid: verdict.uid, grace: 5 }]);
      expect(s.calls.gets).toBe(2);
    }
  });

  it('takes one rate-limit slot, however many attempts the delete needs', async () => {
    const s = standIn();
    s.replacePod(rawPod('101'));
    const rate = new RateLimit(60);
    const { deps, verdict } = setup({ cluster: s.cluster, rate });
    await reapLeftover(verdict, new Date(), { ...deps, cachedPod: readPod(rawPod('100')) });
    expect(s.calls.deletes).toHaveLength(2);
    let slots = 0;
    while (rate.take(deps.now()).ok) slots++;
    expect(slots).toBe(59);
  });
});

describe('verification hooks (the controller frees the worker and waits on its watch)', () => {
  it('says when the delete is accepted, and reads the pod only once the watch says it is gone', async () => {
    const s = standIn({ podGoes: 'never' });
    const { deps, verdict } = setup({ cluster: s.cluster });
    const order: string[] = [];
    const getPod = s.cluster.getPod.bind(s.cluster);
    s.cluster.getPod = async (ns, name) => (order.push('get'), getPod(ns, name));
    let release: () => void = () => {};
    const reap = reapLeftover(verdict, new Date(), {
      ...deps,
      onDeleteAccepted: () => order.push('accepted'),
      awaitGone: (_pod, deadline) => (order.push(`await until ${deadline - deps.now()} ms`), new Promise<void>((r) => (release = r))),
    });
    await new Promise((r) => setTimeout(r, 20));
    // One fresh read before the delete, then nothing until the watch answers.
    expect(order).toEqual(['get', 'accepted', 'await until 7000 ms']);
    s.replacePod(undefined);
    release();
    expect((await reap).outcome).toBe('deleted');
    expect(order).toEqual(['get', 'accepted', 'await until 7000 ms', 'get']);
  });

  it('a watch that never says gone: the reads resume at the deadline and the pod is reported stuck, as without the hook', async () => {
    const s = standIn({ podGoes: 'never' });
    const { deps, verdict } = setup({ cluster: s.cluster });
    const r = await reapLeftover(verdict, new Date(), { ...deps, awaitGone: async () => {} });
    expect(r.outcome).toBe('stuck');
  });
});
