// --manage-certs against stand-ins for the Secret and the two webhook configurations: first start,
// renewal and CA rotation on an injected clock, replicas racing through resourceVersion, and the
// served certificate following the Secret without a restart.
import { X509Certificate } from 'node:crypto';
import { ApiException } from '@kubernetes/client-node';
import { applyPatch, type Operation } from 'rfc6902';
import { afterEach, describe, expect, it } from 'vitest';
import { webhookNames } from '../core/webhooks.ts';
import { startWebhook, StartupError, type RunningWebhook } from './main.ts';
import { ServingTls } from './tls/reloading.ts';
import {
  SelfManagedCerts,
  defaultCertSettings,
  planCertificates,
  secretKeys,
  serviceDnsNames,
  type CertSettings,
  type SecretClient,
  type StoredSecret,
  type WebhookConfigClient,
  type WebhookConfigKind,
} from './tls/self-managed.ts';
import { captureLogger, httpsRequest } from '../test/support/webhook.ts';

const ns = 'guard';
const dnsNames = serviceDnsNames('argo-daemon-guard-webhook', ns);
const settings: CertSettings = { ...defaultCertSettings, dnsNames, ips: [] };
const day = 86_400_000;

class FakeSecret implements SecretClient {
  readonly description = `${ns}/argo-daemon-guard-certs`;
  rv = 1;
  data: Record<string, string> = {};
  writes = 0;
  beforeUpdate: (() => Promise<unknown>) | undefined;
  failGet: Error | undefined;

  async get(): Promise<StoredSecret> {
    if (this.failGet) throw this.failGet;
    return { resourceVersion: String(this.rv), data: { ...this.data } };
  }

  async update(secret: StoredSecret, data: Record<string, string>): Promise<'ok' | 'conflict'> {
    const hook = this.beforeUpdate;
    this.beforeUpdate = undefined;
    await hook?.();
    if (secret.resourceVersion !== String(this.rv)) return 'conflict';
    this.data = { ...data };
    this.rv++;
    this.writes++;
    return 'ok';
  }
}

class FakeConfigs implements WebhookConfigClient {
  readonly name = 'argo-daemon-guard';
  patches: { kind: WebhookConfigKind; ops: Operation[] }[] = [];
  failPatch: Error | undefined;
  objects: Record<WebhookConfigKind, { webhooks: { name: string; clientConfig: { caBundle?: string } }[] }> = {
    MutatingWebhookConfiguration: { webhooks: [{ name: webhookNames.mutatePods, clientConfig: {} }] },
    ValidatingWebhookConfiguration: {
      webhooks: [webhookNames.validatePods, webhookNames.validateWorkflows, webhookNames.validateTemplates].map((name) => ({ name, clientConfig: { caBundle: '' } })),
    },
  };

  async get(kind: WebhookConfigKind) {
    return { webhooks: this.objects[kind].webhooks.map((w) => ({ name: w.name, caBundle: w.clientConfig.caBundle })) };
  }

  async patch(kind: WebhookConfigKind, ops: Operation[]) {
    if (this.failPatch) throw this.failPatch;
    const copy = structuredClone(this.objects[kind]);
    const errors = applyPatch(copy, ops).filter((e) => e !== null);
    if (errors.length) throw new Error(`patch rejected: ${errors.map(String).join('; ')}`);
    this.objects[kind] = copy;
    this.patches.push({ kind, ops });
  }

  bundles(): string[] {
    return Object.values(this.objects).flatMap((o) => o.webhooks.map((w) => Buffer.from(w.clientConfig.caBundle ?? '', 'base64').toString('utf8')));
  }
}

function certsIn(bundle: string): X509Certificate[] {
  return [...bundle.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)].map((m) => new X509Certificate(m[0]));
}

function issuedBy(certPem: string, caPem: string): boolean {
  const cert = new X509Certificate(certPem);
  const ca = new X509Certificate(caPem);
  return cert.checkIssued(ca) && cert.verify(ca.publicKey);
}

function manager(secret: FakeSecret, configs: FakeConfigs, opts: { now?: () => Date; settings?: CertSettings } = {}) {
  const { logger, lines } = captureLogger('info');
  const tls = new ServingTls('test', logger);
  const m = new SelfManagedCerts({ secrets: secret, configs, tls, logger, settings: opts.settings ?? settings, ...(opts.now ? { now: opts.now } : {}) });
  return { m, tls, lines };
}

describe('self-managed certificates', () => {
  it('first start fills the empty Secret, sets every caBundle, and serves the new certificate', async () => {
    const secret = new FakeSecret();
    const configs = new FakeConfigs();
    const { m, tls } = manager(secret, configs);
    const result = await m.reconcile();
    expect(result).toMatchObject({ wrote: true, adopted: false, patched: ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration'] });
    expect(Object.keys(secret.data).sort()).toEqual(Object.values(secretKeys).sort());
    const d = secret.data;
    expect(issuedBy(d[secretKeys.tlsCert]!, d[secretKeys.caCert]!)).toBe(true);
    const serving = new X509Certificate(d[secretKeys.tlsCert]!);
    for (const n of dnsNames) expect(serving.checkHost(n, { subject: 'never' })).toBe(n);
    expect(certsIn(d[secretKeys.caBundle]!).map((c) => c.fingerprint256)).toEqual([new X509Certificate(d[secretKeys.caCert]!).fingerprint256]);
    expect(configs.bundles()).toEqual(Array(4).fill(d[secretKeys.caBundle]));
    expect(tls.current()).toEqual({ certPem: d[secretKeys.tlsCert], keyPem: d[secretKeys.tlsKey] });

    // Nothing to do the second time: no write, no patch.
    const again = await m.reconcile();
    expect(again).toMatchObject({ wrote: false, patched: [] });
    expect(secret.writes).toBe(1);
    expect(configs.patches).toHaveLength(2);
  });

  it('renews the serving certificate, then rotates the CA keeping both in the bundle until the old one expires', async () => {
    const short: CertSettings = { ...settings, caValidDays: 30, servingValidDays: 15 };
    const t0 = Date.now();
    let now = t0;
    const secret = new FakeSecret();
    const configs = new FakeConfigs();
    const { m, tls } = manager(secret, configs, { now: () => new Date(now), settings: short });
    await m.reconcile();
    const ca1 = secret.data[secretKeys.caCert]!;
    const serving1 = secret.data[secretKeys.tlsCert]!;

    // Day 11: 4 of 15 days left (< 1/3): renewed by the same CA; the caBundle does not change.
    now = t0 + 11 * day;
    expect((await m.reconcile()).changes).toEqual([expect.stringMatching(/serving certificate expires .*: renewed/)]);
    const serving2 = secret.data[secretKeys.tlsCert]!;
    expect(serving2).not.toBe(serving1);
    expect(issuedBy(serving2, ca1)).toBe(true);
    expect(configs.patches).toHaveLength(2);
    expect(tls.current()!.certPem).toBe(serving2);

    // Day 21.5: 8.5 of 30 CA days left: a new CA; the still-usable serving certificate stays one more check.
    now = t0 + 21.5 * day;
    const rotation = await m.reconcile();
    expect(rotation.changes).toEqual([expect.stringMatching(/CA expires .*: created a new CA; the old one stays in the bundle/)]);
    const ca2 = secret.data[secretKeys.caCert]!;
    expect(ca2).not.toBe(ca1);
    const bundle = secret.data[secretKeys.caBundle]!;
    expect(certsIn(bundle).map((c) => c.fingerprint256)).toEqual([ca2, ca1].map((p) => new X509Certificate(p).fingerprint256));
    expect(configs.bundles()).toEqual(Array(4).fill(bundle));
    expect(secret.data[secretKeys.tlsCert]).toBe(serving2);

    // Next check: the serving certificate is renewed by the new CA; both CAs are still trusted.
    now += 10 * 60_000;
    await m.reconcile();
    const serving3 = secret.data[secretKeys.tlsCert]!;
    expect(issuedBy(serving3, ca2)).toBe(true);
    expect(certsIn(secret.data[secretKeys.caBundle]!)).toHaveLength(2);
    expect(tls.current()!.certPem).toBe(serving3);

    // Day 31: the old CA has expired and leaves the bundle.
    now = t0 + 31 * day;
    await m.reconcile();
    expect(certsIn(secret.data[secretKeys.caBundle]!).map((c) => c.fingerprint256)).toEqual([new X509Certificate(ca2).fingerprint256]);
    expect(configs.bundles()).toEqual(Array(4).fill(secret.data[secretKeys.caBundle]));
  });

  it('on a 409 conflict adopts the certificates another replica wrote', async () => {
    const secret = new FakeSecret();
    const configs = new FakeConfigs();
    const a = manager(secret, configs);
    const b = manager(secret, configs);
    // Replica B completes its whole pass while A is about to write.
    secret.beforeUpdate = () => b.m.reconcile();
    const result = await a.m.reconcile();
    expect(result).toMatchObject({ wrote: false, adopted: true });
    expect(secret.writes).toBe(1);
    expect(a.tls.current()).toEqual(b.tls.current());
    expect(a.tls.current()!.certPem).toBe(secret.data[secretKeys.tlsCert]);
    expect(a.lines.some((l) => /another replica updated the certificate Secret first/.test(l.msg))).toBe(true);
  });

  it('replicas starting together end up serving the same certificate', async () => {
    const secret = new FakeSecret();
    const configs = new FakeConfigs();
    const replicas = [manager(secret, configs), manager(secret, configs), manager(secret, configs)];
    await Promise.all(replicas.map((r) => r.m.reconcile()));
    expect(secret.writes).toBe(1);
    for (const r of replicas) expect(r.tls.current()!.certPem).toBe(secret.data[secretKeys.tlsCert]);
    expect(configs.bundles()).toEqual(Array(4).fill(secret.data[secretKeys.caBundle]));
  });

  it('reissues a certificate that does not cover the service names, and replaces a non-matching key', async () => {
    const secret = new FakeSecret();
    secret.data = (await planCertificates({}, new Date(), { ...settings, dnsNames: ['old-name.guard.svc'] })).data;
    const { m } = manager(secret, new FakeConfigs());
    expect((await m.reconcile()).changes).toEqual([`serving certificate does not cover ${dnsNames[0]}`]);
    const other = await planCertificates({}, new Date(), settings);
    secret.data = { ...secret.data, [secretKeys.tlsKey]: other.data[secretKeys.tlsKey]! };
    expect((await m.reconcile()).changes).toEqual(['serving key does not match']);
  });

  it('does not serve a certificate from a new CA while the caBundle cannot be set', async () => {
    const secret = new FakeSecret();
    const configs = new FakeConfigs();
    const { m, tls, lines } = manager(secret, configs);
    await m.reconcile();
    const served = tls.current();
    // Another replica (or an operator) replaced everything with a new CA; patching is now refused.
    secret.data = (await planCertificates({}, new Date(), settings)).data;
    configs.failPatch = new ApiException(403, 'Forbidden', { message: 'forbidden' }, {});
    await m.reconcile();
    expect(tls.current()).toEqual(served);
    expect(lines.some((l) => l.msg === 'cannot patch caBundle' && /HTTP 403/.test(l.err))).toBe(true);
    configs.failPatch = undefined;
    await m.reconcile();
    expect(tls.current()!.certPem).toBe(secret.data[secretKeys.tlsCert]);
  });
});

describe('webhook --manage-certs', () => {
  const running: RunningWebhook[] = [];
  afterEach(async () => {
    for (const r of running.splice(0)) await r.close(1_000);
  });

  async function start(secret: FakeSecret, configs: FakeConfigs) {
    const { logger } = captureLogger('info');
    const wh = await startWebhook(
      {
        certs: { mode: 'managed', secret: 'argo-daemon-guard-certs', namespace: ns, webhookConfigName: configs.name, serviceName: 'argo-daemon-guard-webhook', extraSans: ['localhost'] },
        kubeconfig: undefined,
        port: 0,
        host: '127.0.0.1',
        policy: undefined,
        logLevel: 'info',
      },
      { logger, kube: { ok: false, reason: 'no cluster credentials' }, secrets: secret, webhookConfigs: configs, startupRetryMs: 0 },
    );
    running.push(wh);
    return wh;
  }

  it('serves over TLS that the caBundle trusts, and follows the Secret when it changes', async () => {
    const secret = new FakeSecret();
    const configs = new FakeConfigs();
    const wh = await start(secret, configs);
    const ca = configs.bundles()[0]!;
    const res = await httpsRequest(wh.port, { path: '/healthz', ca });
    expect(res.status).toBe(200);
    expect(res.peerFingerprint).toBe(new X509Certificate(secret.data[secretKeys.tlsCert]!).fingerprint256);

    // Another replica renewed the serving certificate (same CA): this one serves it after its next check.
    const renewed = await planCertificates({ ...secret.data, [secretKeys.tlsCert]: '' }, new Date(), { ...settings, dnsNames: [...dnsNames, 'localhost'] });
    secret.data = renewed.data;
    secret.rv++;
    await wh.recheckCertificates!();
    const after = await httpsRequest(wh.port, { path: '/healthz', ca });
    expect(after.peerFingerprint).toBe(new X509Certificate(renewed.data[secretKeys.tlsCert]!).fingerprint256);
  });

  it('names the Secret and what to check when it cannot be read', async () => {
    const configs = new FakeConfigs();
    const missing = new FakeSecret();
    missing.failGet = new ApiException(404, 'Not Found', { message: 'secrets "argo-daemon-guard-certs" not found' }, {});
    await expect(start(missing, configs)).rejects.toThrow(StartupError);
    await expect(start(missing, configs)).rejects.toThrow(/Secret guard\/argo-daemon-guard-certs: HTTP 404: .*created by the chart/);
    const forbidden = new FakeSecret();
    forbidden.failGet = new ApiException(403, 'Forbidden', { message: 'forbidden' }, {});
    await expect(start(forbidden, configs)).rejects.toThrow(/HTTP 403: forbidden \(the webhook needs get and update on this Secret\)/);
    const down = new FakeSecret();
    down.failGet = new Error('connect ECONNREFUSED');
    await expect(start(down, configs)).rejects.toThrow(/ECONNREFUSED \(gave up after retrying\)/);
  });
});
