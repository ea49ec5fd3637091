// Faults on the test cluster, beyond what test/integration covers (an API server stopped with SIGTERM
// before any reap, a leader that hands its Lease over on SIGTERM, a replica stopped between requests):
//   - the API server killed with SIGKILL while leftovers are being reaped;
//   - a watch that goes silent: the reaper's connections to the API server stop carrying bytes but
//     stay open (a loopback proxy that swallows them), while a scope ends;
//   - the leading reaper killed with SIGKILL (no hand-over) in the middle of a burst;
//   - one of two webhook replicas stopped (SIGTERM, drain) while daemon pods are being created;
//   - the webhook's serving certificate rotated while daemon pods are being created.
// What must hold: no lost reap (every leftover gone), no double action (the API server's audit log
// shows at most one successful delete of each pod by anyone but kwok, and the reapers' own records at
// most one "deleted" per pod uid), and every daemon pod created during a fault carries the guard's
// label — counted on the pods themselves, since failurePolicy Ignore turns a failed call into an
// unlabeled pod, not an error.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { connect } from 'node:tls';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { apiserverSpec } from '../cluster/components.ts';
import { singleWebhook, startWebhookReplicas, stopWebhook } from '../cluster/cluster.ts';
import { fetchText } from '../cluster/kubeconfig.ts';
import { sleep } from '../cluster/lock.ts';
import { start } from '../cluster/processes.ts';
import { adminTls } from '../cluster/state.ts';
import { issueServingCert } from '../../webhook/tls/pki.ts';
import { guard } from '../../core/keys.ts';
import { cluster, counter, waitUntil, webhookMetrics } from '../integration/helpers.ts';
import { endScope, localConfig, podExists, reaperNamespace, stageDaemon, startReaper, type ReaperProcess, type StagedDaemon } from '../integration/reaper-support.ts';
import { auditOffset, daemonPodsUnderLoad, deletesPerPod, kill9, kubeconfigVia, labeledAmong, silentProxy, type SilentProxy } from './support.ts';

let ns: string;
beforeEach(async () => {
  ns = await reaperNamespace();
});

const allGone = (pods: StagedDaemon[], timeoutMs = 90_000) =>
  waitUntil(`${pods.length} leftovers deleted`, async () => (await Promise.all(pods.map((d) => podExists(ns, d.pod.name, d.pod.uid)))).every((exists) => !exists), timeoutMs, 500);
const leading = async (r: ReaperProcess) => counter(await r.metrics(), 'argo_daemon_guard_reaper_leader') === 1;
const deletedRecords = (reapers: ReaperProcess[], uid: string) => reapers.flatMap((r) => r.audit()).filter((a) => a.podUid === uid && a.outcome === 'deleted').length;
const stageMany = (prefix: string, n: number) => Promise.all(Array.from({ length: n }, (_, i) => stageDaemon(ns, `${prefix}-${i}`)));

/** No pod deleted twice; only the staged pods deleted at all. */
function expectAtMostOneDeleteEach(offset: number, staged: StagedDaemon[], reapers: ReaperProcess[]): Map<string, number> {
  const deletes = deletesPerPod(cluster(), offset, ns);
  const names = new Set(staged.map((d) => d.pod.name));
  expect([...deletes.keys()].filter((n) => !names.has(n)), 'pods deleted that were not leftovers').toEqual([]);
  for (const d of staged) {
    expect(deletes.get(d.pod.name) ?? 0, `successful deletes of ${d.pod.name}`).toBeLessThanOrEqual(1);
    expect(deletedRecords(reapers, d.pod.uid), `"deleted" records for ${d.pod.name}`).toBeLessThanOrEqual(1);
  }
  return deletes;
}

describe('reaper faults', () => {
  test('the API server killed (SIGKILL) while leftovers are being reaped: every one deleted, none twice; pods created as it comes back are labeled', async () => {
    const s = cluster();
    const staged = await stageMany('apiserver-kill', 12);
    const reaper = await startReaper({ name: 'reaper-apiserver-kill', config: localConfig(ns), leaseNamespace: ns });
    await waitUntil('the reaper to lead', () => leading(reaper));
    const offset = auditOffset(s);
    await Promise.all(staged.map((d) => endScope(ns, d.workflow.name)));
    // Kill it once the first deletion is through: the others are somewhere between their fresh reads,
    // their delete and their verification.
    await waitUntil('the first deletion', async () => reaper.audit().some((a) => a.outcome === 'deleted'), 60_000, 50);
    await kill9(s, 'kube-apiserver');
    await sleep(3000);
    start(s.stateDir, apiserverSpec(s, join(s.stateDir, 'audit-policy.yaml')));
    await waitUntil('kube-apiserver ready again', async () => (await fetchText(`${s.server}/readyz`, { tls: adminTls(s), timeoutMs: 2000 })).status === 200, 90_000);
    // Daemon pods created the moment it is back: the webhook's connections were all cut.
    const load = await daemonPodsUnderLoad(ns, sleep(3000), 4);
    expect(load.errors).toEqual([]);
    expect(load.created.length).toBeGreaterThan(0);
    expect(await labeledAmong(ns, load.created)).toEqual({ labeled: load.created.length, unlabeled: [] });

    await allGone(staged);
    // The audit log of a killed API server may lack a request it was serving, so deletes counted there
    // can only be bounded above; the pods themselves are gone.
    expectAtMostOneDeleteEach(offset, staged, [reaper]);
  });

  test('a watch that goes silent (the connections stop carrying bytes and stay open): a scope that ends meanwhile is still reaped, once', async () => {
    const s = cluster();
    let proxy: SilentProxy | undefined;
    try {
      proxy = await silentProxy(s.ports.apiserver);
      const kubeconfig = kubeconfigVia(s, proxy.port, join(s.stateDir, 'kubeconfig-silent-proxy.yaml'));
      const d = await stageDaemon(ns, 'silent-watch');
      // The resync (5 s here) is what recovers: it decides every pod again, and the fresh Workflow read
      // before a delete sees the scope ended. The reaper's own limit on a silent watch (150 s, not
      // configurable) is longer than a test should wait.
      const reaper = await startReaper({ name: 'reaper-silent', config: localConfig(ns, { resync: '5s' }), leaseNamespace: ns, kubeconfig });
      await waitUntil('the reaper to lead', () => leading(reaper));
      // Its pod and Workflow watches are open through the proxy; from now on they carry nothing.
      expect(proxy.freeze()).toBeGreaterThanOrEqual(2);
      const offset = auditOffset(s);
      await endScope(ns, 'silent-watch');
      await allGone([d]);
      expect(expectAtMostOneDeleteEach(offset, [d], [reaper]).get(d.pod.name)).toBe(1);
      await waitUntil('the deleted record', async () => deletedRecords([reaper], d.pod.uid) === 1);
    } finally {
      await proxy?.close();
    }
  });

  test('the leading reaper killed (SIGKILL, no hand-over) mid-burst: the other takes over once the Lease expires; every leftover deleted exactly once', async () => {
    const s = cluster();
    const staged = await stageMany('leader-kill', 4);
    // Two deletions a minute: the leader gets two done, the rest wait for the next replica.
    const config = localConfig(ns, { rateLimit: { perMinute: 2 } });
    const a = await startReaper({ name: 'reaper-kill-a', config, leaseNamespace: ns });
    const b = await startReaper({ name: 'reaper-kill-b', config, leaseNamespace: ns });
    const leader = await waitUntil('one leader', async () => {
      const [la, lb] = [await leading(a), await leading(b)];
      return la !== lb ? (la ? a : b) : undefined;
    });
    const other = leader === a ? b : a;
    const offset = auditOffset(s);
    await Promise.all(staged.map((d) => endScope(ns, d.workflow.name)));
    await waitUntil('the leader to delete', async () => leader.audit().some((x) => x.outcome === 'deleted'), 60_000, 50);
    await kill9(s, leader.name);
    await waitUntil('the other replica to lead', () => leading(other), 60_000);
    await allGone(staged);
    const deletes = expectAtMostOneDeleteEach(offset, staged, [a, b]);
    // The API server stayed up, so its audit log has every delete: exactly one per leftover.
    for (const d of staged) expect(deletes.get(d.pod.name), d.pod.name).toBe(1);
    expect(other.audit().filter((x) => x.outcome === 'deleted').length).toBeGreaterThan(0);
  });
});

/** SHA-256 fingerprint of the certificate the webhook presents to a new connection. */
function servedFingerprint(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
      const fp = socket.getPeerCertificate().fingerprint256;
      socket.end();
      resolve(fp);
    });
    socket.on('error', reject);
  });
}

function writeAtomically(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

describe('webhook faults under load', () => {
  afterEach(async () => {
    await singleWebhook(cluster());
  });

  test('one of two webhook replicas stopped (SIGTERM, drain) while daemon pods are created: every pod created meanwhile is labeled', async () => {
    const s = cluster();
    const replicas = await startWebhookReplicas(s, 2);
    const mutated = async (port: number) => counter(await webhookMetrics(port), `${guard.metricPrefix}admissions_total`, { endpoint: 'mutate', kind: 'Pod' });
    let stopped = '';
    const load = await daemonPodsUnderLoad(
      ns,
      (async () => {
        await sleep(2500);
        // Stop the busier replica (the API server keeps connections open, so one may serve them all).
        const served = await Promise.all(replicas.ports.map(mutated));
        stopped = replicas.names[served[0]! >= served[1]! ? 0 : 1]!;
        await stopWebhook(s, stopped);
        await sleep(3000);
      })(),
    );
    expect(stopped).not.toBe('');
    expect(load.errors).toEqual([]);
    expect(load.created.length).toBeGreaterThan(10);
    expect(await labeledAmong(ns, load.created)).toEqual({ labeled: load.created.length, unlabeled: [] });
  });

  test('the serving certificate rotated while daemon pods are created (new key pair, same CA): every pod created meanwhile is labeled', async () => {
    const s = cluster();
    const ca = readFileSync(s.webhook.caFile, 'utf8');
    const original = { cert: readFileSync(s.webhook.certFile, 'utf8'), key: readFileSync(s.webhook.keyFile, 'utf8') };
    const webhookCa = { certPem: readFileSync(s.pki.webhookCa.cert, 'utf8'), keyPem: readFileSync(s.pki.webhookCa.key, 'utf8') };
    const next = await issueServingCert(webhookCa, { commonName: 'argo-daemon-guard-webhook', dnsNames: ['localhost'], ips: ['127.0.0.1'] });
    const before = await servedFingerprint(s.webhook.port, ca);
    try {
      let rotatedTo = '';
      const load = await daemonPodsUnderLoad(
        ns,
        (async () => {
          await sleep(2000);
          writeAtomically(s.webhook.keyFile, next.keyPem);
          writeAtomically(s.webhook.certFile, next.certPem);
          rotatedTo = await waitUntil('the webhook to serve the new certificate', async () => {
            const fp = await servedFingerprint(s.webhook.port, ca);
            return fp !== before ? fp : undefined;
          }, 30_000, 100);
          await sleep(3000);
        })(),
      );
      expect(rotatedTo).not.toBe('');
      expect(load.errors).toEqual([]);
      expect(load.created.length).toBeGreaterThan(10);
      expect(await labeledAmong(ns, load.created)).toEqual({ labeled: load.created.length, unlabeled: [] });
    } finally {
      writeAtomically(s.webhook.keyFile, original.key);
      writeAtomically(s.webhook.certFile, original.cert);
      await waitUntil('the webhook to serve its original certificate again', async () => (await servedFingerprint(s.webhook.port, ca)) === before, 30_000, 100);
    }
  });
});
