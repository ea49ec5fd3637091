// What Linux's /proc says about a pid: alive (a zombie is not), when it started (to tell a reused pid
// from the process we started), and its command line.
import { readdirSync, readFileSync } from 'node:fs';

function stat(pid: number): string[] | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may hold spaces; the fields after it are plain.
    const close = text.lastIndexOf(')');
    return [text.slice(0, close + 1), ...text.slice(close + 2).trim().split(' ')];
  } catch {
    return undefined;
  }
}

/** Alive and not a zombie waiting to be reaped. */
export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const s = stat(pid);
  if (!s) return false;
  return s[1] !== 'Z' && s[1] !== 'X';
}

/** Start time in clock ticks since boot (field 22 of /proc/<pid>/stat): with the pid, a unique id. */
export function processStartTime(pid: number): string | undefined {
  return stat(pid)?.[20];
}

export function commandLine(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

/** Pids of every process in a process group (a detached child leads its own group). */
export function groupMembers(pgid: number): number[] {
  const out: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const s = stat(Number(e));
    if (s && Number(s[3]) === pgid && s[1] !== 'Z') out.push(Number(e));
  }
  return out;
}
