// Argo's own stop on real processes: its controller execs `argoexec kill 15 1` into a daemon's
// containers when the daemon's scope ends. On the real node that signal arrives. A daemon that exits on
// SIGTERM is gone and the reaper has nothing to do; a daemon that ignores it stays Running after its
// Workflow Succeeded (Argo's SIGKILL never comes: the pod left its informer once labeled completed),
// and the reaper deletes it after its grace plus the margin, with its audit record. The same Workflows
// run without a reaper (base) and under a --dry-run reaper (dry).
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { ClusterState } from '../cluster/cluster.ts';
import { realNodeName } from '../cluster/cluster.ts';
import { cluster, kc, testNamespace, waitUntil } from '../integration/helpers.ts';
import { judgeDeletion, Observer, type PodRecord, type WorkflowRecord } from './observe.ts';
import { auditEntries, graceMarginSeconds, isArgoKill, reapRecords, roles, startE2eStack, type E2eStack, type Role } from './stack.ts';
import { executorRbac, kubectlStdin, signalDaemon, submit } from './workflows.ts';
import { stringify } from 'yaml';

let s: ClusterState;
let stack: E2eStack;
let obs: Observer;
const ns = {} as Record<Role, string>;
const names = {} as Record<Role, { exits: string; ignores: string }>;

beforeAll(async () => {
  s = cluster();
  stack = await startE2eStack(s);
  for (const role of roles) {
    ns[role] = await testNamespace(`e2e-${role}`);
    // On a real node Argo's executor runs and reports each step's result: the Workflow's service
    // account needs what Argo's own quick-start grants its executor.
    await kubectlStdin(s.kubeconfig, ['apply', '-f', '-'], stringify(executorRbac(ns[role])));
  }
  const mine = new Set(Object.values(ns));
  obs = await Observer.start(kc(), { namespaces: (n) => mine.has(n) });
  for (const role of roles) {
    names[role] = {
      exits: (await submit(s.kubeconfig, ns[role], signalDaemon('exits').manifest)).name,
      ignores: (await submit(s.kubeconfig, ns[role], signalDaemon('ignores').manifest)).name,
    };
  }
}, 180_000);

afterAll(async () => {
  obs?.stop();
  await stack?.restore();
});

const wf = (role: Role, kind: 'exits' | 'ignores'): WorkflowRecord | undefined => obs.workflowByName(ns[role], names[role][kind]);
const daemon = (role: Role, kind: 'exits' | 'ignores'): PodRecord | undefined => {
  const w = wf(role, kind);
  return w ? obs.podsOf(w).find((p) => p.facts.daemon === true) : undefined;
};
const done = (role: Role, kind: 'exits' | 'ignores') => ['Succeeded', 'Failed', 'Error'].includes(wf(role, kind)?.phase ?? '');
const containerRunning = (p: PodRecord | undefined) => p?.last.status?.containerStatuses?.some((c) => c.name === 'main' && c.state?.running) ?? false;

describe("Argo's exec stop on a real node", () => {
  test('every Workflow Succeeds, with its daemon pod on the real node and signalled by Argo', async () => {
    await waitUntil('all six Workflows complete', async () => roles.every((r) => done(r, 'exits') && done(r, 'ignores')), 180_000, 500);
    for (const role of roles) {
      for (const kind of ['exits', 'ignores'] as const) {
        expect(wf(role, kind)!.phase, `${role}/${kind}`).toBe('Succeeded');
        const d = daemon(role, kind)!;
        expect(d.last.spec?.nodeName).toBe(realNodeName);
        // Argo execs its stop a moment after it saves the scope's end: wait for it in the audit log.
        await waitUntil(`${role}/${kind}: Argo's argoexec kill exec`, async () => auditEntries(s, (n) => n === ns[role]).some((e) => isArgoKill(e) && e.name === d.name), 30_000, 500);
      }
    }
  }, 240_000);

  test('a daemon that exits on SIGTERM is stopped by Argo, and the reaper deletes nothing', async () => {
    for (const role of roles) {
      await waitUntil(`${role}: the daemon's container ended`, async () => !containerRunning(daemon(role, 'exits')), 60_000, 250);
      const d = daemon(role, 'exits')!;
      const main = d.last.status?.containerStatuses?.find((c) => c.name === 'main');
      expect(main?.state?.terminated?.exitCode, `${role}: main ended by its own SIGTERM handler`).toBe(0);
      expect(d.deletion, `${role}: not deleted`).toBeUndefined();
    }
    expect(reapRecords(stack.live).filter((r) => r.podUid === daemon('live', 'exits')!.uid && r.outcome === 'deleted')).toEqual([]);
  }, 120_000);

  test('a daemon that ignores SIGTERM outlives its Workflow without the reaper, and is reaped after grace plus margin with it', async () => {
    await waitUntil('live daemon reaped, dry daemon reported', async () => {
      const live = daemon('live', 'ignores');
      const dry = daemon('dry', 'ignores');
      return live?.goneAt !== undefined && reapRecords(stack.dry).some((r) => r.podUid === dry?.uid && r.outcome === 'would-reap');
    }, 120_000, 250);
    const live = daemon('live', 'ignores')!;
    const v = judgeDeletion(live, graceMarginSeconds);
    expect(v.ok, v.why).toBe(true);
    const rec = reapRecords(stack.live).find((r) => r.podUid === live.uid && r.outcome === 'deleted');
    expect(rec, 'audit record').toBeDefined();
    // Without a reaper (base) and in dry-run, the daemon's process is still running after its Workflow ended.
    for (const role of ['base', 'dry'] as const) {
      const d = daemon(role, 'ignores')!;
      expect(d.deletion, `${role}: not deleted`).toBeUndefined();
      expect(containerRunning(d), `${role}: main still running after the Workflow Succeeded`).toBe(true);
    }
    // Nothing else was deleted anywhere.
    expect(obs.deletions().map((p) => `${p.namespace}/${p.name}`)).toEqual([`${live.namespace}/${live.name}`]);
  }, 180_000);
});
