// A node with a real kubelet: containerd, runc and the CNI plugins from Debian, the kubelet and
// kube-proxy built like the control plane, in a network namespace of its own. Pods there are real
// processes: logs and exec work, signals arrive, exit codes and restart policies are the kubelet's.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensurePackages, nodePackages } from '../host-packages.ts';
import { isRunning, readRecord, start, stop, waitFor } from '../processes.ts';
import { apiRequest, repoRoot, type ClusterState } from '../state.ts';
import { cleanUpRealNode } from './cleanup.ts';
import { containerdSpec, ctr } from './containerd.ts';
import { kubeletSpec, kubeProxySpec, type NodeTaint } from './kubelet.ts';
import { nodeLayout, realNodeName } from './layout.ts';
import { netnsExists, realNet, setUpNetwork, sh, writeCniConfig } from './network.ts';

export { realNodeName } from './layout.ts';
export { realNet } from './network.ts';

/** The processes of the real node, in the order they stop. */
export const realNodeComponents = ['kubelet', 'kube-proxy', 'containerd', 'forward-apiserver', 'forward-registry'];

/** Which cluster owns the machine's one real node. */
const ownerFile = '/run/argo-daemon-guard/real-node.json';

function owner(): { stateDir: string } | undefined {
  try {
    return JSON.parse(readFileSync(ownerFile, 'utf8')) as { stateDir: string };
  } catch {
    return undefined;
  }
}

function running(stateDir: string, name: string): boolean {
  const r = readRecord(stateDir, name);
  return r !== undefined && isRunning(r);
}

/**
 * What this machine must offer for containers to run, checked before anything starts. Each failure is
 * one line: the cause and the fix.
 */
export async function realNodePreflight(): Promise<void> {
  if (process.platform !== 'linux') throw new Error(`real nodes need Linux (this is ${process.platform}); use --nodes kwok`);
  if (process.getuid?.() !== 0) throw new Error('real nodes need root (network namespaces, mounts, cgroups); run as root, or use --nodes kwok');
  const filesystems = readFileSync('/proc/filesystems', 'utf8');
  if (!/\boverlay\b/.test(filesystems)) throw new Error('the kernel has no overlay filesystem (containerd needs it for container root filesystems): modprobe overlay, or use --nodes kwok');
  const cgroupV2 = existsSync('/sys/fs/cgroup/cgroup.controllers');
  for (const c of ['memory', 'pids', 'cpu']) {
    const present = cgroupV2 ? readFileSync('/sys/fs/cgroup/cgroup.controllers', 'utf8').includes(c) : existsSync(`/sys/fs/cgroup/${c}`);
    if (!present) throw new Error(`the ${c} cgroup controller is not mounted (runc needs it to run containers): mount it under /sys/fs/cgroup, or use --nodes kwok`);
  }
  const o = owner();
  if (o && (running(o.stateDir, 'kubelet') || running(o.stateDir, 'containerd'))) {
    throw new Error(`a real node already runs on this machine, for the cluster in ${o.stateDir}; stop it first: npm run cluster -- down --state-dir ${o.stateDir}`);
  }
}

async function nodeReady(s: ClusterState): Promise<boolean> {
  const r = await apiRequest(s, `/api/v1/nodes/${realNodeName}`);
  if (r.status !== 200) return false;
  const node = JSON.parse(r.body) as { status?: { conditions?: { type: string; status: string; message?: string }[] } };
  return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** A TCP forwarder on the host's end of the link to a server that listens on loopback only. */
function forward(s: ClusterState, name: string, port: number) {
  return start(s.stateDir, {
    name,
    command: process.execPath,
    args: [join(repoRoot, 'test', 'cluster', 'balancer.ts'), '--listen', realNet.hostIp, String(port), String(port)],
  });
}

export interface RealNodeOptions {
  /** The loopback registry every image name resolves to. */
  registryPort: number;
  /** Set on the node at registration: a cluster whose default node is kwok keeps unpinned pods off it. */
  taints: NodeTaint[];
  log: (line: string) => void;
}

/** Starts the real node of the cluster `s` and returns once it is Ready. */
export async function startRealNode(s: ClusterState, o: RealNodeOptions): Promise<void> {
  const t0 = Date.now();
  const elapsed = () => `${((Date.now() - t0) / 1000).toFixed(1)}s`;
  await ensurePackages(nodePackages, 'the real node', o.log);
  await realNodePreflight();
  const l = nodeLayout(s.stateDir);
  // Left by a run that died: its namespace, mounts and processes go before ours are made.
  const leftover = await cleanUpRealNode(nodeLayout(owner()?.stateDir ?? s.stateDir), { containerdRunning: false });
  if (netnsExists() || leftover.length > 0) o.log(`removed what an earlier real node left: ${leftover.join(', ')}`);
  mkdirSync(join(ownerFile, '..'), { recursive: true });
  writeFileSync(ownerFile, JSON.stringify({ stateDir: s.stateDir, pid: process.pid }));

  try {
    await setUpNetwork();
  } catch (err) {
    throw new Error(`cannot create the real node's network namespace (${(err as Error).message}); containers need CAP_NET_ADMIN and network namespaces, or use --nodes kwok`);
  }
  mkdirSync(l.cniConfDir, { recursive: true });
  mkdirSync(l.cniIpamDir, { recursive: true });
  writeCniConfig(join(l.cniConfDir, '10-adg-pods.conflist'), l.cniIpamDir);

  forward(s, 'forward-apiserver', s.ports.apiserver);
  forward(s, 'forward-registry', o.registryPort);
  const containerd = start(s.stateDir, containerdSpec(l, `http://${realNet.hostIp}:${o.registryPort}`));
  await waitFor({ what: 'containerd answering on its socket', timeoutMs: 30_000 }, () => ctr(l, ['version'], 5_000).then(() => true), containerd);
  o.log(`containerd ready (${elapsed()}); starting kubelet and kube-proxy`);
  const kubelet = start(s.stateDir, kubeletSpec(s, l, o.taints));
  const proxy = start(s.stateDir, kubeProxySpec(s, l));
  await waitFor({ what: `node ${realNodeName} Ready (kubelet)`, timeoutMs: 90_000 }, () => nodeReady(s), kubelet);
  // The TaintNodesByCondition admission plugin taints a new Node not-ready; no node-lifecycle
  // controller runs here to lift it once the kubelet reports Ready, so the harness does, keeping the
  // taints the node registered with.
  const r = await apiRequest(s, `/api/v1/nodes/${realNodeName}`, {
    method: 'PATCH',
    body: { spec: { taints: o.taints.length > 0 ? o.taints : null } },
    headers: { 'Content-Type': 'application/merge-patch+json' },
  });
  if (r.status !== 200) throw new Error(`removing the not-ready taint of node ${realNodeName}: HTTP ${r.status} ${r.body.slice(0, 300)}`);
  await waitFor({ what: 'kube-proxy running', timeoutMs: 5_000 }, async () => isRunning(proxy), proxy);
  o.log(`node ${realNodeName} Ready (${elapsed()})`);
}

/** Stops the real node of the cluster in `stateDir` and removes everything it made. */
export async function stopRealNode(stateDir: string, log: (line: string) => void): Promise<string[]> {
  const l = nodeLayout(stateDir);
  const ours = owner()?.stateDir === stateDir;
  if (!ours && !realNodeComponents.some((n) => readRecord(stateDir, n))) return [];
  const stopped: string[] = [];
  // The kubelet first, so that it restarts nothing while the containers go.
  for (const name of ['kubelet', 'kube-proxy']) if (await stop(stateDir, name)) stopped.push(name);
  const removed = await cleanUpRealNode(l, { containerdRunning: running(stateDir, 'containerd') });
  for (const name of ['containerd', 'forward-apiserver', 'forward-registry']) if (await stop(stateDir, name)) stopped.push(name);
  // A containerd stopped mid-way can leave a shim behind: once more, now that nothing restarts one.
  removed.push(...(await cleanUpRealNode(l, { containerdRunning: false })));
  if (ours) rmSync(ownerFile, { force: true });
  if (removed.length > 0) log(`real node: removed ${removed.join(', ')}`);
  return stopped;
}

