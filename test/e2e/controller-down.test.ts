// Leak 1 with Argo's real controller: the controller dies right after a daemon's scope ends. The
// daemon's scope is an inner Steps template; the Workflow then waits 10 s more, so it is still Running
// when the controller is SIGKILLed — as soon as the witness sees the scope node fulfilled in the
// status. The reaper must end the leftover while the controller is still down: it does not need Argo.
// The same Workflow runs without a reaper (base) and under a --dry-run reaper (dry); the controller
// is started again afterwards and every Workflow must end as it does without the reaper.
//
// What Argo does: it saves the scope's end (inner Steps node Succeeded, daemon node Succeeded and no
// longer daemoned) and queues the exec-based stop in memory in the same pass; whether the exec goes
// out before the kill is a race this test records but does not need (kwok has no kubelet: the exec
// does nothing anyway). After the restart nothing re-issues a stop: in base the daemon pod runs on
// after its Workflow Succeeded.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { ClusterState } from '../cluster/cluster.ts';
import { argoControllerRunning, killArgoController, startArgoController } from '../cluster/argo.ts';
import { cluster, kc, testNamespace, waitUntil } from '../integration/helpers.ts';
import { judgeDeletion, nodesOf, Observer, type PodRecord, type WorkflowRecord } from './observe.ts';
import { auditEntries, graceMarginSeconds, isArgoKill, reapRecords, roles, startE2eStack, type E2eStack, type Role } from './stack.ts';
import { innerScope, submit } from './workflows.ts';

let s: ClusterState;
let stack: E2eStack;
let obs: Observer;
const ns = {} as Record<Role, string>;
const names = {} as Record<Role, string>;

beforeAll(async () => {
  s = cluster();
  stack = await startE2eStack(s);
  for (const role of roles) ns[role] = await testNamespace(`e2e-${role}`);
  const mine = new Set(Object.values(ns));
  obs = await Observer.start(kc(), { namespaces: (n) => mine.has(n) });
}, 120_000);

afterAll(async () => {
  obs?.stop();
  if (s && !argoControllerRunning(s)) await startArgoController(s).catch(() => {});
  await stack?.restore();
});

const wf = (role: Role): WorkflowRecord => obs.workflowByName(ns[role], names[role])!;
const daemon = (role: Role): PodRecord | undefined => obs.podsOf(wf(role)).find((p) => p.facts.daemon === true);
/** The inner scope's Steps node ("<wf>[0].with-db"). */
const scopeNode = (role: Role) => Object.values(nodesOf(wf(role).last)).find((n) => n.name === `${names[role]}[0].with-db`);

describe("leak 1: Argo's controller killed right after a scope ends", () => {
  test('the leftover is reaped while the controller is down; after its restart every Workflow ends as without the reaper', async () => {
    for (const role of roles) names[role] = (await submit(s.kubeconfig, ns[role], innerScope('10s').manifest)).name;

    // The scope ends in all three: kill the controller at once.
    await waitUntil('inner scopes fulfilled', async () => roles.every((r) => ['Succeeded', 'Failed', 'Error'].includes(scopeNode(r)?.phase ?? '')), 90_000, 100);
    await killArgoController(s);
    const killedAt = Date.now();
    for (const role of roles) expect(wf(role).phase, `${role}: Workflow still Running when the controller died`).toBe('Running');

    // The live reaper deletes the leftover, the dry one reports it, with no controller running.
    await waitUntil('live daemon reaped, dry daemon reported', async () => {
      const live = daemon('live');
      const dry = daemon('dry');
      return live?.goneAt !== undefined && reapRecords(stack.dry).some((r) => r.podUid === dry?.uid && r.outcome === 'would-reap');
    }, 90_000, 250);
    expect(argoControllerRunning(s)).toBe(false);
    const live = daemon('live')!;
    expect(live.deletion!.at).toBeGreaterThan(killedAt);
    const v = judgeDeletion(live, graceMarginSeconds);
    expect(v.ok, v.why).toBe(true);
    const rec = reapRecords(stack.live).find((r) => r.podUid === live.uid && r.outcome === 'deleted');
    expect(rec, 'audit record').toBeDefined();
    expect(['boundary-fulfilled', 'node-stopped']).toContain(rec!.reason);
    expect(wf('live').phase).toBe('Running');
    expect(daemon('base')!.last.status?.phase).toBe('Running');
    expect(daemon('dry')!.last.status?.phase).toBe('Running');

    // Argo comes back: every Workflow finishes, and ends as it does without the reaper.
    const restartedAt = Date.now();
    await startArgoController(s);
    await waitUntil('Workflows complete after the restart', async () => roles.every((r) => ['Succeeded', 'Failed', 'Error'].includes(wf(r).phase)), 90_000, 250);
    expect(wf('live').phase).toBe(wf('base').phase);
    expect(wf('dry').phase).toBe(wf('base').phase);
    expect(wf('base').phase).toBe('Succeeded');

    // Without the reaper nothing stops that daemon: Argo never sends another stop after its restart.
    const base = daemon('base')!;
    await new Promise((r) => setTimeout(r, 3_000));
    expect(base.deletion).toBeUndefined();
    expect(base.last.status?.phase).toBe('Running');
    const kills = auditEntries(s, (n) => n === ns.base).filter((e) => isArgoKill(e) && e.name === base.name);
    expect(kills.filter((e) => e.at >= restartedAt)).toEqual([]);
    // Nothing else was deleted anywhere.
    expect(obs.deletions().map((p) => `${p.namespace}/${p.name}`)).toEqual([`${live.namespace}/${live.name}`]);
  }, 300_000);
});
