// The command line of each component: what the harness runs and with which flags.
import { join } from 'node:path';
import { stringify } from 'yaml';
import { binaryPath } from './binaries.ts';
import { repoRoot, stagesFile, podCidr, serviceClusterIpRange, type ClusterState } from './state.ts';
import type { ProcessSpec } from './processes.ts';
import { realNet } from './node/network.ts';

/**
 * Controllers the tests need. Not node-lifecycle (kwok's heartbeats, 20-45 s apart, are sparser than its
 * grace period, and it would evict pods) and not pod-garbage-collector (it would race the reaper on pods
 * of a missing node).
 */
export const controllers = [
  'serviceaccount-controller',
  'serviceaccount-token-controller',
  'garbage-collector-controller',
  'namespace-controller',
  'root-ca-certificate-publisher-controller',
  'clusterrole-aggregation-controller',
  // A real node's kube-proxy routes a Service to the pods its EndpointSlices list.
  'endpointslice-controller',
];

export function etcdSpec(s: ClusterState): ProcessSpec {
  const dataDir = join(s.stateDir, 'etcd');
  return {
    name: 'etcd',
    command: binaryPath('etcd'),
    args: [
      '--name=default',
      `--data-dir=${dataDir}`,
      `--listen-client-urls=http://127.0.0.1:${s.ports.etcdClient}`,
      `--advertise-client-urls=http://127.0.0.1:${s.ports.etcdClient}`,
      `--listen-peer-urls=http://127.0.0.1:${s.ports.etcdPeer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${s.ports.etcdPeer}`,
      `--initial-cluster=default=http://127.0.0.1:${s.ports.etcdPeer}`,
      '--initial-cluster-state=new',
      // A throwaway test store: no fsync (much faster on slow disks), small WAL, quiet log.
      '--unsafe-no-fsync=true',
      '--snapshot-count=10000',
      '--quota-backend-bytes=4294967296',
      '--log-level=warn',
    ],
  };
}

export function apiserverSpec(s: ClusterState, auditPolicy: string): ProcessSpec {
  const p = s.pki;
  // With a real node, pods reach the API server through the `kubernetes` Service, whose endpoint is the
  // advertised address: the host's end of the node's link, forwarded to loopback.
  const advertise = s.nodes === 'kwok' || s.nodes === undefined ? '127.0.0.1' : realNet.hostIp;
  return {
    name: 'kube-apiserver',
    command: binaryPath('kube-apiserver'),
    args: [
      `--etcd-servers=http://127.0.0.1:${s.ports.etcdClient}`,
      '--bind-address=127.0.0.1',
      `--advertise-address=${advertise}`,
      `--secure-port=${s.ports.apiserver}`,
      `--tls-cert-file=${p.apiserver.cert}`,
      `--tls-private-key-file=${p.apiserver.key}`,
      `--client-ca-file=${p.ca.cert}`,
      `--service-account-issuer=https://kubernetes.default.svc.cluster.local`,
      `--service-account-key-file=${p.serviceAccount.publicKey}`,
      `--service-account-signing-key-file=${p.serviceAccount.privateKey}`,
      `--service-cluster-ip-range=${serviceClusterIpRange}`,
      '--authorization-mode=Node,RBAC',
      // The default admission plugins (NamespaceLifecycle, ServiceAccount, the two webhook plugins, ...).
      '--allow-privileged=true',
      '--profiling=false',
      // Logs, exec and port-forward: the API server calls the kubelet at its InternalIP (a real node's
      // hostname resolves nowhere) with a client certificate the kubelet trusts.
      `--kubelet-client-certificate=${p.clients['apiserver-kubelet-client'].cert}`,
      `--kubelet-client-key=${p.clients['apiserver-kubelet-client'].key}`,
      '--kubelet-preferred-address-types=InternalIP',
      `--audit-policy-file=${auditPolicy}`,
      `--audit-log-path=${join(s.stateDir, 'logs', 'audit.log')}`,
      '--audit-log-maxsize=100',
      '--audit-log-maxbackup=1',
      '--v=1',
    ],
  };
}

/** What the controller-manager and the scheduler share: their kubeconfig, and a health port on loopback. */
function controlPlaneClientArgs(kubeconfig: string, port: number, serving: { cert: string; key: string }): string[] {
  return [
    `--kubeconfig=${kubeconfig}`,
    `--authentication-kubeconfig=${kubeconfig}`,
    `--authorization-kubeconfig=${kubeconfig}`,
    // Their health ports need no front-proxy authentication; skipping the lookup keeps the logs clean.
    '--authentication-skip-lookup=true',
    '--bind-address=127.0.0.1',
    `--secure-port=${port}`,
    `--tls-cert-file=${serving.cert}`,
    `--tls-private-key-file=${serving.key}`,
    '--leader-elect=false',
    '--v=1',
  ];
}

export function controllerManagerSpec(s: ClusterState): ProcessSpec {
  const p = s.pki;
  return {
    name: 'kube-controller-manager',
    command: binaryPath('kube-controller-manager'),
    args: [
      ...controlPlaneClientArgs(s.kubeconfigs['kube-controller-manager'], s.ports.controllerManager, p.controllerManagerServing),
      '--use-service-account-credentials=true',
      `--root-ca-file=${p.ca.cert}`,
      `--service-account-private-key-file=${p.serviceAccount.privateKey}`,
      `--controllers=${controllers.join(',')}`,
    ],
  };
}

export function schedulerSpec(s: ClusterState): ProcessSpec {
  return {
    name: 'kube-scheduler',
    command: binaryPath('kube-scheduler'),
    args: controlPlaneClientArgs(s.kubeconfigs['kube-scheduler'], s.ports.scheduler, s.pki.schedulerServing),
  };
}

export function kwokSpec(s: ClusterState): ProcessSpec {
  return {
    name: 'kwok',
    command: binaryPath('kwok'),
    args: [
      `--kubeconfig=${s.kubeconfigs.kwok}`,
      '--manage-all-nodes=false',
      '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
      `--config=${stagesFile}`,
      `--cidr=${podCidr}`,
      '--node-ip=10.240.0.1',
    ],
  };
}

export interface WebhookProcessOptions {
  /** Component name (pid file, log); default "webhook". */
  name?: string;
  port?: number;
  policyFile?: string;
}

export function webhookSpec(s: ClusterState, o: WebhookProcessOptions = {}): ProcessSpec {
  const w = s.webhook;
  return {
    name: o.name ?? 'webhook',
    command: process.execPath,
    cwd: repoRoot,
    args: [
      join(repoRoot, 'cli', 'main.ts'),
      'webhook',
      '--tls-cert',
      w.certFile,
      '--tls-key',
      w.keyFile,
      '--port',
      String(o.port ?? w.port),
      '--policy',
      o.policyFile ?? w.policyFile,
      '--kubeconfig',
      w.kubeconfig,
    ],
  };
}

export interface ReaperProcessOptions {
  /** Component name (pid file, log): reaper, reaper-2, ... */
  name?: string;
  /** The reaper config file (default: none, the built-in defaults). */
  configFile?: string;
  /** Health/metrics port (default: any free one, reported in its log). */
  port?: number;
  dryRun?: boolean;
  /** The replica's name in the Lease (default: the component name). */
  identity?: string;
  leaseNamespace?: string;
  kubeconfig?: string;
  /** The CLI to run (default: cli/main.ts of this checkout; the bench passes the compiled one). */
  cliMain?: string;
}

/** The reaper from this checkout, against the cluster (admin credentials unless a kubeconfig is given). */
export function reaperSpec(s: ClusterState, o: ReaperProcessOptions = {}): ProcessSpec {
  const name = o.name ?? 'reaper';
  return {
    name,
    command: process.execPath,
    cwd: repoRoot,
    args: [
      o.cliMain ?? join(repoRoot, 'cli', 'main.ts'),
      'reaper',
      '--kubeconfig',
      o.kubeconfig ?? s.kubeconfig,
      '--port',
      String(o.port ?? 0),
      '--identity',
      o.identity ?? name,
      '--lease-namespace',
      o.leaseNamespace ?? 'default',
      ...(o.configFile ? ['--config', o.configFile] : []),
      ...(o.dryRun ? ['--dry-run'] : []),
    ],
  };
}

/** The namespace Argo's controller runs "in" (its ConfigMap lives there); it watches every namespace. */
export const argoNamespace = 'argo';
export const argoConfigMapName = 'workflow-controller-configmap';

/**
 * Argo's workflow-controller (v3.7.18, built from the module proxy), out of cluster. Leader election off
 * (one instance); `--namespace` only says where its ConfigMap is: without --namespaced it watches all
 * namespaces. Workflows a test writes by hand carry a controller-instanceid label, which a controller
 * without an instance id ignores.
 */
export function workflowControllerSpec(s: ClusterState): ProcessSpec {
  return {
    name: 'workflow-controller',
    command: binaryPath('workflow-controller'),
    env: {
      ...process.env,
      LEADER_ELECTION_DISABLE: 'true',
      // How soon a Workflow is looked at again after its pods change: 10 s by default, which makes a
      // Workflow of short kwok steps crawl (4 step groups: 40 s). 1 s is the floor Argo's own comment
      // gives (workflow/controller/rate_limiters.go).
      DEFAULT_REQUEUE_TIME: '1s',
    },
    args: [
      '--kubeconfig',
      s.kubeconfigs['workflow-controller'],
      '--namespace',
      argoNamespace,
      '--configmap',
      argoConfigMapName,
      '--loglevel',
      'info',
      // A handful of workflows at a time on two cores: fewer goroutines, same behaviour.
      '--workflow-workers',
      '4',
      '--pod-cleanup-workers',
      '2',
    ],
  };
}

export const auditPolicyYaml = stringify({
  apiVersion: 'audit.k8s.io/v1',
  kind: 'Policy',
  omitStages: ['RequestReceived'],
  rules: [
    // What the tests look at: admission of pods and Argo objects, with the webhooks' audit annotations;
    // pods/exec is how Argo's controller signals a daemon to stop (the demo shows it).
    { level: 'Metadata', resources: [{ group: '', resources: ['pods', 'pods/exec'] }, { group: 'argoproj.io' }] },
    { level: 'None' },
  ],
});

