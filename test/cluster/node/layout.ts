// Where the real node keeps its files. Per cluster (under its state directory): containerd's state and
// socket, the kubelet's root, the CNI config and address leases, the configs. Per machine (under the
// cache): containerd's content store, so images pulled once are there on the next start.
import { join } from 'node:path';
import { cacheRoot } from '../paths.ts';

export const realNodeName = 'real-node-0';

export interface NodeLayout {
  dir: string;
  containerdRoot: string;
  containerdState: string;
  containerdSocket: string;
  containerdConfig: string;
  cniConfDir: string;
  cniIpamDir: string;
  kubeletRoot: string;
  kubeletConfig: string;
  kubeletCertDir: string;
  kubeletPluginDir: string;
  staticPodDir: string;
  resolvConf: string;
  kubeProxyConfig: string;
}

export function nodeLayout(stateDir: string): NodeLayout {
  const dir = join(stateDir, 'node');
  return {
    dir,
    containerdRoot: join(cacheRoot(), 'containerd-root'),
    containerdState: join(dir, 'containerd'),
    containerdSocket: join(dir, 'containerd', 'containerd.sock'),
    containerdConfig: join(dir, 'containerd.toml'),
    cniConfDir: join(dir, 'cni', 'net.d'),
    cniIpamDir: join(dir, 'cni', 'ipam'),
    kubeletRoot: join(dir, 'kubelet'),
    kubeletConfig: join(dir, 'kubelet.yaml'),
    kubeletCertDir: join(dir, 'kubelet-pki'),
    kubeletPluginDir: join(dir, 'kubelet-plugins'),
    staticPodDir: join(dir, 'manifests'),
    resolvConf: join(dir, 'resolv.conf'),
    kubeProxyConfig: join(dir, 'kube-proxy.yaml'),
  };
}
