// The cluster's PKI, generated once per state directory and reused by later `up`s: a cluster CA, the
// API server's serving certificate, client certificates for the admin and each component, serving
// certificates for the controller-manager and scheduler health ports, the service-account signing key
// pair, and a separate CA with a serving certificate for the webhook (what a user's cert-manager or
// the webhook's --manage-certs would provide).
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCA, issueClientCert, issueServingCert, type KeyPairPem } from '../../webhook/tls/pki.ts';

export interface CertFiles {
  cert: string;
  key: string;
}

export interface ClusterPki {
  dir: string;
  ca: CertFiles;
  apiserver: CertFiles;
  /** Client certificates, by component. */
  clients: Record<ClientName, CertFiles>;
  controllerManagerServing: CertFiles;
  schedulerServing: CertFiles;
  serviceAccount: { publicKey: string; privateKey: string };
  webhookCa: CertFiles;
  webhookServing: CertFiles;
}

/** Who talks to the API server, and as whom (RBAC identities the bootstrap policy knows). */
export const clientIdentities = {
  admin: { commonName: 'argo-daemon-guard-admin', organizations: ['system:masters'] },
  'kube-controller-manager': { commonName: 'system:kube-controller-manager', organizations: [] },
  'kube-scheduler': { commonName: 'system:kube-scheduler', organizations: [] },
  // kwok plays every kubelet of its nodes: node and pod status, deletes, leases, events.
  kwok: { commonName: 'kwok-controller', organizations: ['system:masters'] },
  // The webhook gets only what its ClusterRole grants (webhooks.ts), like the chart's ServiceAccount.
  webhook: { commonName: 'argo-daemon-guard-webhook', organizations: [] },
  // The reaper of the stack gets only what the chart's reaper ClusterRole grants (reaper.ts).
  reaper: { commonName: 'argo-daemon-guard-reaper', organizations: [] },
  // Argo's workflow-controller, run out of cluster: admin on this test cluster, under a name of its own
  // so the audit log tells its requests (pod creates, pods/exec) from everyone else's.
  'workflow-controller': { commonName: 'argo-workflow-controller', organizations: ['system:masters'] },
  // The real node: its kubelet (the Node authorizer knows it by this name and group), its kube-proxy
  // (bound to system:node-proxier by the bootstrap policy), and the API server's own client
  // certificate for the kubelet's logs and exec endpoints.
  kubelet: { commonName: 'system:node:real-node-0', organizations: ['system:nodes'] },
  'kube-proxy': { commonName: 'system:kube-proxy', organizations: [] },
  'apiserver-kubelet-client': { commonName: 'kube-apiserver-kubelet-client', organizations: ['system:masters'] },
} as const;
export type ClientName = keyof typeof clientIdentities;

function files(dir: string, name: string): CertFiles {
  return { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
}

function write(f: CertFiles, kp: KeyPairPem): void {
  writeFileSync(f.cert, kp.certPem);
  writeFileSync(f.key, kp.keyPem, { mode: 0o600 });
}

function load(f: CertFiles): KeyPairPem {
  return { certPem: readFileSync(f.cert, 'utf8'), keyPem: readFileSync(f.key, 'utf8') };
}

export function pkiLayout(dir: string): ClusterPki {
  return {
    dir,
    ca: files(dir, 'ca'),
    apiserver: files(dir, 'apiserver'),
    clients: Object.fromEntries(Object.keys(clientIdentities).map((n) => [n, files(dir, `client-${n}`)])) as Record<ClientName, CertFiles>,
    controllerManagerServing: files(dir, 'kube-controller-manager-serving'),
    schedulerServing: files(dir, 'kube-scheduler-serving'),
    serviceAccount: { publicKey: join(dir, 'sa.pub'), privateKey: join(dir, 'sa.key') },
    webhookCa: files(dir, 'webhook-ca'),
    webhookServing: files(dir, 'webhook-serving'),
  };
}

const loopback = { dnsNames: ['localhost'], ips: ['127.0.0.1'] };

/** Creates whatever is missing under `dir` (a complete set is reused as is). */
/** Whether a certificate names every one of these IP addresses (a cluster from an older harness may not). */
function namesIps(f: CertFiles, ips: string[]): boolean {
  try {
    const san = new X509Certificate(readFileSync(f.cert)).subjectAltName ?? '';
    return ips.every((ip) => san.includes(`IP Address:${ip}`));
  } catch {
    return false;
  }
}

/**
 * Creates whatever is missing under `dir` (a complete set is reused as is). `apiserverIps`: the
 * addresses the API server's certificate must name besides loopback and the Service IP.
 */
export async function ensurePki(dir: string, serviceIp: string, apiserverIps: string[] = []): Promise<ClusterPki> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const p = pkiLayout(dir);
  const fresh = !existsSync(p.ca.cert) || !existsSync(p.ca.key);
  let ca: KeyPairPem;
  if (fresh) {
    ca = await createCA('argo-daemon-guard-test-cluster-ca');
    write(p.ca, ca);
  } else ca = load(p.ca);
  const need = (f: CertFiles) => fresh || !existsSync(f.cert) || !existsSync(f.key);

  const ips = ['127.0.0.1', serviceIp, ...apiserverIps];
  if (need(p.apiserver) || !namesIps(p.apiserver, ips)) {
    write(
      p.apiserver,
      await issueServingCert(ca, {
        commonName: 'kube-apiserver',
        dnsNames: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'],
        ips,
      }),
    );
  }
  for (const [name, id] of Object.entries(clientIdentities) as [ClientName, (typeof clientIdentities)[ClientName]][]) {
    if (need(p.clients[name])) write(p.clients[name], await issueClientCert(ca, { commonName: id.commonName, organizations: [...id.organizations] }));
  }
  if (need(p.controllerManagerServing)) write(p.controllerManagerServing, await issueServingCert(ca, { commonName: 'kube-controller-manager', ...loopback }));
  if (need(p.schedulerServing)) write(p.schedulerServing, await issueServingCert(ca, { commonName: 'kube-scheduler', ...loopback }));

  if (fresh || !existsSync(p.serviceAccount.privateKey) || !existsSync(p.serviceAccount.publicKey)) {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    });
    writeFileSync(p.serviceAccount.publicKey, publicKey);
    writeFileSync(p.serviceAccount.privateKey, privateKey, { mode: 0o600 });
  }

  const webhookFresh = !existsSync(p.webhookCa.cert) || !existsSync(p.webhookCa.key);
  let webhookCa: KeyPairPem;
  if (webhookFresh) {
    webhookCa = await createCA('argo-daemon-guard-webhook-test-ca');
    write(p.webhookCa, webhookCa);
  } else webhookCa = load(p.webhookCa);
  if (webhookFresh || !existsSync(p.webhookServing.cert)) {
    write(p.webhookServing, await issueServingCert(webhookCa, { commonName: 'argo-daemon-guard-webhook', ...loopback }));
  }
  return p;
}
