// containerd for the real node: Debian's containerd and runc, its own socket and state, images pulled
// only from the harness's loopback registry (every upstream name is mirrored there), sandboxes from the
// pause image built here.
import { mkdirSync, writeFileSync } from 'node:fs';
import type { ProcessSpec } from '../processes.ts';
import { realNet, sh } from './network.ts';
import type { NodeLayout } from './layout.ts';
import { mirroredRegistries } from '../images/names.ts';

export const pauseImage = 'registry.k8s.io/pause:3.10';

const runcBinary = '/usr/sbin/runc';

export function containerdConfig(l: NodeLayout, registryUrl: string): string {
  const mirrors = mirroredRegistries.flatMap((host) => [
    `[plugins."io.containerd.grpc.v1.cri".registry.mirrors."${host}"]`,
    `  endpoint = [${JSON.stringify(registryUrl)}]`,
  ]);
  return [
    'version = 2',
    `root = ${JSON.stringify(l.containerdRoot)}`,
    `state = ${JSON.stringify(l.containerdState)}`,
    '[grpc]',
    `  address = ${JSON.stringify(l.containerdSocket)}`,
    '[ttrpc]',
    `  address = ${JSON.stringify(l.containerdSocket + '.ttrpc')}`,
    '[metrics]',
    '  address = ""',
    '[plugins."io.containerd.grpc.v1.cri"]',
    `  sandbox_image = ${JSON.stringify(pauseImage)}`,
    // This machine kind lacks CAP_SYS_RESOURCE: containers may not lower their OOM score below ours.
    '  restrict_oom_score_adj = true',
    // Pod network namespaces under containerd's own state, so that cleaning up finds every one of them.
    '  netns_mounts_under_state_dir = true',
    '  disable_apparmor = true',
    '  stream_server_address = "127.0.0.1"',
    '  stream_server_port = "0"',
    '[plugins."io.containerd.grpc.v1.cri".containerd]',
    '  snapshotter = "overlayfs"',
    '  default_runtime_name = "runc"',
    '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]',
    '  runtime_type = "io.containerd.runc.v2"',
    '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]',
    // Debian's runc: a runc built from its Go module lacks seccomp support here.
    `  BinaryName = ${JSON.stringify(runcBinary)}`,
    '  SystemdCgroup = false',
    '[plugins."io.containerd.grpc.v1.cri".cni]',
    '  bin_dir = "/usr/lib/cni"',
    `  conf_dir = ${JSON.stringify(l.cniConfDir)}`,
    ...mirrors,
    '',
  ].join('\n');
}

export function containerdSpec(l: NodeLayout, registryUrl: string): ProcessSpec {
  mkdirSync(l.containerdRoot, { recursive: true });
  mkdirSync(l.containerdState, { recursive: true });
  writeFileSync(l.containerdConfig, containerdConfig(l, registryUrl));
  return { name: 'containerd', command: '/usr/bin/containerd', args: ['--config', l.containerdConfig, '--log-level', 'warn'], netns: realNet.netns };
}

export function ctr(l: NodeLayout, args: string[], timeoutMs = 60_000): Promise<string> {
  return sh('ctr', ['--address', l.containerdSocket, '--namespace', 'k8s.io', ...args], { timeoutMs });
}

/** Kills every container task of the node and removes the containers (the pod sandboxes included). */
export async function removeAllContainers(l: NodeLayout): Promise<number> {
  const tasks = (await ctr(l, ['tasks', 'list', '-q']).catch(() => '')).split('\n').filter(Boolean);
  await Promise.all(tasks.map((id) => ctr(l, ['tasks', 'kill', '--signal', 'SIGKILL', id]).catch(() => {})));
  for (const id of tasks) await ctr(l, ['tasks', 'delete', '--force', id]).catch(() => {});
  const containers = (await ctr(l, ['containers', 'list', '-q']).catch(() => '')).split('\n').filter(Boolean);
  for (const id of containers) await ctr(l, ['containers', 'delete', id]).catch(() => {});
  return containers.length;
}

