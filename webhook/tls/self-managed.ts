// `webhook --manage-certs`: the webhook keeps its own CA and serving certificate in one pre-created
// Secret and points its webhook configurations' caBundle at that CA. RBAC allows get/update on that
// Secret and get/patch on the two webhook configurations, nothing more: no create, no list.
//
// Rotation never leaves the API server without trust in the certificate being served:
// - the serving certificate is renewed when less than a third of its validity is left;
// - the CA likewise, but the old CA stays in the bundle until it expires, and a serving certificate
//   from the old CA that is still usable is kept for one more check, so the new CA reaches every
//   caBundle before any replica serves a certificate signed by it;
// - the order is: Secret, then caBundle, then the served certificate;
// - replicas race through the Secret's resourceVersion: a 409 means another replica wrote first,
//   and its certificates are read back and used.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { isIP } from 'node:net';
import { AdmissionregistrationV1Api, CoreV1Api, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import type { Operation } from 'rfc6902';
import type { Logger } from 'pino';
import { guard } from '../../core/keys.ts';
import { apiErrorMessage, apiStatus } from '../../runtime/kube.ts';
import { createCA, issueServingCert, type KeyPairPem } from './pki.ts';
import type { ServingTls } from './reloading.ts';

/** The Secret's keys. ca-bundle.crt is what goes into caBundle: the current CA and any older one still valid. */
export const secretKeys = { caCert: 'ca.crt', caKey: 'ca.key', tlsCert: 'tls.crt', tlsKey: 'tls.key', caBundle: 'ca-bundle.crt' } as const;

export interface StoredSecret {
  resourceVersion: string;
  /** Decoded values. */
  data: Record<string, string>;
  /** The object as read, so an update keeps its labels and annotations (Helm's among them). */
  object?: unknown;
}

export interface SecretClient {
  readonly description: string;
  /** Rejects when the Secret cannot be read; a missing Secret is an error (the chart creates it). */
  get(): Promise<StoredSecret>;
  /** Replaces the data if the Secret is still at `secret.resourceVersion`. */
  update(secret: StoredSecret, data: Record<string, string>): Promise<'ok' | 'conflict'>;
}

export const webhookConfigKinds = ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration'] as const;
export type WebhookConfigKind = (typeof webhookConfigKinds)[number];

export interface WebhookConfigView {
  webhooks: { name: string; caBundle: string | undefined }[];
}

export interface WebhookConfigClient {
  readonly name: string;
  /** undefined when the configuration does not exist (yet). */
  get(kind: WebhookConfigKind): Promise<WebhookConfigView | undefined>;
  /** A JSON patch (RFC 6902) of the configuration. */
  patch(kind: WebhookConfigKind, ops: Operation[]): Promise<void>;
}

export interface CertSettings {
  dnsNames: string[];
  ips: string[];
  caValidDays: number;
  servingValidDays: number;
  /** Renew when less than this fraction of the validity is left. */
  renewFraction: number;
}

export const defaultCertSettings: Omit<CertSettings, 'dnsNames' | 'ips'> = { caValidDays: 3650, servingValidDays: 365, renewFraction: 1 / 3 };

/** The names the API server uses for a Service reference (`<service>.<namespace>.svc`), and the long form. */
export function serviceDnsNames(service: string, namespace: string): string[] {
  return [`${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`];
}

/** Splits --extra-san values into DNS names and IP addresses. */
export function splitSans(values: string[]): { dnsNames: string[]; ips: string[] } {
  return { dnsNames: values.filter((v) => !isIP(v)), ips: values.filter((v) => isIP(v)) };
}

const pemCert = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

function parseCert(pem: string | undefined): X509Certificate | undefined {
  if (!pem) return undefined;
  try {
    return new X509Certificate(pem);
  } catch {
    return undefined;
  }
}

function keyMatches(cert: X509Certificate, keyPem: string | undefined): boolean {
  if (!keyPem) return false;
  try {
    return cert.checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}

const notAfter = (c: X509Certificate) => new Date(c.validTo).getTime();
const notBefore = (c: X509Certificate) => new Date(c.validFrom).getTime();
const day = (ms: number) => new Date(ms).toISOString();

/** True when less than `fraction` of the certificate's validity is left at `now` (or it has expired). */
function renewDue(c: X509Certificate, now: number, fraction: number, expiry = notAfter(c)): boolean {
  return expiry - now < fraction * (notAfter(c) - notBefore(c));
}

function toPem(c: X509Certificate): string {
  return c.toString().trim() + '\n';
}

export interface Plan {
  data: Record<string, string>;
  changed: boolean;
  /** Why each part was (re)created; empty when nothing changed. */
  changes: string[];
}

/**
 * What the Secret should hold at `now`, given what it holds. Pure apart from generating keys, so
 * every replica reaching the same Secret decides the same thing.
 */
export async function planCertificates(data: Record<string, string>, now: Date, s: CertSettings): Promise<Plan> {
  const t = now.getTime();
  const changes: string[] = [];
  const backdated = new Date(t - 60_000);

  let caCert = parseCert(data[secretKeys.caCert]);
  let caKeyPem = data[secretKeys.caKey];
  let caRotated = false;
  const usableCa = caCert && caCert.ca && keyMatches(caCert, caKeyPem) && notAfter(caCert) > t;
  if (!caCert || !usableCa || renewDue(caCert, t, s.renewFraction)) {
    const why = !caCert ? 'no CA' : !usableCa ? 'CA unusable (expired, not a CA, or key mismatch)' : `CA expires ${day(notAfter(caCert))}`;
    const ca = await createCA(`${guard.name}-webhook-ca`, s.caValidDays, backdated);
    caRotated = Boolean(caCert && usableCa);
    caCert = new X509Certificate(ca.certPem);
    caKeyPem = ca.keyPem;
    changes.push(`${why}: created a new CA${caRotated ? '; the old one stays in the bundle until it expires' : ''}`);
  }
  const signer: KeyPairPem = { certPem: toPem(caCert), keyPem: caKeyPem! };

  // Newest first; every CA that was trusted and has not expired stays trusted.
  const bundle: X509Certificate[] = [caCert];
  for (const pem of [...(data[secretKeys.caBundle] ?? '').matchAll(pemCert)].map((m) => m[0]).concat(data[secretKeys.caCert] ?? [])) {
    const c = parseCert(pem);
    if (c && c.ca && notAfter(c) > t && !bundle.some((b) => b.fingerprint256 === c.fingerprint256)) bundle.push(c);
  }

  let tlsCert = data[secretKeys.tlsCert];
  let tlsKey = data[secretKeys.tlsKey];
  const serving = parseCert(tlsCert);
  const issuer = serving && bundle.find((c) => serving.checkIssued(c) && serving.verify(c.publicKey));
  const missingName = serving && [...s.dnsNames.filter((n) => !serving.checkHost(n, { subject: 'never' })), ...s.ips.filter((ip) => !serving.checkIP(ip))][0];
  const unusable =
    !serving ? 'no serving certificate'
    : !keyMatches(serving, tlsKey) ? 'serving key does not match'
    : !issuer ? 'serving certificate not issued by a trusted CA'
    : missingName ? `serving certificate does not cover ${missingName}`
    : Math.min(notAfter(serving), notAfter(issuer)) <= t ? 'serving certificate expired'
    : undefined;
  const due = serving && issuer && !unusable && renewDue(serving, t, s.renewFraction, Math.min(notAfter(serving), notAfter(issuer)));
  // After a CA rotation a usable certificate is kept until the next check, when the new CA is in every caBundle.
  if (unusable || (due && !caRotated)) {
    const pair = await issueServingCert(signer, { commonName: s.dnsNames[0] ?? guard.name, dnsNames: s.dnsNames, ips: s.ips, validDays: s.servingValidDays, notBefore: backdated });
    tlsCert = pair.certPem;
    tlsKey = pair.keyPem;
    changes.push(unusable ?? `serving certificate expires ${day(notAfter(serving!))}: renewed`);
  }

  const next: Record<string, string> = {
    ...data,
    [secretKeys.caCert]: signer.certPem,
    [secretKeys.caKey]: signer.keyPem,
    [secretKeys.tlsCert]: tlsCert!,
    [secretKeys.tlsKey]: tlsKey!,
    [secretKeys.caBundle]: bundle.map(toPem).join(''),
  };
  const changed = Object.keys(next).some((k) => next[k] !== data[k]);
  if (changed && changes.length === 0) changes.push('CA bundle updated');
  return { data: next, changed, changes };
}

export interface SelfManagedOptions {
  secrets: SecretClient;
  configs: WebhookConfigClient;
  tls: ServingTls;
  logger: Logger;
  settings: CertSettings;
  now?: () => Date;
}

export interface ReconcileResult {
  /** This replica wrote the Secret. */
  wrote: boolean;
  /** Another replica wrote first (409) and its certificates were adopted. */
  adopted: boolean;
  changes: string[];
  patched: WebhookConfigKind[];
}

export class SelfManagedCerts {
  #o: SelfManagedOptions;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<ReconcileResult> | undefined;
  #missingConfigs = new Set<WebhookConfigKind>();

  constructor(o: SelfManagedOptions) {
    this.#o = o;
  }

  /** One pass: Secret, then caBundle, then the served certificate. Concurrent calls share one pass. */
  reconcile(): Promise<ReconcileResult> {
    this.#running ??= this.#reconcile().finally(() => (this.#running = undefined));
    return this.#running;
  }

  /** Re-checks every `intervalMs`; failures are logged and the certificate in use stays. */
  start(intervalMs: number): void {
    this.#timer = setInterval(() => {
      this.reconcile().catch((err) => this.#o.logger.error({ err: apiErrorMessage(err), secret: this.#o.secrets.description }, 'certificate check failed; keeping the certificate in use'));
    }, intervalMs);
    this.#timer.unref();
  }

  close(): void {
    clearInterval(this.#timer);
  }

  async #reconcile(): Promise<ReconcileResult> {
    const { secrets, logger, settings } = this.#o;
    const origin = `Secret ${secrets.description}`;
    for (let attempt = 0; attempt < 3; attempt++) {
      const secret = await secrets.get();
      const plan = await planCertificates(secret.data, this.#o.now?.() ?? new Date(), settings);
      if (plan.changed && (await secrets.update(secret, plan.data)) === 'conflict') {
        logger.info({ secret: secrets.description }, 'another replica updated the certificate Secret first; using its certificates');
        continue;
      }
      if (plan.changed) logger.info({ secret: secrets.description, changes: plan.changes }, 'self-managed certificates updated');
      const patched = await this.#syncCaBundle(plan.data[secretKeys.caBundle]!).catch((err: unknown) => {
        logger.error({ err: apiErrorMessage(err), webhookConfiguration: this.#o.configs.name }, 'cannot patch caBundle');
        return undefined;
      });
      const pair = { certPem: plan.data[secretKeys.tlsCert]!, keyPem: plan.data[secretKeys.tlsKey]! };
      // Unless the caBundle is known to trust the new certificate's CA, serve it only if the CA is the same.
      if (patched || this.#sameIssuer(pair, plan.data[secretKeys.caBundle]!)) this.#o.tls.apply(pair, origin);
      else logger.warn({ secret: secrets.description }, 'new serving certificate not applied until the caBundle trusts its CA');
      return { wrote: plan.changed, adopted: attempt > 0, changes: plan.changes, patched: patched ?? [] };
    }
    throw new Error(`the Secret ${secrets.description} changed under every attempt (3 conflicts in a row)`);
  }

  #sameIssuer(pair: KeyPairPem, bundlePem: string): boolean {
    const current = parseCert(this.#o.tls.current()?.certPem);
    if (!current) return true;
    const next = parseCert(pair.certPem);
    const issuer = next && [...bundlePem.matchAll(pemCert)].map((m) => parseCert(m[0])).find((c) => c && next.checkIssued(c) && next.verify(c.publicKey));
    return Boolean(issuer && current.checkIssued(issuer) && current.verify(issuer.publicKey));
  }

  /** Sets every webhook's caBundle in both configurations; returns the kinds it patched. */
  async #syncCaBundle(bundlePem: string): Promise<WebhookConfigKind[]> {
    const { configs, logger } = this.#o;
    const caBundle = Buffer.from(bundlePem).toString('base64');
    const patched: WebhookConfigKind[] = [];
    for (const kind of webhookConfigKinds) {
      const cfg = await configs.get(kind);
      if (!cfg) {
        if (!this.#missingConfigs.has(kind)) logger.warn({ kind, webhookConfiguration: configs.name }, 'webhook configuration not found; its caBundle cannot be set');
        this.#missingConfigs.add(kind);
        continue;
      }
      this.#missingConfigs.delete(kind);
      // The test on each name makes the patch fail rather than land on another webhook if the list changed.
      const ops: Operation[] = cfg.webhooks.flatMap((w, i): Operation[] =>
        w.caBundle === caBundle ? [] : [
          { op: 'test', path: `/webhooks/${i}/name`, value: w.name },
          { op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: caBundle },
        ],
      );
      if (ops.length === 0) continue;
      await configs.patch(kind, ops);
      patched.push(kind);
      logger.info({ kind, webhookConfiguration: configs.name, webhooks: ops.length / 2 }, 'caBundle updated');
    }
    return patched;
  }
}

// --- the real clients -------------------------------------------------------------------------

function decode(data: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
}

export function kubeSecretClient(kc: KubeConfig, namespace: string, name: string): SecretClient {
  const core = kc.makeApiClient(CoreV1Api);
  return {
    description: `${namespace}/${name}`,
    async get() {
      const s = await core.readNamespacedSecret({ namespace, name });
      return { resourceVersion: s.metadata?.resourceVersion ?? '', data: decode(s.data), object: s };
    },
    async update(secret, data) {
      const base = (secret.object ?? { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace } }) as V1Secret;
      const body: V1Secret = {
        ...base,
        metadata: { ...base.metadata, name, namespace, resourceVersion: secret.resourceVersion },
        data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
      };
      try {
        await core.replaceNamespacedSecret({ namespace, name, body });
        return 'ok';
      } catch (err) {
        if (apiStatus(err) === 409) return 'conflict';
        throw err;
      }
    },
  };
}

export function kubeWebhookConfigClient(kc: KubeConfig, name: string): WebhookConfigClient {
  const api = kc.makeApiClient(AdmissionregistrationV1Api);
  return {
    name,
    async get(kind) {
      try {
        const cfg = kind === 'MutatingWebhookConfiguration' ? await api.readMutatingWebhookConfiguration({ name }) : await api.readValidatingWebhookConfiguration({ name });
        return { webhooks: (cfg.webhooks ?? []).map((w) => ({ name: w.name, caBundle: w.clientConfig.caBundle })) };
      } catch (err) {
        if (apiStatus(err) === 404) return undefined;
        throw err;
      }
    },
    async patch(kind, ops) {
      // The generated client sends the first patch type it lists, application/json-patch+json.
      if (kind === 'MutatingWebhookConfiguration') await api.patchMutatingWebhookConfiguration({ name, body: ops });
      else await api.patchValidatingWebhookConfiguration({ name, body: ops });
    },
  };
}
