// End to end with Argo's real workflow-controller (v3.7.18) and the guard installed, on the test
// cluster (kwok plays the kubelet: it runs no process, so Argo's exec-based stop of a daemon does
// nothing — the leak this product exists for, reproduced with Argo's own code).
//
// The same Workflows run at once in three kinds of namespace:
//   e2e-base-*  webhook on, no reaper: what Argo does on its own ("without the reaper");
//   e2e-live-*  the reaper acts (graceMargin 2s, the chart's RBAC, its own client identity);
//   e2e-dry-*   a second reaper with --dry-run.
// The Workflows: the two seeds; Argo's daemon examples dag-daemon-task, steps-daemon-retry-strategy,
// dag-daemon-retry-strategy and daemon-nginx, read from the v3.7.18 module in the Go module cache;
// and this project's own: a daemon whose scope stays live 35 s (longer than grace + margin), one whose
// Workflow is deleted with --cascade=orphan while it runs (leak 5), and two error-path scopes (leak 4).
// Plus the demo's scenario (demo/demo.ts) in one more live namespace.
// An independent witness (observe.ts: its own list+watch, its own reading of Argo's status, not the
// reaper's code) records every pod as admitted and every deletion with the Workflow's state at that
// moment; the API server's audit log says who deleted what and shows Argo's pods/exec stops.
//
// Leak 4 (a scope ending through an error path), checked against v3.7.18 — what was tried:
//   - #10313 (DAG failFast with a failing task): v3.7.18 still waits for running tasks before failing the
//     DAG (#10312), but then marks the DAG Error and its deferred killDaemonedChildren stops the daemon
//     normally (node Succeeded, daemoned cleared, exec kill): not leak 4, only the exec leak (2/3).
//   - #10029 (workflow activeDeadlineSeconds exceeded): the Workflow ends Failed, the daemon node is
//     marked Succeeded and un-daemoned, the exec kill is sent: again only the exec leak.
//   - #6237 (daemon workflows never updated): closed upstream as fixed in v3.0; not retried.
//   - REPRODUCED: a Steps or DAG template whose output parameter's valueFrom.expression fails at run
//     time (asInt('not-a-number')). Submission-time validation does not evaluate it. When the scope's
//     steps are done, executeSteps/executeDAG returns the error from getTemplateOutputsFromScope before
//     marking the node; the deferred killDaemonedChildren sees it Running and does nothing; then
//     executeTemplate marks the node Error. Without the reaper: the daemon node stays daemoned, no exec
//     is ever sent, the pod runs on, and the Workflow stays Running for good (markWorkflowPhase will not
//     complete a Workflow with a daemoned node; killDaemonedChildren("") only looks at boundary "").
//     With the reaper: its scope (boundary) node is Error, so it is reaped (boundary-fulfilled) after
//     the grace plus the margin. Argo then marks the daemon node Error "pod deleted" — but keeps
//     daemoned: true (podReconciliation clears Daemoned on a copy it never stores), so the Workflow
//     STILL stays Running, even after `spec.shutdown: Terminate`. The guard ends the pod (the resource
//     leak); Argo's bookkeeping of that Workflow stays stuck either way.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runDemo, type DemoResult } from '../../demo/demo.ts';
import type { ClusterState } from '../cluster/cluster.ts';
import { cluster, core, kc, testNamespace, waitUntil } from '../integration/helpers.ts';
import { judgeDeletion, nodesOf, Observer, properlyLabeled, unmarked, type PodRecord, type WorkflowRecord } from './observe.ts';
import { auditEntries, describeWorkflow, graceMarginSeconds, isArgoKill, kwokUser, reapRecords, reaperUser, roles, startE2eStack, type E2eStack, type Json, type Role } from './stack.ts';
import { argoExamples, errorPathScope, kubectl, longScope, orphanCandidate, seedSubmissions, submitAll, type Submission } from './workflows.ts';

/** Longer than the daemon's grace (30 s) plus the margin: the reaper would have acted by then. */
const holdSeconds = 35;
const leftoverReasons = ['boundary-fulfilled', 'node-stopped', 'workflow-complete', 'workflow-deleting', 'owner-gone'];

let s: ClusterState;
let stack: E2eStack;
let obs: Observer;
const ns = {} as Record<Role, string>;
let demoNs: string;
let demo: DemoResult;
const demoLines: string[] = [];
let subs: Submission[];
/** role → submission key → Workflow name */
const names = {} as Record<Role, Record<string, string>>;
let finishedAt = 0;

const wf = (role: Role, key: string): WorkflowRecord => {
  const w = obs.workflowByName(ns[role], names[role][key]!);
  if (!w) throw new Error(`no Workflow ${key} seen in ${ns[role]}`);
  return w;
};
const daemonsOf = (role: Role, key: string): PodRecord[] => obs.podsOf(wf(role, key)).filter((p) => p.facts.daemon === true);
const inRole = (role: Role) => (p: PodRecord) => p.namespace === ns[role];
/** The keys whose Workflows must end the same with and without the reaper. */
const ordinary = () => subs.filter((x) => x.key.startsWith('seed-') || x.key.startsWith('example-') || x.key === 'long-scope').map((x) => x.key);
const errorPaths = ['error-path-steps', 'error-path-dag'];

async function deleteOrphaning(role: Role): Promise<void> {
  const name = names[role]['orphaned']!;
  await waitUntil(`orphaned daemon of ${name} in ${ns[role]} daemoned`, async () => daemonsOf(role, 'orphaned').some((p) => p.daemonedAt !== undefined), 120_000, 500);
  await kubectl(s.kubeconfig, ['delete', 'workflow', '-n', ns[role], name, '--cascade=orphan', '--wait=false']);
}

beforeAll(async () => {
  s = cluster();
  stack = await startE2eStack(s);
  for (const role of roles) ns[role] = await testNamespace(`e2e-${role}`);
  demoNs = await testNamespace('e2e-live-demo');
  const mine = new Set([...Object.values(ns), demoNs]);
  obs = await Observer.start(kc(), { namespaces: (n) => mine.has(n) });
  subs = [...seedSubmissions(), ...(await argoExamples()), longScope(holdSeconds), orphanCandidate(), errorPathScope('steps'), errorPathScope('dag')];

  // Everything at once: the demo's scenario, and three namespaces with the same Workflows (one
  // `kubectl create -f` of them all per namespace).
  const demoRun = runDemo(s, { namespace: demoNs, reaperLog: { file: stack.live.logFile, offset: stack.live.logOffset }, graceMarginSeconds, print: (l) => demoLines.push(l), timeoutMs: 240_000 });
  await Promise.all(
    roles.map(async (role) => {
      const created = await submitAll(s.kubeconfig, ns[role], subs.map((x) => x.manifest));
      names[role] = Object.fromEntries(subs.map((x, i) => [x.key, created[i]!]));
    }),
  );
  await Promise.all(roles.map(deleteOrphaning));

  // Done: every ordinary Workflow complete, every error-path scope ended; in live every daemon pod gone
  // with an audit record; in dry every daemon pod with a "would reap" record; in base every daemon
  // watched past its scope's end for longer than the reaper would have waited.
  await waitUntil(
    'every Workflow done and every leftover reaped (live) or reported (dry)',
    async () => {
      for (const role of roles) {
        for (const key of ordinary()) if (!['Succeeded', 'Failed', 'Error'].includes(wf(role, key).phase)) return false;
        // The scope node of an error-path Workflow is its root node (id = the Workflow's name).
        for (const key of errorPaths) if (nodesOf(wf(role, key).last)[wf(role, key).name]?.phase !== 'Error') return false;
      }
      const live = obs.daemonPods(inRole('live'));
      const liveRecords = reapRecords(stack.live);
      if (live.length < subs.length || live.some((p) => p.goneAt === undefined || !liveRecords.some((r) => r.podUid === p.uid && r.outcome === 'deleted'))) return false;
      const dry = obs.daemonPods(inRole('dry'));
      const dryRecords = reapRecords(stack.dry);
      if (dry.length < subs.length || dry.some((p) => !dryRecords.some((r) => r.podUid === p.uid && r.outcome === 'would-reap'))) return false;
      // Without a reaper nothing marks the end: watch each base daemon at least as long past its
      // scope's end as the reaper waits (its grace plus the margin), and a second more.
      const base = obs.daemonPods(inRole('base'));
      const waited = (p: PodRecord) => p.scopeEnd !== undefined && Date.now() - p.scopeEnd.at > ((p.last.spec?.terminationGracePeriodSeconds ?? 30) + graceMarginSeconds + 1) * 1000;
      if (base.length < subs.length || !base.every(waited)) return false;
      return true;
    },
    270_000,
    1_000,
  );
  demo = await demoRun;
  finishedAt = Date.now();
  obs.stop();
}, 330_000);

afterAll(async () => {
  obs?.stop();
  await stack?.restore();
});

describe("Argo's controller with the guard installed (default policy)", () => {
  test('every daemon pod Argo created carries the guard labels and lifetime cap; no other pod does', () => {
    const pods = [...obs.pods.values()].filter((p) => p.workflowName !== undefined);
    const daemons = pods.filter((p) => p.facts.daemon === true);
    const others = pods.filter((p) => p.facts.daemon === false);
    expect(pods.every((p) => p.facts.daemon !== undefined)).toBe(true);
    // One daemon per Workflow in each namespace (none was retried), plus the demo's two.
    expect(daemons.length).toBe(roles.length * subs.length + 2);
    expect(others.length).toBeGreaterThan(daemons.length);
    expect(daemons.filter((p) => !properlyLabeled(p)).map((p) => `${p.namespace}/${p.name}`)).toEqual([]);
    expect(others.filter((p) => !unmarked(p)).map((p) => `${p.namespace}/${p.name}`)).toEqual([]);
  });

  test('with the reaper (or its dry-run) every Workflow reaches the phase it reaches without it', () => {
    const phases = (role: Role) => Object.fromEntries(ordinary().map((k) => [k, wf(role, k).phase]));
    const base = phases('base');
    expect(Object.values(base).every((p) => ['Succeeded', 'Failed', 'Error'].includes(p))).toBe(true);
    expect(phases('live')).toEqual(base);
    expect(phases('dry')).toEqual(base);
    // As seen on this cluster: all of them succeed.
    expect(Object.values(base)).toEqual(ordinary().map(() => 'Succeeded'));
  });

  test("without the reaper, Argo's stop fails: each daemon was signalled through pods/exec and still runs", () => {
    const audit = auditEntries(s, (n) => n === ns.base);
    for (const key of ordinary()) {
      for (const p of daemonsOf('base', key)) {
        expect(p.scopeEnd, `${key}: scope of ${p.name} ended`).toBeDefined();
        const kills = audit.filter((e) => isArgoKill(e) && e.name === p.name);
        expect(kills.length, `${key}: Argo exec'd kill into ${p.name}`).toBeGreaterThan(0);
        expect(p.deletion, `${key}: ${p.name} never deleted`).toBeUndefined();
        expect(p.last.status?.phase, `${key}: ${p.name} still Running`).toBe('Running');
        expect((finishedAt - p.scopeEnd!.at) / 1000).toBeGreaterThan((p.last.spec?.terminationGracePeriodSeconds ?? 30) + graceMarginSeconds);
        // Argo labeled it completed and dropped it from its informer: its SIGKILL follow-up never comes.
        expect(p.last.metadata?.labels?.['workflows.argoproj.io/completed']).toBe('true');
      }
    }
  });

  test("the reaper deletes each leftover after the pod's grace plus the margin, with an audit record and an Event on the Workflow", async () => {
    const records = reapRecords(stack.live);
    for (const key of subs.map((x) => x.key)) {
      const pods = daemonsOf('live', key);
      expect(pods.length, key).toBe(1);
      for (const p of pods) {
        expect(p.deletion, `${key}: ${p.name} deleted`).toBeDefined();
        const v = judgeDeletion(p, graceMarginSeconds);
        expect(v.ok, v.why).toBe(true);
        const rec = records.find((r) => r.podUid === p.uid && r.outcome === 'deleted');
        expect(rec, `${key}: audit record for ${p.name}`).toMatchObject({ event: 'reap', action: 'delete', namespace: ns.live, pod: p.name, nodeId: p.nodeId, workflowUid: p.workflowUid, gracePeriodSeconds: 30 });
        expect(leftoverReasons).toContain(rec!.reason);
        expect(typeof rec!.scopeEndedAt).toBe('string');
      }
    }
    // `kubectl describe workflow` shows the Event (every Workflow that still exists).
    for (const key of subs.map((x) => x.key).filter((k) => k !== 'orphaned')) {
      const text = await describeWorkflow(s, ns.live, names.live[key]!);
      expect(text, key).toMatch(new RegExp(`DaemonReaped\\s.*deleted leftover daemon pod ${daemonsOf('live', key)[0]!.name}`));
    }
  });

  test('a daemon whose scope is still live is never touched', () => {
    const [p] = daemonsOf('live', 'long-scope');
    expect(p!.daemonedAt).toBeDefined();
    // It ran through the whole hold (longer than grace + margin, with the reaper watching), and went
    // only after its scope ended plus the grace and margin.
    expect((p!.deletion!.at - p!.daemonedAt!) / 1000).toBeGreaterThan(holdSeconds);
    expect(judgeDeletion(p!, graceMarginSeconds).ok).toBe(true);
    expect(wf('live', 'long-scope').phase).toBe('Succeeded');
    // The reaper kept it while its scope ran: no record before the scope ended.
    const recs = [...reapRecords(stack.live), ...reapRecords(stack.dry)].filter((r) => r.podUid === p!.uid);
    expect(recs.every((r) => Date.parse(String(r.time)) >= p!.scopeEnd!.at)).toBe(true);
  });

  test('nothing that is not a leftover daemon is deleted', () => {
    const all = obs.deletions();
    const verdicts = all.map((p) => judgeDeletion(p, graceMarginSeconds));
    expect(verdicts.filter((v) => !v.ok).map((v) => v.why)).toEqual([]);
    expect(obs.deletions(inRole('base'))).toEqual([]);
    expect(obs.deletions(inRole('dry'))).toEqual([]);
    expect(obs.deletions(inRole('live')).length).toBe(subs.length);
    // Who asked the API server to delete pods here: only the reaper (kwok then removes what it
    // deleted, as a kubelet would), and only in live namespaces, once per leftover.
    const mine = new Set([...Object.values(ns), demoNs]);
    const deletes = auditEntries(s, (n) => mine.has(n)).filter((e) => e.verb === 'delete' && e.subresource === undefined && e.at <= finishedAt && e.user !== kwokUser);
    expect([...new Set(deletes.map((e) => e.user))]).toEqual([reaperUser]);
    expect(deletes.filter((e) => e.namespace !== ns.live && e.namespace !== demoNs)).toEqual([]);
    expect(deletes.filter((e) => e.code === 200).length).toBe(subs.length + 2);
  });

  test('leak 5: a Workflow deleted with --cascade=orphan while its daemon runs — its pod is reaped (owner-gone)', () => {
    for (const role of roles) {
      const [p] = daemonsOf(role, 'orphaned');
      expect(wf(role, 'orphaned').goneAt, `${role}: Workflow gone`).toBeDefined();
      // The garbage collector stripped the ownerReference; the webhook's uid label still names the run.
      const before = role === 'live' ? p!.deletion!.before : p!.last;
      expect(before.metadata?.ownerReferences ?? []).toEqual([]);
      expect(before.metadata?.labels?.['argo-daemon-guard.io/workflow-uid']).toBe(wf(role, 'orphaned').uid);
    }
    const [base] = daemonsOf('base', 'orphaned');
    expect(base!.last.status?.phase).toBe('Running');
    expect(base!.deletion).toBeUndefined();
    const [live] = daemonsOf('live', 'orphaned');
    const rec = reapRecords(stack.live).find((r) => r.podUid === live!.uid && r.outcome === 'deleted');
    expect(rec?.reason).toBe('owner-gone');
    expect(judgeDeletion(live!, graceMarginSeconds).ok).toBe(true);
  });

  test('leak 4: a scope that ends through an error path — Argo leaves the daemon daemoned; the reaper ends the pod', () => {
    const audit = auditEntries(s, () => true);
    for (const key of errorPaths) {
      // Without the reaper: the scope node is Error, the daemon node still daemoned, no stop ever sent,
      // the pod runs on and the Workflow stays Running.
      const w = wf('base', key);
      const nodes = nodesOf(w.last);
      const [bp] = daemonsOf('base', key);
      expect(nodes[w.name]?.phase, `${key}: scope node`).toBe('Error');
      expect(nodes[bp!.nodeId!]).toMatchObject({ phase: 'Running', daemoned: true });
      expect(w.phase).toBe('Running');
      expect(bp!.last.status?.phase).toBe('Running');
      expect(audit.filter((e) => isArgoKill(e) && e.name === bp!.name)).toEqual([]);
      // With the reaper: reaped as boundary-fulfilled; Argo then marks the node Error "pod deleted"
      // but leaves it daemoned, so the Workflow stays Running (Argo's bookkeeping, not the guard's).
      const [lp] = daemonsOf('live', key);
      const rec = reapRecords(stack.live).find((r) => r.podUid === lp!.uid && r.outcome === 'deleted');
      expect(rec?.reason).toBe('boundary-fulfilled');
      expect(judgeDeletion(lp!, graceMarginSeconds).ok).toBe(true);
      expect(wf('live', key).phase).toBe('Running');
      // Dry-run: reported, left running.
      const [dp] = daemonsOf('dry', key);
      expect(reapRecords(stack.dry).find((r) => r.podUid === dp!.uid)?.outcome).toBe('would-reap');
      expect(dp!.last.status?.phase).toBe('Running');
    }
  });

  test('dry-run: nothing deleted, every "would reap" recorded (log record and Event)', async () => {
    expect(obs.deletions(inRole('dry'))).toEqual([]);
    const records = reapRecords(stack.dry);
    expect(records.every((r) => r.outcome === 'would-reap' && r.action === 'none')).toBe(true);
    const events = await core().listNamespacedEvent({ namespace: ns.dry });
    for (const p of obs.daemonPods(inRole('dry'))) {
      expect(p.last.status?.phase, p.name).toBe('Running');
      expect(records.filter((r) => r.podUid === p.uid).length, `one record for ${p.name}`).toBe(1);
      expect(leftoverReasons).toContain(records.find((r) => r.podUid === p.uid)!.reason);
      expect(events.items.some((e) => e.reason === 'DaemonWouldReap' && e.involvedObject.uid === p.uid), `DaemonWouldReap on ${p.name}`).toBe(true);
    }
  });

  test('the demo (its scenario on this cluster): its last line', () => {
    const last = JSON.parse(JSON.stringify(demo.summary)) as Json;
    expect(last.workflows).toBe(2);
    expect(last.succeeded).toBe(2);
    expect(last.daemonPods).toBeGreaterThanOrEqual(2);
    expect(last.labeled).toBe(last.daemonPods);
    expect(last.reaped).toBe(last.daemonPods);
    expect(last.wrongDeletes).toBe(0);
    expect(demoLines.some((l) => /Argo signalled .* exec "argoexec kill 15 1"/.test(l))).toBe(true);
    expect(demoLines.some((l) => /still Running \d+s after its scope ended/.test(l))).toBe(true);
    expect(demoLines.some((l) => /audit record: .*"outcome":"deleted"/.test(l))).toBe(true);
  });
});
