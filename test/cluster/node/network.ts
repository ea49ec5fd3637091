// The real node's network: the node is a network namespace of its own (like a kind node is a
// container), joined to the host by a veth pair. containerd, the kubelet and kube-proxy run inside
// it, so the pod bridge, the pods' veths and kube-proxy's iptables rules all live there and vanish
// with it. The host reaches pods and ClusterIPs through routes over the veth (the API server calls the
// webhook through its Service that way); the node has no default route, and the host does not forward,
// so nothing a pod sends can leave the machine.
import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { serviceClusterIpRange } from '../state.ts';

const run = promisify(execFile);

/** One real node per machine: these names are fixed, so a later run can always find what to remove. */
export const realNet = {
  netns: 'adg-node',
  hostVeth: 'adg-host',
  nodeVeth: 'adg-node',
  bridge: 'adg-cni0',
  /** The host's end of the link: what pods and the kubelet reach the API server (and registry) at. */
  hostIp: '172.30.0.1',
  /** The node's InternalIP: where the API server reaches the kubelet for logs and exec. */
  nodeIp: '172.30.0.2',
  linkCidr: '172.30.0.0/30',
  podCidr: '10.245.0.0/24',
} as const;

export async function sh(cmd: string, args: string[], o: { timeoutMs?: number } = {}): Promise<string> {
  try {
    const { stdout } = await run(cmd, args, { timeout: o.timeoutMs ?? 30_000, maxBuffer: 16 << 20 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${(e.stderr || e.message).trim().split('\n').slice(-3).join(' ')}`);
  }
}

/** The same, for commands whose failure only means "already gone". */
async function quiet(cmd: string, args: string[]): Promise<void> {
  await sh(cmd, args).catch(() => {});
}

export function inNode(cmd: string, args: string[], o: { timeoutMs?: number } = {}): Promise<string> {
  return sh('ip', ['netns', 'exec', realNet.netns, cmd, ...args], o);
}

export function netnsExists(): boolean {
  return existsSync(`/run/netns/${realNet.netns}`);
}

export async function setUpNetwork(): Promise<void> {
  const n = realNet;
  await sh('ip', ['netns', 'add', n.netns]);
  await sh('ip', ['link', 'add', n.hostVeth, 'type', 'veth', 'peer', 'name', n.nodeVeth, 'netns', n.netns]);
  await sh('ip', ['addr', 'add', `${n.hostIp}/30`, 'dev', n.hostVeth]);
  await sh('ip', ['link', 'set', n.hostVeth, 'up']);
  await inNode('ip', ['addr', 'add', `${n.nodeIp}/30`, 'dev', n.nodeVeth]);
  await inNode('ip', ['link', 'set', n.nodeVeth, 'up']);
  await inNode('ip', ['link', 'set', 'lo', 'up']);
  // The node routes between its pods and the host; bridged pod-to-Service traffic must pass iptables
  // so that kube-proxy's rules see it (both settings are per network namespace).
  await inNode('sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
  if (existsSync('/proc/sys/net/bridge')) await inNode('sysctl', ['-q', '-w', 'net.bridge.bridge-nf-call-iptables=1']);
  await sh('ip', ['route', 'add', n.podCidr, 'via', n.nodeIp, 'dev', n.hostVeth]);
  await sh('ip', ['route', 'add', serviceClusterIpRange, 'via', n.nodeIp, 'dev', n.hostVeth]);
}

/** Removes the namespace (and with it the bridge, every pod veth and kube-proxy's chains) and the link. */
export async function tearDownNetwork(): Promise<string[]> {
  const removed: string[] = [];
  if (netnsExists()) {
    await quiet('ip', ['netns', 'delete', realNet.netns]);
    removed.push(`network namespace ${realNet.netns}`);
  }
  // Deleting the namespace deletes the node's end of the veth, and so the host's end and its routes.
  if (existsSync(`/sys/class/net/${realNet.hostVeth}`)) {
    await quiet('ip', ['link', 'delete', realNet.hostVeth]);
    removed.push(`link ${realNet.hostVeth}`);
  }
  return removed;
}

/** The CNI network every pod of the real node joins: a bridge, host-local addresses, routes only to the cluster. */
export function writeCniConfig(file: string, ipamDir: string): void {
  const conf = {
    cniVersion: '1.0.0',
    name: 'adg-pods',
    plugins: [
      {
        type: 'bridge',
        bridge: realNet.bridge,
        isGateway: true,
        ipMasq: false,
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          dataDir: ipamDir,
          ranges: [[{ subnet: realNet.podCidr }]],
          // No default route: a pod reaches other pods, Services and the host's end of the link, nothing else.
          routes: [{ dst: serviceClusterIpRange }, { dst: realNet.linkCidr }],
        },
      },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  };
  writeFileSync(file, JSON.stringify(conf, null, 2));
}
