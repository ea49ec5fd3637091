// Everything a real node leaves on the machine, removed in an order that leaves nothing behind: the
// containers (killed through containerd while it still runs), the shims and container processes that
// outlive a containerd stopped too early, every mount under the node's directories (pod volumes,
// container root filesystems, pod network namespaces), then the node's network namespace and link.
// It needs no state of its own: the names and paths are fixed, so a run that died can still be cleaned.
import { existsSync, readdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { removeAllContainers } from './containerd.ts';
import { tearDownNetwork, sh } from './network.ts';
import type { NodeLayout } from './layout.ts';

function readProc(pid: string, file: string): string {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return '';
  }
}

/** Every process on the machine with its parent, read once. */
function processTable(): { pid: number; ppid: number; argv: string[] }[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map((d) => {
      const stat = readProc(d, 'stat');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      return { pid: Number(d), ppid, argv: readProc(d, 'cmdline').split('\0').filter(Boolean) };
    })
    .filter((p) => p.argv.length > 0 || p.ppid > 0);
}

/** containerd's shims for this node (their -address names its socket) and everything below them. */
export function strayContainerProcesses(l: NodeLayout): number[] {
  const table = processTable();
  const shims = table.filter((p) => /containerd-shim/.test(p.argv[0] ?? '') && p.argv.includes(l.containerdSocket)).map((p) => p.pid);
  const out = new Set<number>(shims);
  let grew = true;
  while (grew) {
    grew = false;
    for (const p of table) if (!out.has(p.pid) && out.has(p.ppid)) (out.add(p.pid), (grew = true));
  }
  return [...out];
}

function killAll(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

/** Mount points at or below any of `roots`, deepest first. */
export function mountsUnder(roots: string[]): string[] {
  const points = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((p): p is string => !!p)
    .map((p) => p.replace(/\\040/g, ' '))
    .filter((p) => roots.some((r) => p === r || p.startsWith(r + '/')));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

async function unmountAll(roots: string[]): Promise<number> {
  let count = 0;
  // A mount can hide another on the same point: go round until none is left.
  for (let round = 0; round < 5; round++) {
    const points = mountsUnder(roots);
    if (points.length === 0) break;
    for (const p of points) {
      await sh('umount', ['-l', p]).then(() => count++, () => {});
    }
  }
  return count;
}

/** Where runc puts the node's containers (containerd's CRI default parent under cgroupfs). */
const cgroupParent = 'k8s.io';

/** The cgroups of killed containers stay behind as empty directories: remove them, deepest first. */
function removeEmptyCgroups(): number {
  const roots = existsSync('/sys/fs/cgroup/cgroup.controllers')
    ? [`/sys/fs/cgroup/${cgroupParent}`]
    : readdirSync('/sys/fs/cgroup').map((c) => `/sys/fs/cgroup/${c}/${cgroupParent}`);
  let count = 0;
  const prune = (dir: string): void => {
    let entries: string[];
    try {
      entries = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    } catch {
      return;
    }
    for (const e of entries) prune(`${dir}/${e}`);
    try {
      rmdirSync(dir);
      count++;
    } catch {
      /* still in use, or not ours to remove */
    }
  };
  for (const r of roots) if (existsSync(r)) prune(r);
  return count;
}

/**
 * Removes the node's containers, processes, mounts and network. `containerdRunning`: containerd still
 * answers, so containers can be removed properly first.
 */
export async function cleanUpRealNode(l: NodeLayout, o: { containerdRunning: boolean }): Promise<string[]> {
  const done: string[] = [];
  if (o.containerdRunning) {
    const n = await removeAllContainers(l).catch(() => 0);
    if (n > 0) done.push(`${n} containers`);
  }
  const stray = strayContainerProcesses(l);
  if (stray.length > 0) {
    killAll(stray);
    // SIGKILL is not instant: the cgroups and mounts below are free only once the processes are gone.
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && stray.some((pid) => existsSync(`/proc/${pid}`) && !readProc(String(pid), 'stat').includes(') Z '))) {
      await new Promise((r) => setTimeout(r, 100));
    }
    done.push(`${stray.length} shim and container processes`);
  }
  const roots = [l.dir, l.containerdState];
  const unmounted = await unmountAll(roots);
  if (unmounted > 0) done.push(`${unmounted} mounts`);
  const cgroups = removeEmptyCgroups();
  if (cgroups > 0) done.push(`${cgroups} cgroups`);
  done.push(...(await tearDownNetwork()));
  if (existsSync(l.dir) && mountsUnder([l.dir]).length === 0) rmSync(l.dir, { recursive: true, force: true });
  return done;
}
