// The reconciler over stand-in caches and a stand-in API server: every action it can take on a pod
// (delete and verify, would-reap once, report stuck, force, nothing) and what it records.
import { afterEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { Writable } from 'node:stream';
import { readWorkflow, type WorkflowState } from '../core/argo/status.ts';
import { reaperConfig, type ReaperConfig, type ReaperConfigFile } from '../core/leftover/config.ts';
import { readPod, type PodState } from '../core/leftover/pod.ts';
import { argoPod, redisDaemon, workflowObject, type WorkflowSpec } from '../test/support/workflows.ts';
import { podKey, type Cache, type CacheEvents, type ReaperCaches } from './cache.ts';
import type { DeleteResult, ReaperCluster } from './cluster.ts';
import { createReaperMetrics } from './metrics.ts';
import { Reconciler } from './reconcile.ts';
import { CircuitBreaker, RateLimit } from './valves.ts';

const ended = '2025-03-01T10:00:30Z';
function workflow(name: string, phase: 'Succeeded' | 'Running'): WorkflowSpec {
  const done = phase === 'Succeeded';
  return {
    name,
    uid: `uid-${name}`,
    phase,
    startedAt: '2025-03-01T10:00:00Z',
    ...(done ? { finishedAt: ended } : {}),
    nodes: [
      { name, type: 'Steps', phase, children: [`${name}[0]`], ...(done ? { finishedAt: ended } : {}) },
      { name: `${name}[0]`, type: 'StepGroup', phase, boundary: name, ...(done ? { finishedAt: ended } : {}) },
      { name: `${name}[0].db`, type: 'Pod', phase: done ? 'Succeeded' : 'Running', boundary: name, template: 'redis', daemoned: !done },
    ],
  };
}
const daemonOf = (wf: WorkflowSpec, grace: number) =>
  argoPod({ workflow: wf.name, workflowUid: wf.uid, nodeName: `${wf.name}[0].db`, template: redisDaemon, phase: 'Running', guardLabels: true, terminationGracePeriodSeconds: grace });

/** Caches the test fills by hand; they tell the reconciler what changed, as the real ones do. */
function standInCaches() {
  const pods = new Map<string, PodState>();
  const workflows = new Map<string, WorkflowState>();
  let events: CacheEvents | undefined;
  const cache = <T>(m: Map<string, T>): Cache<T> => ({ get: (k) => m.get(k), values: () => m.values(), get size() { return m.size; }, synced: true });
  return {
    open(e: CacheEvents): ReaperCaches {
      events = e;
      return { pods: cache(pods), workflows: cache(workflows), start: async () => (e.workflowsListed(), e.podsListed()), stop: () => {} };
    },
    putPod(raw: unknown) {
      const pod = readPod(raw);
      const k = podKey(pod.namespace, pod.name);
      pods.set(k, pod);
      events?.podChanged(k, pod);
    },
    /** The pod watch says the pod is gone. */
    podGone(k: string) {
      const last = pods.get(k);
      pods.delete(k);
      events?.podLeft(k, last, true);
    },
    putWorkflow(raw: unknown) {
      const wf = readWorkflow(raw);
      if (!wf.ok) throw new Error(wf.reason);
      const k = podKey(wf.value.namespace, wf.value.name);
      workflows.set(k, wf.value);
      events?.workflowChanged(k);
    },
  };
}

/** The API server: raw pods and Workflows by namespace/name; a delete makes the pod go as told. */
function standInCluster(caches: ReturnType<typeof standInCaches>, goes: 'at-once' | 'watch-only' | 'never' | 'on-force' = 'at-once') {
  const pods = new Map<string, unknown>();
  const workflows = new Map<string, unknown>();
  const deletes: { name: string; grace: number }[] = [];
  const events: string[] = [];
  const cluster: ReaperCluster = {
    getPod: async (ns, name) => structuredClone(pods.get(podKey(ns, name))),
    getWorkflow: async (ns, name) => structuredClone(workflows.get(podKey(ns, name))),
    async deletePod(ns, name, uid, grace): Promise<DeleteResult> {
      deletes.push({ name, grace });
      const k = podKey(ns, name);
      const pod = pods.get(k) as { metadata: { uid: string } } | undefined;
      if (!pod) return 'gone';
      if (pod.metadata.uid !== uid) return 'conflict';
      if (goes === 'at-once' || goes === 'watch-only' || (goes === 'on-force' && grace === 0)) {
        // 'watch-only': the pod is still there when read; only the watch says it went.
        if (goes !== 'watch-only') pods.delete(k);
        setImmediate(() => caches.podGone(k));
      }
      return 'accepted';
    },
    async event(target, type, reason) {
      events.push(`${target.kind}:${type}:${reason}`);
    },
  };
  return {
    cluster,
    deletes,
    events,
    put(wf: WorkflowSpec, pod: unknown) {
      const raw = workflowObject(wf);
      workflows.set(podKey('argo', wf.name), raw);
      pods.set(podKey('argo', (pod as { metadata: { name: string } }).metadata.name), pod);
      caches.putWorkflow(raw);
      caches.putPod(pod);
    },
  };
}

const running: Reconciler[] = [];
afterEach(() => {
  for (const r of running.splice(0)) r.stop();
});

function reconciler(o: { config?: ReaperConfigFile; dryRunFlag?: boolean; rate?: RateLimit; goes?: 'at-once' | 'watch-only' | 'never' | 'on-force'; leading?: boolean; deleteFails?: boolean } = {}) {
  const caches = standInCaches();
  const server = standInCluster(caches, o.goes);
  if (o.deleteFails) server.cluster.deletePod = async () => Promise.reject(new Error('HTTP 500: etcd unavailable'));
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'debug' }, new Writable({ write: (c: Buffer, _e, cb) => (lines.push(JSON.parse(c.toString())), cb()) }));
  const metrics = createReaperMetrics({ defaultMetrics: false });
  let config: ReaperConfig = reaperConfig({ graceMargin: '0s', ...o.config });
  const r = new Reconciler({
    caches: (events) => caches.open(events),
    log,
    metrics,
    config: () => config,
    reap: {
      cluster: server.cluster,
      dryRunFlag: o.dryRunFlag ?? false,
      rate: o.rate ?? new RateLimit(60),
      breaker: new CircuitBreaker(100, 600_000),
      now: Date.now,
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, Math.min(ms, 5))),
      onBreakerTripped: () => {},
    },
  });
  running.push(r);
  r.setLeading(o.leading ?? true);
  const outcomes = async () => Object.fromEntries((await metrics.reaps.get()).values.map((v) => [String(v.labels.outcome), v.value]));
  /** Waits until the outcomes counted reach `want` (every reap is recorded there when it ends). */
  const settle = async (want: Record<string, number>) => {
    for (let i = 0; i < 2000; i++) {
      const got = await outcomes();
      if (Object.entries(want).every(([k, n]) => (got[k] ?? 0) >= n)) return got;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return outcomes();
  };
  return { r, caches, server, metrics, lines, settle, setConfig: (c: ReaperConfigFile) => (config = reaperConfig({ graceMargin: '0s', ...c })) };
}

/** Lets every queued turn of the loop run (the decisions are made on the next turn). */
const turns = async (n = 20) => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
};

describe('reconciling one pod', () => {
  it('delete: a leftover past its grace is deleted with its grace period, verified gone, and recorded', async () => {
    const t = reconciler();
    const wf = workflow('done', 'Succeeded');
    t.server.put(wf, daemonOf(wf, 0));
    await t.r.start();
    expect(await t.settle({ deleted: 1 })).toEqual({ deleted: 1 });
    expect(t.server.deletes).toEqual([{ name: daemonOf(wf, 0).metadata.name, grace: 0 }]);
    await turns();
    expect(t.server.events).toEqual(['Workflow:Normal:DaemonReaped', 'Pod:Normal:DaemonReaped']);
    expect((await t.metrics.decisions.get()).values).toContainEqual(expect.objectContaining({ labels: { decision: 'reap', reason: 'boundary-fulfilled' } }));
  });

  it('verify: a pod still readable after its delete counts as gone once the pod watch says so', async () => {
    const t = reconciler({ goes: 'watch-only', config: { graceMargin: '10m' } });
    const wf = workflow('done', 'Succeeded');
    t.server.put(wf, daemonOf(wf, 5));
    await t.r.start();
    // Past the 10-minute margin only a read could prove it gone; the watch proves it at once.
    expect(await t.settle({ deleted: 1 })).toEqual({ deleted: 1 });
  });

  it('would-reap: in dry-run nothing is deleted and the pod is recorded once, again after a config change', async () => {
    const t = reconciler({ config: { dryRun: true } });
    const wf = workflow('done', 'Succeeded');
    const pod = daemonOf(wf, 0);
    t.server.put(wf, pod);
    await t.r.start();
    expect(await t.settle({ 'would-reap': 1 })).toEqual({ 'would-reap': 1 });
    t.caches.putPod(pod);
    await turns();
    expect(await t.settle({})).toEqual({ 'would-reap': 1 });
    t.r.configChanged();
    expect(await t.settle({ 'would-reap': 2 })).toEqual({ 'would-reap': 2 });
    expect(t.server.deletes).toEqual([]);
    const dryRun = reconciler({ dryRunFlag: true });
    dryRun.server.put(wf, pod);
    await dryRun.r.start();
    expect(await dryRun.settle({ 'would-reap': 1 })).toEqual({ 'would-reap': 1 });
  });

  it('report stuck: a pod still there past grace plus margin is reported, counted, and not forced', async () => {
    const t = reconciler({ goes: 'never' });
    const wf = workflow('done', 'Succeeded');
    t.server.put(wf, daemonOf(wf, 0));
    await t.r.start();
    expect(await t.settle({ stuck: 1 })).toEqual({ stuck: 1 });
    expect(t.server.deletes.map((d) => d.grace)).toEqual([0]);
    expect((await t.metrics.stuck.get()).values[0]!.value).toBe(1);
    await turns();
    expect(t.server.events).toContain('Pod:Warning:DaemonStuck');
  });

  it('force: with stuck: force a stuck pod is deleted again with grace 0', async () => {
    const t = reconciler({ goes: 'on-force', config: { stuck: 'force' } });
    const wf = workflow('done', 'Succeeded');
    t.server.put(wf, daemonOf(wf, 1));
    await t.r.start();
    // The first delete's grace (1 s) plus margin 0 passes before the pod is reported and forced.
    expect(await t.settle({ forced: 1 })).toEqual({ forced: 1 });
    expect(t.server.deletes.map((d) => d.grace)).toEqual([1, 0]);
  });

  it('nothing: a live daemon, a replica that is not the leader, a pod with no deletion slot left', async () => {
    const live = reconciler();
    const wf = workflow('live', 'Running');
    live.server.put(wf, daemonOf(wf, 0));
    await live.r.start();
    await turns();
    expect(live.r.verdictOf(podKey('argo', daemonOf(wf, 0).metadata.name))).toMatchObject({ decision: 'keep', reason: 'scope-live' });

    const follower = reconciler({ leading: false });
    const done = workflow('done', 'Succeeded');
    follower.server.put(done, daemonOf(done, 0));
    await follower.r.start();
    await turns();
    expect(follower.r.verdictOf(podKey('argo', daemonOf(done, 0).metadata.name))).toMatchObject({ decision: 'reap' });

    const rate = new RateLimit(1);
    const limited = reconciler({ rate });
    const other = workflow('done-too', 'Succeeded');
    limited.server.put(done, daemonOf(done, 0));
    limited.server.put(other, daemonOf(other, 0));
    await limited.r.start();
    expect(await limited.settle({ deleted: 1 })).toEqual({ deleted: 1 });
    await turns();
    expect(limited.server.deletes).toHaveLength(1);
    expect(live.server.deletes).toEqual([]);
    expect(follower.server.deletes).toEqual([]);
  });

  it('an API failure is recorded as an error and the pod is tried again after a backoff', async () => {
    const t = reconciler({ deleteFails: true });
    const wf = workflow('done', 'Succeeded');
    t.server.put(wf, daemonOf(wf, 0));
    await t.r.start();
    expect(await t.settle({ error: 1 })).toEqual({ error: 1 });
    expect(t.lines.find((l) => l.event === 'reap')).toMatchObject({ outcome: 'error', err: 'HTTP 500: etcd unavailable' });
    // The first retry comes 2 s later.
    expect(await t.settle({ error: 2 })).toEqual({ error: 2 });
  });
});
