// The reaper against the real API server, on Workflows written by hand with a status (no Argo
// controller acts on them): it deletes exactly the leftovers after grace, with the Event and the
// audit record, and nothing else; dry-run records everything and deletes nothing; the back-fill finds
// a daemon the webhook missed; a pod held by a finalizer is reported stuck; a reaper started while the
// API server is down reaps once it is back; two reapers elect one leader and hand over; the rate limit
// and the circuit breaker hold. (An API server killed mid-reap: test/hardening/faults.test.ts.)
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { beforeEach, describe, expect, test } from 'vitest';
import { stringify } from 'yaml';
import { guard } from '../../core/keys.ts';
import { apiserverSpec } from '../cluster/components.ts';
import { startWebhook, stopWebhook } from '../cluster/cluster.ts';
import { start, stop } from '../cluster/processes.ts';
import { fetchText } from '../cluster/kubeconfig.ts';
import { adminTls } from '../cluster/state.ts';
import { sleep } from '../cluster/lock.ts';
import { apiReaperCluster } from '../../reaper/cluster.ts';
import { cluster, core, counter, kc, mergePatch, waitUntil } from './helpers.ts';
import { endScope, eventsFor, localConfig, podExists, reaperNamespace, stageDaemon, startReaper, type ReaperProcess, type StagedDaemon } from './reaper-support.ts';

// Each test has a namespace of its own, and each reaper watches only its test's namespace, so a
// leftover one test leaves behind never counts against another's limits.
let ns: string;
beforeEach(async () => {
  ns = await reaperNamespace();
});

const gone = (d: StagedDaemon) => waitUntil(`leftover ${d.pod.name} deleted`, async () => !(await podExists(ns, d.pod.name, d.pod.uid)), 60_000);
const recordOf = (r: ReaperProcess, d: StagedDaemon, outcome: string) => r.audit().find((a) => a.podUid === d.pod.uid && a.outcome === outcome);
/** The record is written once the deletion is verified, so it may trail the pod's disappearance. */
const recorded = (r: ReaperProcess, d: StagedDaemon, outcome: string) => waitUntil(`${outcome} record for ${d.pod.name}`, async () => recordOf(r, d, outcome));

describe('the reaper on the real API server', () => {
  test('deletes the leftover after grace with its audit record and Events, and never touches a live scope', async () => {
    const ended = await stageDaemon(ns, 'scope-ends');
    const live = await stageDaemon(ns, 'scope-lives');
    const reaper = await startReaper({ name: 'reaper-basic', config: localConfig(ns), leaseNamespace: ns });
    await waitUntil('the reaper to lead', async () => counter(await reaper.metrics(), 'argo_daemon_guard_reaper_leader') === 1);
    await endScope(ns, 'scope-ends');
    await gone(ended);

    const record = await recorded(reaper, ended, 'deleted');
    expect(record).toMatchObject({
      event: 'reap',
      workflow: 'scope-ends',
      workflowUid: ended.workflow.uid,
      namespace: ns,
      pod: ended.pod.name,
      reason: 'boundary-fulfilled',
      action: 'delete',
      outcome: 'deleted',
    });
    expect(record.nodeId).toMatch(/^scope-ends-\d+$/);
    expect(typeof record.scopeEndedAt).toBe('string');
    expect(typeof record.latencyMs).toBe('number');
    const wfEvents = await waitUntil('DaemonReaped on the Workflow', async () => {
      const e = await eventsFor(ns, ended.workflow.uid);
      return e.some((x) => x.reason === guard.eventReason.reaped) ? e : undefined;
    });
    expect(wfEvents.find((x) => x.reason === guard.eventReason.reaped)!.message).toContain(ended.pod.name);
    expect((await eventsFor(ns, ended.pod.uid)).map((e) => e.reason)).toContain(guard.eventReason.reaped);

    // The live scope's daemon: decided keep (scope-live), still Running, no record, no Event.
    expect(counter(await reaper.metrics(), 'argo_daemon_guard_reaper_decisions_total', { decision: 'keep', reason: 'scope-live' })).toBeGreaterThan(0);
    expect(await podExists(ns, live.pod.name, live.pod.uid)).toBe(true);
    expect(reaper.audit().filter((a) => a.podUid === live.pod.uid)).toEqual([]);
    expect(reaper.audit().filter((a) => a.outcome === 'deleted')).toHaveLength(1);
    expect(await eventsFor(ns, live.workflow.uid)).toEqual([]);
  });

  test("the reaper's delete is pinned to the pod it decided on: the API server refuses another resourceVersion or uid", async () => {
    const d = await stageDaemon(ns, 'pinned');
    const api = apiReaperCluster(kc(), 'test');
    const decidedOn = (await core().readNamespacedPod({ namespace: ns, name: d.pod.name })).metadata!.resourceVersion!;
    await core().patchNamespacedPod({ namespace: ns, name: d.pod.name, body: { metadata: { annotations: { 'example.com/changed': 'after the decision' } } } }, mergePatch);
    const now = (await core().readNamespacedPod({ namespace: ns, name: d.pod.name })).metadata!.resourceVersion!;
    expect(now).not.toBe(decidedOn);

    expect(await api.deletePod(ns, d.pod.name, d.pod.uid, 1, decidedOn)).toBe('conflict');
    expect(await api.deletePod(ns, d.pod.name, 'not-this-pod', 1)).toBe('conflict');
    expect(await podExists(ns, d.pod.name, d.pod.uid)).toBe(true);
    expect(await api.deletePod(ns, d.pod.name, d.pod.uid, 1, now)).toBe('accepted');
    await gone(d);
    expect(await api.deletePod(ns, d.pod.name, d.pod.uid, 1, now)).toBe('gone');
  });

  test('in dry-run deletes nothing and records the would-reap; switching dry-run off in the config file reaps', async () => {
    const d = await stageDaemon(ns, 'dry-run');
    const reaper = await startReaper({ name: 'reaper-dry', config: localConfig(ns, { dryRun: true }), leaseNamespace: ns });
    await endScope(ns, 'dry-run');
    await waitUntil('would-reap record', async () => recordOf(reaper, d, 'would-reap'), 60_000);
    expect(await podExists(ns, d.pod.name, d.pod.uid)).toBe(true);
    await waitUntil('DaemonWouldReap on the Workflow', async () => (await eventsFor(ns, d.workflow.uid)).some((e) => e.reason === guard.eventReason.wouldReap));
    expect(reaper.audit().filter((a) => a.outcome === 'deleted')).toEqual([]);

    writeFileSync(reaper.configFile, stringify(localConfig(ns, { dryRun: false })));
    await gone(d);
    await recorded(reaper, d, 'deleted');
  });

  test('the back-fill finds a daemon the webhook missed', async () => {
    const s = cluster();
    await stopWebhook(s);
    let missed: StagedDaemon;
    try {
      // Held by kwok so it stays Running unlabeled; grace 0 lets kwok remove it once deleted.
      missed = await stageDaemon(ns, 'missed', { hold: true, grace: 0 });
    } finally {
      await startWebhook(s);
    }
    const pod = await core().readNamespacedPod({ namespace: ns, name: missed.pod.name });
    expect(pod.metadata?.labels?.[guard.daemonLabel]).toBeUndefined();
    const reaper = await startReaper({ name: 'reaper-backfill', config: localConfig(ns), leaseNamespace: ns });
    await endScope(ns, 'missed');
    await gone(missed);
    expect(await recorded(reaper, missed, 'deleted')).toMatchObject({ reason: 'boundary-fulfilled' });
  });

  test('a leftover held by a finalizer is reported stuck, never stripped', async () => {
    const d = await stageDaemon(ns, 'finalized', { finalizer: true });
    const reaper = await startReaper({ name: 'reaper-stuck', config: localConfig(ns, { stuck: 'report' }), leaseNamespace: ns });
    try {
      await endScope(ns, 'finalized');
      await waitUntil('stuck record', async () => recordOf(reaper, d, 'stuck'), 60_000);
      const pod = await core().readNamespacedPod({ namespace: ns, name: d.pod.name });
      expect(pod.metadata?.deletionTimestamp).toBeDefined();
      expect(pod.metadata?.finalizers).toEqual(['argo-daemon-guard.io/test-finalizer']);
      expect((await eventsFor(ns, d.pod.uid)).map((e) => e.reason)).toContain(guard.eventReason.stuck);
      expect(counter(await reaper.metrics(), 'argo_daemon_guard_reaper_stuck_pods')).toBe(1);
      expect(counter(await reaper.metrics(), 'argo_daemon_guard_reaper_reaps_total', { outcome: 'stuck' })).toBe(1);
    } finally {
      await core().patchNamespacedPod({ namespace: ns, name: d.pod.name, body: { metadata: { finalizers: null } } }, mergePatch).catch(() => {});
    }
  });

  test('a reaper started while the API server is down decides and reaps once it is back', async () => {
    const s = cluster();
    const d = await stageDaemon(ns, 'started-during-outage');
    await endScope(ns, 'started-during-outage');
    await stop(s.stateDir, 'kube-apiserver');
    let reaper: ReaperProcess;
    try {
      reaper = await startReaper({ name: 'reaper-outage', config: localConfig(ns), leaseNamespace: ns, waitSynced: false });
      await waitUntil('the first list to fail', async () => reaper.logs().some((l) => l.msg === 'first list failed; retrying in the background, deciding nothing until the caches are in'));
    } finally {
      start(s.stateDir, apiserverSpec(s, join(s.stateDir, 'audit-policy.yaml')));
      await waitUntil('kube-apiserver ready again', async () => (await fetchText(`${s.server}/readyz`, { tls: adminTls(s), timeoutMs: 2000 })).status === 200, 90_000);
    }
    await gone(d);
    await recorded(reaper, d, 'deleted');
  });

  test('two reapers: one leads, and the other takes over when the leader stops', async () => {
    const a = await startReaper({ name: 'reaper-a', config: localConfig(ns), leaseNamespace: ns });
    const b = await startReaper({ name: 'reaper-b', config: localConfig(ns), leaseNamespace: ns });
    const leaders = async () => [counter(await a.metrics(), 'argo_daemon_guard_reaper_leader'), counter(await b.metrics(), 'argo_daemon_guard_reaper_leader')];
    const first = await waitUntil('one leader', async () => {
      const l = await leaders();
      return l[0]! + l[1]! === 1 ? (l[0] === 1 ? a : b) : undefined;
    });
    const other = first === a ? b : a;
    // Several rounds of renewal: still exactly one.
    await sleep(5000);
    expect((await leaders()).reduce((x, y) => x + y)).toBe(1);

    await first.stop();
    await waitUntil('the other replica to lead', async () => counter(await other.metrics(), 'argo_daemon_guard_reaper_leader') === 1, 30_000);
    const d = await stageDaemon(ns, 'after-handover');
    await endScope(ns, 'after-handover');
    await gone(d);
    await recorded(other, d, 'deleted');
    expect(recordOf(first, d, 'deleted')).toBeUndefined();
  });

  test('the rate limit holds the next deletion back', async () => {
    const one = await stageDaemon(ns, 'rate-1');
    const two = await stageDaemon(ns, 'rate-2');
    const reaper = await startReaper({ name: 'reaper-rate', config: localConfig(ns, { rateLimit: { perMinute: 1 } }), leaseNamespace: ns });
    await waitUntil('the reaper to lead', async () => counter(await reaper.metrics(), 'argo_daemon_guard_reaper_leader') === 1);
    await Promise.all([endScope(ns, 'rate-1'), endScope(ns, 'rate-2')]);
    const [firstGone] = await waitUntil('one of the two deleted', async () => {
      const left = await Promise.all([podExists(ns, one.pod.name, one.pod.uid), podExists(ns, two.pod.name, two.pod.uid)]);
      return left.filter((x) => !x).length >= 1 ? [left[0] ? two : one] : undefined;
    });
    const held = firstGone === one ? two : one;
    // Both are due now; the limit of one a minute keeps the second waiting well past that.
    await sleep(8000);
    expect(await podExists(ns, held.pod.name, held.pod.uid)).toBe(true);
    expect(reaper.audit().filter((a) => a.outcome === 'deleted')).toHaveLength(1);
  });

  test('the circuit breaker turns the reaper to dry-run and says so', async () => {
    const one = await stageDaemon(ns, 'breaker-1');
    const two = await stageDaemon(ns, 'breaker-2');
    const reaper = await startReaper({ name: 'reaper-breaker', config: localConfig(ns, { circuitBreaker: { maxReaps: 1, window: '10m' } }), leaseNamespace: ns });
    await waitUntil('the reaper to lead', async () => counter(await reaper.metrics(), 'argo_daemon_guard_reaper_leader') === 1);
    await endScope(ns, 'breaker-1');
    await gone(one);
    await endScope(ns, 'breaker-2');
    await waitUntil('would-reap with the breaker open', async () => reaper.audit().find((a) => a.podUid === two.pod.uid && a.outcome === 'would-reap' && a.circuitOpen === true), 60_000);
    expect(await podExists(ns, two.pod.name, two.pod.uid)).toBe(true);
    expect(counter(await reaper.metrics(), 'argo_daemon_guard_reaper_circuit_open')).toBe(1);
    const leaseEvents = await waitUntil('circuit-open Event on the reaper Lease', async () => {
      const list = await core().listNamespacedEvent({ namespace: ns, fieldSelector: `involvedObject.kind=Lease,reason=${guard.eventReason.circuitOpen}` });
      return list.items.length ? list.items : undefined;
    });
    expect(leaseEvents[0]!.involvedObject.name).toBe('argo-daemon-guard-reaper');
  });
});
