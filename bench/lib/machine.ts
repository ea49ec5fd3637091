// The machine and the versions a run measured on, and what /proc says about a process (RSS, CPU).
import { cpus, loadavg, totalmem } from 'node:os';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { versions } from '../../test/cluster/binaries.ts';
import { repoRoot } from '../../test/cluster/state.ts';

export interface Machine {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  /** 1, 5 and 15 minute load averages when the run started (and ended, in results.json). */
  loadAverage: number[];
  kernel: string;
}

export function machine(): Machine {
  const c = cpus();
  let kernel = '';
  try {
    kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  } catch {
    /* not Linux */
  }
  return {
    cpuModel: c[0]?.model ?? 'unknown',
    cores: c.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    loadAverage: loadavg().map((x) => Math.round(x * 100) / 100),
    kernel,
  };
}

/** The checkout's commit, marked `+dirty` when tracked files differ from it: a number is only as good as the code it ran on. */
export function commitOf(): string {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).trim();
    const changed = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: repoRoot, encoding: 'utf8' }).trim();
    return changed ? `${commit}+dirty` : commit;
  } catch {
    return 'unknown';
  }
}

export function versionsOf(): Record<string, string> {
  const own = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  return { 'argo-daemon-guard': `${own.version} (${commitOf()})`, node: process.version, kubernetes: versions.kubernetes, etcd: versions.etcd, kwok: versions.kwok, argo: versions.argo };
}

const pageSize = 4096;
const ticksPerSecond = 100;

/** Resident set size of a process, MiB (from /proc/<pid>/statm). */
export function rssMiB(pid: number): number {
  const statm = readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ');
  return (Number(statm[1]) * pageSize) / 2 ** 20;
}

/** Peak resident set size (VmHWM), MiB. */
export function peakRssMiB(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** CPU time (user + system) a process has used, seconds. */
export function cpuSeconds(pid: number): number {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of stat; after the command they are at 11 and 12.
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
}

/** Waits until the 1-minute load average is below `max`, up to `timeoutMs`; says what it saw. */
export async function waitQuiet(max: number, timeoutMs: number, log: (l: string) => void): Promise<{ quiet: boolean; load: number }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const load = loadavg()[0]!;
    if (load < max) return { quiet: true, load };
    if (Date.now() > deadline) return { quiet: false, load };
    log(`load average ${load.toFixed(2)} ≥ ${max}: waiting for a quiet machine (${Math.round((deadline - Date.now()) / 1000)} s left)`);
    await new Promise((r) => setTimeout(r, 15_000));
  }
}

/** TCP connections this machine has accepted since boot (PassiveOpens of /proc/net/snmp). */
export function tcpAccepted(): number {
  const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Tcp:'));
  const [names, values] = lines.map((l) => l.split(/\s+/));
  return Number(values![names!.indexOf('PassiveOpens')]);
}
