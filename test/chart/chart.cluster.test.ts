// The chart against the test cluster's real API server:
//   1. every scenario's rendering (hooks included) passes a server-side dry-run apply, with the
//      cert-manager and Prometheus-operator CRDs it references taken from their Go modules;
//   2. installed with helm, the webhook (self-managed certificates, a serving renewal and a CA
//      rotation) and two reapers (Lease election, a real reap) run as processes with tokens of the
//      chart's ServiceAccounts, so the chart's RBAC alone is proven enough; a SubjectAccessReview of
//      what they must NOT be able to do proves it is no more;
//   3. helm upgrade to the next chart version keeps the webhook names, the Secret and the caBundle;
//      the pre-delete hook's command deletes both configurations with the hook's RBAC only; a
//      reinstall over the kept Secret renders the caBundle from it at once.
// Not here (no kubelet, no image): pods of the Deployments running, PDB and topology spread in
// action, cert-manager issuing and injecting, the hook Job running — hack/kind-e2e.sh covers those.
import { X509Certificate } from 'node:crypto';
import { execFile } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AdmissionregistrationV1Api, CoordinationV1Api, type V1Secret } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { stringify } from 'yaml';
import { webhookNames } from '../../core/webhooks.ts';
import { createCA, issueServingCert } from '../../webhook/tls/pki.ts';
import { admissionReview } from '../fixtures/admission.ts';
import { offloadConfigMap, redisTemplate, workflowPod } from '../fixtures/pods.ts';
import { kubectl } from '../cluster/crds.ts';
import { apiError, cluster, core, custom, kc, testNamespace, waitUntil } from '../integration/helpers.ts';
import { chartCopy, find, helm, helmBinary, render, valuesFile, type Obj } from './helm.ts';
import { scenarios, variants, type Values } from './scenarios.ts';
import { allowed, httpsJson, runCli, scratchFile, serviceAccountKubeconfig, startCli, stopAll, type CliProcess } from './processes.ts';

const run = promisify(execFile);
const adm = () => kc().makeApiClient(AdmissionregistrationV1Api);
const leases = () => kc().makeApiClient(CoordinationV1Api);

/** Pinned so the dry-run is reproducible; both come from the Go module proxy, nothing is copied here. */
export const crdModules = [
  { module: 'github.com/cert-manager/cert-manager', version: 'v1.21.2', dir: 'deploy/crds', files: /^cert-manager\.io_(certificates|issuers|clusterissuers)\.yaml$/ },
  { module: 'github.com/prometheus-operator/prometheus-operator', version: 'v0.85.0', dir: 'example/prometheus-operator-crd', files: /^monitoring\.coreos\.com_(servicemonitors|prometheusrules)\.yaml$/ },
] as const;

async function moduleDir(module: string, version: string): Promise<string> {
  const { stdout } = await run('go', ['mod', 'download', '-json', `${module}@${version}`], {
    env: { ...process.env, GOFLAGS: '-mod=mod', GOTOOLCHAIN: 'local' },
    maxBuffer: 16 * 1024 * 1024,
    timeout: 600_000,
  }).catch((err: Error & { stdout?: string; stderr?: string }) => {
    throw new Error(`go mod download ${module}@${version} failed: ${err.stderr || err.stdout || err.message}`);
  });
  const info = JSON.parse(stdout) as { Dir?: string; Error?: string };
  if (!info.Dir) throw new Error(`go mod download ${module}@${version}: ${info.Error ?? 'no Dir'}`);
  return info.Dir;
}

const admin = () => cluster().kubeconfig;
const release = 'adg';
const fullname = 'adg-argo-daemon-guard';
const instanceId = 'adg-chart-test';

function writeObjects(name: string, objects: Obj[]): string {
  const file = scratchFile(`${name}.yaml`);
  writeFileSync(file, objects.map((o) => stringify(o)).join('---\n'));
  return file;
}

const crdStatus: Record<string, string> = {};

beforeAll(async () => {
  await helmBinary();
  for (const c of crdModules) {
    try {
      const dir = join(await moduleDir(c.module, c.version), c.dir);
      const files = readdirSync(dir).filter((f) => c.files.test(f));
      const args = ['apply', '--server-side', '--force-conflicts', '--field-manager=argo-daemon-guard-test'];
      for (const f of files) args.push('-f', join(dir, f));
      await kubectl(admin(), args);
      const names = files.map((f) => f.replace(/^([^_]+)_(.+)\.yaml$/, '$2.$1'));
      await kubectl(admin(), ['wait', '--for=condition=Established', '--timeout=60s', ...names.map((n) => `crd/${n}`)]);
      crdStatus[c.module] = 'installed';
    } catch (err) {
      // The proxy refusing a module is reported, and the scenarios that need its CRDs are skipped.
      crdStatus[c.module] = (err as Error).message;
    }
  }
}, 900_000);

afterAll(async () => {
  await stopAll();
});

describe('server-side dry-run of every rendering', () => {
  let dryNs: string;
  let targets: string[];
  beforeAll(async () => {
    dryNs = await testNamespace('adg-dry');
    targets = [await testNamespace('adg-dry-argo'), await testNamespace('adg-dry-team')];
  });

  /** A server-side dry-run apply (strict field validation) of the whole rendering: every object accepted. */
  async function expectAccepted(name: string, values: Values) {
    const objects = await render({ values, namespace: dryNs });
    const file = writeObjects(`dry-run-${name}`, objects);
    const { stdout } = await kubectl(admin(), ['apply', '--server-side', '--dry-run=server', '--field-manager=adg-chart-test', '--validate=strict', '-f', file]);
    const applied = stdout.split('\n').filter((l) => l.includes('(server dry run)'));
    expect(applied).toHaveLength(objects.length);
  }

  const needs: Record<string, string | undefined> = {
    certManager: crdModules[0].module,
    certManagerIssuer: crdModules[0].module,
    everything: crdModules[1].module,
  };

  test.each(Object.keys(scenarios))('%s: every object (hooks included) is accepted by the API server', async (name) => {
    const module = needs[name];
    if (module && crdStatus[module] !== 'installed') {
      console.warn(`skipped ${name}: the CRDs of ${module} are not available: ${crdStatus[module]}`);
      return;
    }
    let values: Values = scenarios[name]!;
    if (name === 'namespaced') values = { namespaced: { enabled: true, namespaces: targets } };
    await expectAccepted(name, values);
  });

  test.each(Object.keys(variants))('%s: every object (hooks included) is accepted by the API server', async (name) => {
    const module = crdModules[1].module;
    if (crdStatus[module] !== 'installed') {
      console.warn(`skipped ${name}: the CRDs of ${module} are not available: ${crdStatus[module]}`);
      return;
    }
    await expectAccepted(name, variants[name]!);
  });

  test('the CRDs came from their Go modules (or the reason they could not)', () => {
    for (const c of crdModules) expect(crdStatus[c.module], c.module).toBe('installed');
  });
});

// ---- installed with helm, run with the chart's RBAC only ------------------------------------------

interface SecretData {
  resourceVersion: string;
  data: Record<string, string>;
}
async function certSecret(ns: string): Promise<SecretData> {
  const s = await core().readNamespacedSecret({ namespace: ns, name: `${fullname}-webhook-certs` });
  return { resourceVersion: s.metadata!.resourceVersion!, data: Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')])) };
}
async function writeCertSecret(ns: string, data: Record<string, string>): Promise<void> {
  const s = await core().readNamespacedSecret({ namespace: ns, name: `${fullname}-webhook-certs` });
  const body: V1Secret = { ...s, data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])) };
  await core().replaceNamespacedSecret({ namespace: ns, name: s.metadata!.name!, body });
}
/** Every webhook's caBundle, by configuration kind and webhook name (undefined: none). */
async function caBundles(): Promise<Record<string, string | undefined>> {
  const m = await adm().readMutatingWebhookConfiguration({ name: fullname });
  const v = await adm().readValidatingWebhookConfiguration({ name: fullname });
  return Object.fromEntries([...(m.webhooks ?? []), ...(v.webhooks ?? [])].map((w) => [w.name, w.clientConfig.caBundle]));
}
async function setCaBundles(bundlePem: string): Promise<void> {
  const value = Buffer.from(bundlePem).toString('base64');
  for (const kind of ['mutatingwebhookconfiguration', 'validatingwebhookconfiguration']) {
    const n = kind.startsWith('mutating') ? 1 : 3;
    const ops = Array.from({ length: n }, (_, i) => ({ op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value }));
    await kubectl(admin(), ['patch', kind, fullname, '--type=json', `-p=${JSON.stringify(ops)}`]);
  }
}
/** The fixture's ConfigMap names a Workflow that does not exist here: without this the garbage collector deletes it. */
function ownerless(cm: Record<string, unknown>): Record<string, unknown> {
  const metadata = { ...(cm.metadata as Record<string, unknown>) };
  delete metadata.ownerReferences;
  return { ...cm, metadata };
}
const certsIn = (pem: string) => [...pem.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)].map((m) => new X509Certificate(m[0]));
const days = (n: number) => n * 86_400_000;

describe('installed with helm; the webhook and the reaper run with the chart\'s RBAC only', () => {
  let ns: string;
  let work: string;
  const values = { instanceId, reaper: { config: { graceMargin: '0s' } } };
  let webhookKc: string;
  let reaperKc: string;
  let policyFile: string;
  const sa = (component: string) => ({ namespace: ns, name: `${fullname}-${component}` });

  beforeAll(async () => {
    ns = await testNamespace('adg-chart');
    work = await testNamespace('adg-work');
  });
  afterAll(async () => {
    await stopAll();
    // helm uninstall below removes the release; this is for a test that failed before it.
    await helm(['uninstall', release, '--namespace', ns, '--no-hooks', '--ignore-not-found'], { kubeconfig: admin() });
  });

  test('helm install creates the release: empty pre-created Secret, configurations without a caBundle yet', async () => {
    const r = await helm(['install', release, chartCopy('0.1.0'), '--namespace', ns, '-f', valuesFile(values)], { kubeconfig: admin() });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const secret = await core().readNamespacedSecret({ namespace: ns, name: `${fullname}-webhook-certs` });
    expect(secret.data ?? {}).toEqual({});
    expect(secret.metadata?.annotations?.['helm.sh/resource-policy']).toBe('keep');
    expect(Object.keys(await caBundles()).sort()).toEqual(Object.values(webhookNames).sort());
    expect(Object.values(await caBundles()).every((c) => !c)).toBe(true);
    webhookKc = await serviceAccountKubeconfig(ns, `${fullname}-webhook`);
    reaperKc = await serviceAccountKubeconfig(ns, `${fullname}-reaper`);
    const policy = await core().readNamespacedConfigMap({ namespace: ns, name: `${fullname}-policy` });
    policyFile = scratchFile('policy.yaml');
    writeFileSync(policyFile, policy.data!['policy.yaml']!);
  });

  // The webhook exactly as the chart's Deployment runs it, on loopback.
  function startWebhookProcess(): CliProcess {
    return startCli('webhook', [
      'webhook',
      '--manage-certs',
      `--cert-secret=${fullname}-webhook-certs`,
      `--namespace=${ns}`,
      `--webhook-config-name=${fullname}`,
      `--service-name=${fullname}-webhook`,
      `--policy=${policyFile}`,
      `--kubeconfig=${webhookKc}`,
      '--port=0',
      '--host=127.0.0.1',
    ]);
  }
  async function webhookUp(): Promise<{ proc: CliProcess; port: number }> {
    const proc = startWebhookProcess();
    const listening = await proc.waitForRecord('"listening"', (r) => r.msg === 'listening', 60_000);
    return { proc, port: Number(listening.port) };
  }
  const servername = () => `${fullname}-webhook.${ns}.svc`;

  test('webhook --manage-certs with the webhook ServiceAccount\'s token: fills the Secret, sets every caBundle, serves the certificate', async () => {
    const { proc, port } = await webhookUp();
    const s = await certSecret(ns);
    expect(Object.keys(s.data).sort()).toEqual(['ca-bundle.crt', 'ca.crt', 'ca.key', 'tls.crt', 'tls.key']);
    const expected = Buffer.from(s.data['ca-bundle.crt']!).toString('base64');
    const bundles = await caBundles();
    for (const name of Object.values(webhookNames)) expect(bundles[name], name).toBe(expected);
    const ready = await httpsJson({ port, path: '/readyz', ca: s.data['ca.crt']!, servername: servername() });
    expect(ready.status).toBe(200);
    await proc.stop();
  });

  test('the webhook reads an offloaded template through the chart\'s configmaps grant', async () => {
    const { proc, port } = await webhookUp();
    const pod = workflowPod({ workflow: 'offloaded-wf', namespace: work, workflowUid: '0b8f7e4e-4a8e-4d8c-9a3b-6a7d4c2e1f00', nodeName: 'offloaded-wf[0].db', template: redisTemplate, layout: 'legacy', offloaded: true, instanceId });
    await core().createNamespacedConfigMap({ namespace: work, body: ownerless(offloadConfigMap(pod, redisTemplate)) as never });
    const ca = (await certSecret(ns)).data['ca.crt']!;
    const res = await httpsJson({ port, path: '/mutate', ca, servername: servername(), body: admissionReview(pod as never, { namespace: work }) });
    expect(res.status).toBe(200);
    const review = JSON.parse(res.body) as { response: { allowed: boolean; patch?: string } };
    expect(review.response.allowed).toBe(true);
    expect(Buffer.from(review.response.patch ?? '', 'base64').toString('utf8')).toContain('argo-daemon-guard.io~1daemon');
    const metrics = await httpsJson({ port, path: '/metrics', ca, servername: servername() });
    expect(metrics.body).toMatch(/argo_daemon_guard_offloaded_template_reads_total\{outcome="ok"\} 1/);
    await proc.stop();
  });

  test('renewal: a serving certificate with under a third of its life left is renewed from the same CA', async () => {
    const before = await certSecret(ns);
    const ca = { certPem: before.data['ca.crt']!, keyPem: before.data['ca.key']! };
    const old = await issueServingCert(ca, { commonName: servername(), dnsNames: [servername(), `${servername()}.cluster.local`], validDays: 30, notBefore: new Date(Date.now() - days(25)) });
    await writeCertSecret(ns, { ...before.data, 'tls.crt': old.certPem, 'tls.key': old.keyPem });
    const { proc } = await webhookUp();
    await proc.waitForRecord('certificates updated', (r) => r.msg === 'self-managed certificates updated');
    const after = await certSecret(ns);
    expect(after.data['ca.crt']).toBe(before.data['ca.crt']);
    expect(after.data['ca-bundle.crt']).toBe(before.data['ca-bundle.crt']);
    const renewed = new X509Certificate(after.data['tls.crt']!);
    expect(new Date(renewed.validTo).getTime()).toBeGreaterThan(Date.now() + days(300));
    expect(renewed.checkIssued(new X509Certificate(after.data['ca.crt']!))).toBe(true);
    await proc.stop();
  });

  test('CA rotation: a new CA joins the bundle in the Secret and in every caBundle; the next check re-issues from it', async () => {
    const oldCa = await createCA(`${fullname}-webhook-ca`, 30, new Date(Date.now() - days(25)));
    const serving = await issueServingCert(oldCa, { commonName: servername(), dnsNames: [servername(), `${servername()}.cluster.local`], validDays: 30, notBefore: new Date(Date.now() - days(25)) });
    await writeCertSecret(ns, { 'ca.crt': oldCa.certPem, 'ca.key': oldCa.keyPem, 'tls.crt': serving.certPem, 'tls.key': serving.keyPem, 'ca-bundle.crt': oldCa.certPem });
    await setCaBundles(oldCa.certPem);

    let { proc } = await webhookUp();
    await proc.waitForRecord('caBundle updated', (r) => r.msg === 'caBundle updated' && r.kind === 'ValidatingWebhookConfiguration');
    const rotated = await certSecret(ns);
    const bundle = certsIn(rotated.data['ca-bundle.crt']!);
    expect(bundle).toHaveLength(2);
    expect(bundle[1]!.fingerprint256).toBe(new X509Certificate(oldCa.certPem).fingerprint256);
    expect(rotated.data['ca.crt']).not.toBe(oldCa.certPem);
    // The old serving certificate stays until every caBundle trusts the new CA.
    expect(rotated.data['tls.crt']).toBe(serving.certPem);
    const expected = Buffer.from(rotated.data['ca-bundle.crt']!).toString('base64');
    for (const [name, b] of Object.entries(await caBundles())) expect(b, name).toBe(expected);
    await proc.stop();

    ({ proc } = await webhookUp());
    await proc.waitForRecord('certificates updated', (r) => r.msg === 'self-managed certificates updated');
    const reissued = await certSecret(ns);
    expect(new X509Certificate(reissued.data['tls.crt']!).checkIssued(new X509Certificate(reissued.data['ca.crt']!))).toBe(true);
    await proc.stop();
  });

  test('and nothing more: no other Secret, no list/watch/create of Secrets, no exec, no other webhook configuration', async () => {
    const webhook = sa('webhook');
    const reaper = sa('reaper');
    const secret = `${fullname}-webhook-certs`;
    expect(await allowed(webhook, { verb: 'get', resource: 'secrets', namespace: ns, name: secret })).toBe(true);
    expect(await allowed(webhook, { verb: 'update', resource: 'secrets', namespace: ns, name: secret })).toBe(true);
    const denied = [
      [webhook, { verb: 'list', resource: 'secrets', namespace: ns }],
      [webhook, { verb: 'watch', resource: 'secrets', namespace: ns }],
      [webhook, { verb: 'create', resource: 'secrets', namespace: ns }],
      [webhook, { verb: 'delete', resource: 'secrets', namespace: ns, name: secret }],
      [webhook, { verb: 'patch', resource: 'secrets', namespace: ns, name: secret }],
      [webhook, { verb: 'get', resource: 'secrets', namespace: ns, name: 'another-secret' }],
      [webhook, { verb: 'get', resource: 'secrets', namespace: work, name: secret }],
      [webhook, { verb: 'list', resource: 'configmaps', namespace: work }],
      [webhook, { verb: 'patch', resource: 'mutatingwebhookconfigurations', group: 'admissionregistration.k8s.io', name: 'argo-daemon-guard' }],
      [webhook, { verb: 'delete', resource: 'validatingwebhookconfigurations', group: 'admissionregistration.k8s.io', name: fullname }],
      [webhook, { verb: 'create', resource: 'pods', subresource: 'exec', namespace: work, name: 'any' }],
      [reaper, { verb: 'create', resource: 'pods', subresource: 'exec', namespace: work, name: 'any' }],
      [reaper, { verb: 'get', resource: 'secrets', namespace: work, name: 'any' }],
      [reaper, { verb: 'list', resource: 'secrets', namespace: work }],
      [reaper, { verb: 'get', resource: 'configmaps', namespace: work, name: 'any' }],
      [reaper, { verb: 'update', resource: 'workflows', group: 'argoproj.io', namespace: work, name: 'any' }],
      [reaper, { verb: 'update', resource: 'leases', group: 'coordination.k8s.io', namespace: ns, name: 'another-lease' }],
      [reaper, { verb: 'create', resource: 'leases', group: 'coordination.k8s.io', namespace: work }],
      [sa('uninstall'), { verb: 'get', resource: 'pods', namespace: work }],
    ] as const;
    for (const [who, access] of denied) expect(await allowed(who, access), `${who.name} ${JSON.stringify(access)}`).toBe(false);
  });

  test('two reapers with the reaper ServiceAccount\'s token: one leads through the chart\'s Lease, a leftover daemon is reaped, the other takes over', async () => {
    const config = await core().readNamespacedConfigMap({ namespace: ns, name: `${fullname}-reaper-config` });
    const configFile = scratchFile('reaper.yaml');
    writeFileSync(configFile, config.data!['config.yaml']!);
    const lease = `${fullname}-reaper`;
    const reaper = (identity: string) =>
      startCli(identity, ['reaper', `--config=${configFile}`, `--kubeconfig=${reaperKc}`, '--port=0', `--lease-namespace=${ns}`, `--lease-name=${lease}`, `--identity=${identity}`]);
    await waitUntil('Workflows listable', async () => !!(await custom().listNamespacedCustomObject({ group: 'argoproj.io', version: 'v1alpha1', namespace: work, plural: 'workflows' })), 60_000);
    const r1 = reaper('reaper-1');
    const r2 = reaper('reaper-2');
    for (const r of [r1, r2]) await r.waitForRecord('caches synced', (x) => x.msg === 'caches synced', 60_000);
    const holder = await waitUntil('a reaper holds the Lease', async () => (await leases().readNamespacedLease({ namespace: ns, name: lease })).spec?.holderIdentity || undefined, 60_000);
    expect(['reaper-1', 'reaper-2']).toContain(holder);

    // A daemon orphaned by `--cascade=orphan`: no ownerReference, only the guard's uid label; its Workflow is gone.
    const pod = workflowPod({ workflow: 'orphaned-wf', namespace: work, workflowUid: '5d0c2a1e-7b3f-4c9e-8a6d-2f1e0b9c8d7a', nodeName: 'orphaned-wf[0].db', template: redisTemplate, layout: 'legacy', instanceId });
    delete pod.metadata.ownerReferences;
    pod.metadata.labels['argo-daemon-guard.io/daemon'] = 'true';
    pod.metadata.labels['argo-daemon-guard.io/workflow-uid'] = '5d0c2a1e-7b3f-4c9e-8a6d-2f1e0b9c8d7a';
    (pod.spec as Record<string, unknown>).terminationGracePeriodSeconds = 0;
    await core().createNamespacedPod({ namespace: work, body: pod as never });
    // kwok makes it Running; the leader reaps it at once (grace 0 + graceMargin 0s), maybe before a poll sees it Running.
    await waitUntil(
      'the reaper to delete the orphaned daemon',
      async () => core().readNamespacedPod({ namespace: work, name: pod.metadata.name }).then(() => false, (e: unknown) => apiError(e).code === 404),
      90_000,
    );
    const leader = holder === 'reaper-1' ? r1 : r2;
    const record = await leader.waitForRecord('the reap record', (x) => x.event === 'reap' && x.pod === pod.metadata.name);
    expect(record).toMatchObject({ reason: 'owner-gone', outcome: 'deleted' });
    const events = await waitUntil('a DaemonReaped Event', async () => {
      const list = await core().listNamespacedEvent({ namespace: work, fieldSelector: 'reason=DaemonReaped' });
      return list.items.length ? list.items : undefined;
    });
    expect(events[0]!.involvedObject.name).toBe(pod.metadata.name);

    // The leader hands over on SIGTERM; the other takes the Lease with its update-by-name grant.
    await leader.stop();
    const other = holder === 'reaper-1' ? 'reaper-2' : 'reaper-1';
    await waitUntil('the other reaper to take the Lease', async () => (await leases().readNamespacedLease({ namespace: ns, name: lease })).spec?.holderIdentity === other, 60_000);
    await (holder === 'reaper-1' ? r2 : r1).stop();
  });

  test('helm upgrade to the next chart version keeps the webhook names, the Secret and every caBundle (server-side and client-side apply)', async () => {
    const secretBefore = await certSecret(ns);
    const bundlesBefore = await caBundles();
    expect(Object.values(bundlesBefore).every((b) => b && b === Buffer.from(secretBefore.data['ca-bundle.crt']!).toString('base64'))).toBe(true);

    // The render an upgrade applies: helm's lookup puts the live caBundle in, never an empty one.
    const next = chartCopy('0.2.0');
    const preview = await render({ chart: next, namespace: ns, values: { ...values, webhook: { logLevel: 'debug' } }, extraArgs: ['--dry-run=server'], kubeconfig: admin() });
    for (const cfg of [...find(preview, 'MutatingWebhookConfiguration'), ...find(preview, 'ValidatingWebhookConfiguration')]) {
      for (const w of cfg.webhooks as { name: string; clientConfig: { caBundle?: string } }[]) expect(w.clientConfig.caBundle, w.name).toBe(bundlesBefore[w.name]);
    }

    for (const serverSide of ['true', 'false']) {
      const r = await helm(['upgrade', release, next, '--namespace', ns, '-f', valuesFile({ ...values, webhook: { logLevel: serverSide === 'true' ? 'debug' : 'warn' } }), `--server-side=${serverSide}`], { kubeconfig: admin() });
      expect(r.stderr, `--server-side=${serverSide}`).toBe('');
      expect(r.code).toBe(0);
      expect(await caBundles(), `caBundles after --server-side=${serverSide}`).toEqual(bundlesBefore);
      expect((await certSecret(ns)).data, `Secret after --server-side=${serverSide}`).toEqual(secretBefore.data);
    }
    const m = await adm().readMutatingWebhookConfiguration({ name: fullname });
    expect(m.metadata?.labels?.['helm.sh/chart']).toBe('argo-daemon-guard-0.2.0');
  });

  test('the pre-delete hook\'s command, with only the hook\'s RBAC, deletes both configurations, and is idempotent', async () => {
    const objs = await render({ namespace: ns, values });
    const hookRbac = objs.filter((o) => ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding'].includes(o.kind) && o.metadata.name === `${fullname}-uninstall`);
    expect(hookRbac).toHaveLength(3);
    const file = writeObjects('hook-rbac', hookRbac);
    await kubectl(admin(), ['apply', '--server-side', '--field-manager=adg-chart-test', '-f', file]);
    try {
      const hookKc = await serviceAccountKubeconfig(ns, `${fullname}-uninstall`);
      expect(await allowed(sa('uninstall'), { verb: 'delete', resource: 'mutatingwebhookconfigurations', group: 'admissionregistration.k8s.io', name: 'argo-daemon-guard' })).toBe(false);
      // Exactly the hook Job's arguments.
      const job = objs.find((o) => o.kind === 'Job' && o.metadata.name === `${fullname}-uninstall`) as unknown as { spec: { template: { spec: { containers: { args: string[] }[] } } } };
      const hookArgs = job.spec.template.spec.containers[0]!.args;
      expect(hookArgs).toEqual(['uninstall-webhooks', `--name=${fullname}`, '--ignore-not-found']);
      const first = await runCli([...hookArgs, `--kubeconfig=${hookKc}`, '--timeout=20']);
      expect(first.output).toContain(`MutatingWebhookConfiguration ${fullname}: deleted`);
      expect(first.output).toContain(`ValidatingWebhookConfiguration ${fullname}: deleted`);
      expect(first.code).toBe(0);
      await expect(adm().readMutatingWebhookConfiguration({ name: fullname })).rejects.toSatisfy((e: unknown) => apiError(e).code === 404);
      await expect(adm().readValidatingWebhookConfiguration({ name: fullname })).rejects.toSatisfy((e: unknown) => apiError(e).code === 404);
      const again = await runCli([...hookArgs, `--kubeconfig=${hookKc}`, '--timeout=20']);
      expect(again.output).toContain('already gone');
      expect(again.code).toBe(0);
      // By hand, by release (the chart's labels): nothing left to delete is "found none", exit 1.
      const byHand = await runCli(['uninstall-webhooks', `--release=${release}`, `--kubeconfig=${admin()}`, '--timeout=20']);
      expect(byHand.output).toContain(`found none: no webhook configuration of release ${release}`);
      expect(byHand.code).toBe(1);
    } finally {
      await kubectl(admin(), ['delete', '--ignore-not-found', '-f', file]);
    }
  });

  test('helm uninstall keeps the Secret; a reinstall renders the caBundle from it at once', async () => {
    const secret = await certSecret(ns);
    // The Job of the pre-delete hook cannot run here (no kubelet): the previous test ran its command.
    const u = await helm(['uninstall', release, '--namespace', ns, '--no-hooks'], { kubeconfig: admin() });
    expect(u.code).toBe(0);
    expect((await certSecret(ns)).data).toEqual(secret.data);

    const r = await helm(['install', release, chartCopy('0.2.0'), '--namespace', ns, '-f', valuesFile(values)], { kubeconfig: admin() });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const expected = Buffer.from(secret.data['ca-bundle.crt']!).toString('base64');
    for (const [name, b] of Object.entries(await caBundles())) expect(b, name).toBe(expected);
    // By hand, without a name: the only release's configurations, found by the chart's labels, listed as deleted.
    const byHand = await runCli(['uninstall-webhooks', `--kubeconfig=${admin()}`, '--timeout=20']);
    expect(byHand.output).toContain(`MutatingWebhookConfiguration ${fullname}: deleted`);
    expect(byHand.output).toContain(`ValidatingWebhookConfiguration ${fullname}: deleted`);
    expect(byHand.code).toBe(0);
    expect((await helm(['uninstall', release, '--namespace', ns, '--no-hooks'], { kubeconfig: admin() })).code).toBe(0);
  });
});

describe('namespaced mode, with the chart\'s RBAC only', () => {
  let ns: string;
  let listed: string;
  let unlisted: string;
  const rel = 'adg-ns';
  const name = 'adg-ns-argo-daemon-guard';
  let values: Values;
  let webhookKc: string;

  beforeAll(async () => {
    ns = await testNamespace('adg-nsmode');
    listed = await testNamespace('adg-listed');
    unlisted = await testNamespace('adg-unlisted');
    // A short graceMargin (the default is 30s): what this part proves is the RBAC, not the wait.
    values = { instanceId: 'adg-chart-test-ns', namespaced: { enabled: true, namespaces: [listed] }, reaper: { config: { graceMargin: '1s' } } };
    const r = await helm(['install', rel, chartCopy('0.1.0'), '--namespace', ns, '-f', valuesFile(values)], { kubeconfig: admin() });
    if (r.code !== 0) throw new Error(`helm install: ${r.stderr}`);
    webhookKc = await serviceAccountKubeconfig(ns, `${name}-webhook`);
  });
  afterAll(async () => {
    await stopAll();
    await helm(['uninstall', rel, '--namespace', ns, '--no-hooks', '--ignore-not-found'], { kubeconfig: admin() });
  });

  test('the webhook manages its certificates and reads offloaded templates in the listed namespaces only', async () => {
    const proc = startCli('webhook-ns', [
      'webhook', '--manage-certs', `--cert-secret=${name}-webhook-certs`, `--namespace=${ns}`, `--webhook-config-name=${name}`,
      `--service-name=${name}-webhook`, `--kubeconfig=${webhookKc}`, '--port=0', '--host=127.0.0.1',
    ]);
    const port = Number((await proc.waitForRecord('"listening"', (r) => r.msg === 'listening', 60_000)).port);
    const secret = await core().readNamespacedSecret({ namespace: ns, name: `${name}-webhook-certs` });
    const ca = Buffer.from(secret.data!['ca.crt']!, 'base64').toString('utf8');
    const servername = `${name}-webhook.${ns}.svc`;
    const m = await adm().readMutatingWebhookConfiguration({ name });
    expect(m.webhooks?.[0]?.clientConfig.caBundle).toBe(secret.data!['ca-bundle.crt']);
    const podNames: string[] = [];
    for (const target of [listed, unlisted]) {
      const pod = workflowPod({ workflow: 'offloaded-wf', namespace: target, workflowUid: '0b8f7e4e-4a8e-4d8c-9a3b-6a7d4c2e1f01', nodeName: 'offloaded-wf[0].db', template: redisTemplate, layout: 'legacy', offloaded: true });
      await core().createNamespacedConfigMap({ namespace: target, body: ownerless(offloadConfigMap(pod, redisTemplate)) as never });
      const res = await httpsJson({ port, path: '/mutate', ca, servername, body: admissionReview(pod as never, { namespace: target }) });
      expect(res.status).toBe(200);
      podNames.push(pod.metadata.name);
    }
    const metrics = (await httpsJson({ port, path: '/metrics', ca, servername })).body;
    expect(metrics).toMatch(/argo_daemon_guard_offloaded_template_reads_total\{outcome="ok"\} 1\b/);
    expect(await allowed({ namespace: ns, name: `${name}-webhook` }, { verb: 'get', resource: 'configmaps', namespace: unlisted, name: podNames[1] })).toBe(false);
    await proc.stop();
  });

  test('the reaper, with Roles in the listed namespaces only, becomes ready, leads and reaps there', async () => {
    const reaperKc = await serviceAccountKubeconfig(ns, `${name}-reaper`);
    const config = await core().readNamespacedConfigMap({ namespace: ns, name: `${name}-reaper-config` });
    const configFile = scratchFile('reaper-ns.yaml');
    writeFileSync(configFile, config.data!['config.yaml']!);
    // Just after CRDs were (re)applied the API server may answer 429 "storage is (re)initializing";
    // a reaper whose first list fails never starts deciding (see the closing note), so start after that.
    await waitUntil('Workflows listable', async () => !!(await custom().listNamespacedCustomObject({ group: 'argoproj.io', version: 'v1alpha1', namespace: listed, plural: 'workflows' })), 60_000);
    const proc = startCli('reaper-ns', ['reaper', `--config=${configFile}`, `--kubeconfig=${reaperKc}`, '--port=0', `--lease-namespace=${ns}`, `--lease-name=${name}-reaper`, '--identity=ns-reaper']);
    const withOutput = (e: Error) => {
      throw new Error(`${e.message}\nreaper output:\n${proc.lines.slice(-10).join('\n')}`);
    };
    const port = Number((await proc.waitForRecord('the health endpoint', (x) => x.msg === 'reaper health endpoint listening', 30_000)).port);
    await waitUntil('the namespaced reaper ready', async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200, 30_000).catch(withOutput);
    await waitUntil('the namespaced reaper to lead', async () => (await leases().readNamespacedLease({ namespace: ns, name: `${name}-reaper` })).spec?.holderIdentity === 'ns-reaper', 30_000).catch(withOutput);
    const pod = workflowPod({ workflow: 'orphaned-ns', namespace: listed, workflowUid: '6e1d3b2f-8c4a-4dab-9b7e-3a2f1c0d9e8b', nodeName: 'orphaned-ns[0].db', template: redisTemplate, layout: 'legacy', instanceId: 'adg-chart-test-ns' });
    delete pod.metadata.ownerReferences;
    pod.metadata.labels['argo-daemon-guard.io/daemon'] = 'true';
    pod.metadata.labels['argo-daemon-guard.io/workflow-uid'] = '6e1d3b2f-8c4a-4dab-9b7e-3a2f1c0d9e8b';
    (pod.spec as Record<string, unknown>).terminationGracePeriodSeconds = 0;
    await core().createNamespacedPod({ namespace: listed, body: pod as never });
    await waitUntil(
      'the namespaced reaper to delete the orphaned daemon',
      async () => core().readNamespacedPod({ namespace: listed, name: pod.metadata.name }).then(() => false, (e: unknown) => apiError(e).code === 404),
      90_000,
    ).catch(withOutput);
    expect(await proc.waitForRecord('the reap record', (x) => x.event === 'reap' && x.pod === pod.metadata.name)).toMatchObject({ reason: 'owner-gone', outcome: 'deleted' });
    // Its grants stop at the listed namespaces.
    const reaperSa = { namespace: ns, name: `${name}-reaper` };
    expect(await allowed(reaperSa, { verb: 'list', resource: 'pods', namespace: listed })).toBe(true);
    expect(await allowed(reaperSa, { verb: 'list', resource: 'pods', namespace: unlisted })).toBe(false);
    expect(await allowed(reaperSa, { verb: 'list', resource: 'pods' })).toBe(false);
    expect(await allowed(reaperSa, { verb: 'delete', resource: 'pods', namespace: unlisted, name: 'any' })).toBe(false);
    await proc.stop();
  });
});
