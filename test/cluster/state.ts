// The cluster's state: where each of its files lives and which ports it uses (cluster.json in the
// state directory), and admin access to its API server for the harness's own requests.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { versions } from './binaries.ts';
import { clusterStateDir } from './paths.ts';
import { pkiLayout, type ClusterPki, type ClientName } from './pki.ts';
import { fetchText, type TlsFiles } from './kubeconfig.ts';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const stagesFile = join(repoRoot, 'test', 'cluster', 'kwok', 'stages.yaml');
export const nodeName = 'kwok-node-0';
export const serviceClusterIpRange = '10.96.0.0/16';
export const serviceIp = '10.96.0.1';
export const podCidr = '10.244.0.0/16';

export type NodeKinds = 'kwok' | 'real' | 'kwok+real';

export interface WebhookState {
  /** The URL registered in the webhook configurations. */
  url: string;
  port: number;
  policyFile: string;
  caFile: string;
  certFile: string;
  keyFile: string;
  kubeconfig: string;
}

/** The stack's reaper (`up` starts it unless told not to): its health port and config file. */
export interface ReaperState {
  port: number;
  configFile: string;
  kubeconfig: string;
  /** Where its Lease lives. */
  leaseNamespace: string;
}

export interface ClusterState {
  stateDir: string;
  /** The admin kubeconfig (client certificate in system:masters). */
  kubeconfig: string;
  server: string;
  ports: { etcdClient: number; etcdPeer: number; apiserver: number; controllerManager: number; scheduler: number; webhook: number };
  kubeconfigs: Record<ClientName, string>;
  pki: ClusterPki;
  webhook: WebhookState;
  /** Absent in the state of a cluster started before the reaper joined the stack. */
  reaper?: ReaperState;
  nodeName: string;
  /**
   * The cluster's nodes: 'kwok' (one fake node), 'real' (a real node, where pods go by default, and the
   * kwok node beside it, tainted) or 'kwok+real' (kwok the default, the real node tainted: tests pin to
   * it). Absent in the state of a cluster started before real nodes: 'kwok'.
   */
  nodes?: NodeKinds;
  /** The loopback image registry the real node pulls from. */
  registryPort?: number;
  startedAt: string;
  versions: typeof versions;
}

export function stateFile(stateDir: string): string {
  return join(stateDir, 'cluster.json');
}

export function readState(stateDir = clusterStateDir()): ClusterState | undefined {
  try {
    return JSON.parse(readFileSync(stateFile(stateDir), 'utf8')) as ClusterState;
  } catch {
    return undefined;
  }
}

export function adminTls(s: ClusterState): TlsFiles {
  return { ca: s.pki.ca.cert, cert: s.pki.clients.admin.cert, key: s.pki.clients.admin.key };
}

/** GET (or other) on the API server as the admin. */
export function apiRequest(s: ClusterState, path: string, o: { method?: string; body?: unknown; headers?: Record<string, string> } = {}) {
  return fetchText(s.server + path, {
    method: o.method,
    tls: adminTls(s),
    body: o.body === undefined ? undefined : typeof o.body === 'string' ? o.body : JSON.stringify(o.body),
    headers: o.headers,
  });
}

/** Paths and ports of a cluster about to start in `stateDir`. */
export function freshLayout(stateDir: string, ports: number[]): ClusterState {
  const [etcdClient, etcdPeer, apiserver, controllerManager, scheduler, webhook, reaper] = ports as [number, number, number, number, number, number, number];
  const pki = pkiLayout(join(stateDir, 'pki'));
  const kcDir = join(stateDir, 'kubeconfig');
  const kubeconfigs = {
    admin: join(kcDir, 'admin.yaml'),
    'kube-controller-manager': join(kcDir, 'kube-controller-manager.yaml'),
    'kube-scheduler': join(kcDir, 'kube-scheduler.yaml'),
    kwok: join(kcDir, 'kwok.yaml'),
    webhook: join(kcDir, 'webhook.yaml'),
    reaper: join(kcDir, 'reaper.yaml'),
    'workflow-controller': join(kcDir, 'workflow-controller.yaml'),
    kubelet: join(kcDir, 'kubelet.yaml'),
    'kube-proxy': join(kcDir, 'kube-proxy.yaml'),
    'apiserver-kubelet-client': join(kcDir, 'apiserver-kubelet-client.yaml'),
  };
  return {
    stateDir,
    kubeconfig: join(stateDir, 'kubeconfig.yaml'),
    server: `https://127.0.0.1:${apiserver}`,
    ports: { etcdClient, etcdPeer, apiserver, controllerManager, scheduler, webhook },
    kubeconfigs,
    pki,
    webhook: {
      url: `https://127.0.0.1:${webhook}`,
      port: webhook,
      policyFile: join(stateDir, 'policy.yaml'),
      caFile: pki.webhookCa.cert,
      certFile: pki.webhookServing.cert,
      keyFile: pki.webhookServing.key,
      kubeconfig: kubeconfigs.webhook,
    },
    reaper: { port: reaper, configFile: join(stateDir, 'reaper.yaml'), kubeconfig: kubeconfigs.reaper, leaseNamespace: 'argo-daemon-guard' },
    nodeName,
    startedAt: new Date().toISOString(),
    versions,
  };
}

