// The kubelet and kube-proxy of the real node (k8s v1.35.4, built like the control plane), both inside
// the node's network namespace, talking to the API server at the host's end of the link.
import { mkdirSync, writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { binaryPath } from '../binaries.ts';
import { writeKubeconfig } from '../kubeconfig.ts';
import type { ProcessSpec } from '../processes.ts';
import type { ClusterState } from '../state.ts';
import { realNet } from './network.ts';
import { realNodeName, type NodeLayout } from './layout.ts';

/** A taint that keeps pods off a node unless they tolerate it (a cluster's second kind of node wears it). */
export interface NodeTaint {
  key: string;
  value: string;
  effect: 'NoSchedule';
}

/** Keeps pods off a node of this kind unless they tolerate it. */
export function nodeKindTaint(kind: 'kwok' | 'real'): NodeTaint {
  return { key: 'argo-daemon-guard.io/node-kind', value: kind, effect: 'NoSchedule' };
}

/** The API server as the node reaches it: the host's end of the link, where the harness forwards to it. */
export function apiserverFromNode(s: ClusterState): string {
  return `https://${realNet.hostIp}:${s.ports.apiserver}`;
}

export function kubeletSpec(s: ClusterState, l: NodeLayout, taints: NodeTaint[]): ProcessSpec {
  for (const d of [l.kubeletRoot, l.kubeletCertDir, l.kubeletPluginDir, l.staticPodDir]) mkdirSync(d, { recursive: true });
  const kubeconfig = `${l.dir}/kubelet.kubeconfig`;
  writeKubeconfig(kubeconfig, { server: apiserverFromNode(s), caFile: s.pki.ca.cert, client: s.pki.clients.kubelet, user: 'kubelet' });
  // Pods get a resolver file that points nowhere: there is no cluster DNS, and the host's resolver is
  // out of the pods' reach by design.
  writeFileSync(l.resolvConf, 'nameserver 127.0.0.1\noptions ndots:1\n');
  const config = {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    // This machine kind mounts cgroup v1 (hybrid) and runs no systemd: cgroupfs, no QoS hierarchy, no
    // node-allocatable enforcement (the kubelet may not create its own cgroup tree here).
    failCgroupV1: false,
    cgroupDriver: 'cgroupfs',
    cgroupsPerQOS: false,
    enforceNodeAllocatable: [],
    containerRuntimeEndpoint: `unix://${l.containerdSocket}`,
    staticPodPath: l.staticPodDir,
    volumePluginDir: l.kubeletPluginDir,
    podLogsDir: `${l.dir}/pod-logs`,
    resolvConf: l.resolvConf,
    address: realNet.nodeIp,
    port: 10250,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort: 10248,
    // The API server authenticates to the kubelet with a client certificate from the cluster CA (logs,
    // exec, port-forward); everything else asks the API server whether it may.
    authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: s.pki.ca.cert } },
    authorization: { mode: 'Webhook' },
    registerNode: true,
    registerWithTaints: taints,
    failSwapOn: false,
    serializeImagePulls: false,
    // The test machine's disk is shared with builds: no eviction for disk or memory pressure.
    evictionHard: { 'memory.available': '1Mi', 'nodefs.available': '1%', 'imagefs.available': '1%', 'nodefs.inodesFree': '1%' },
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    maxPods: 110,
    // Faster than the defaults, so that status and config-map changes show up within a test's patience.
    nodeStatusUpdateFrequency: '5s',
    syncFrequency: '10s',
    shutdownGracePeriod: '0s',
    logging: { verbosity: 1 },
  };
  writeFileSync(l.kubeletConfig, stringify(config));
  return {
    name: 'kubelet',
    command: binaryPath('kubelet'),
    args: [
      `--config=${l.kubeletConfig}`,
      `--kubeconfig=${kubeconfig}`,
      `--root-dir=${l.kubeletRoot}`,
      `--cert-dir=${l.kubeletCertDir}`,
      `--hostname-override=${realNodeName}`,
      `--node-ip=${realNet.nodeIp}`,
      `--node-labels=argo-daemon-guard.io/node-kind=real`,
    ],
    netns: realNet.netns,
  };
}

export function kubeProxySpec(s: ClusterState, l: NodeLayout): ProcessSpec {
  const kubeconfig = `${l.dir}/kube-proxy.kubeconfig`;
  writeKubeconfig(kubeconfig, { server: apiserverFromNode(s), caFile: s.pki.ca.cert, client: s.pki.clients['kube-proxy'], user: 'kube-proxy' });
  const config = {
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    clientConnection: { kubeconfig },
    mode: 'iptables',
    hostnameOverride: realNodeName,
    clusterCIDR: realNet.podCidr,
    healthzBindAddress: '127.0.0.1:10256',
    metricsBindAddress: '127.0.0.1:10249',
    // Zero leaves the machine-wide conntrack settings alone: they are not this namespace's to change.
    conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
    iptables: { syncPeriod: '30s', minSyncPeriod: '0s' },
  };
  writeFileSync(l.kubeProxyConfig, stringify(config));
  return { name: 'kube-proxy', command: binaryPath('kube-proxy'), args: [`--config=${l.kubeProxyConfig}`, '--v=1'], netns: realNet.netns };
}
