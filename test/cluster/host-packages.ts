// Debian packages the real node and the image builds run on. The harness installs what is missing
// (as root, which the CI machines are), so a fresh machine needs nothing installed by hand; elsewhere
// it stops with the one command that would install them.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A Debian package and a file it installs: the file's presence says the package is there. */
export interface HostPackage {
  name: string;
  provides: string;
}

export const nodePackages: HostPackage[] = [
  { name: 'containerd', provides: '/usr/bin/containerd' },
  { name: 'runc', provides: '/usr/sbin/runc' },
  { name: 'containernetworking-plugins', provides: '/usr/lib/cni/bridge' },
  { name: 'iptables', provides: '/usr/sbin/iptables' },
  { name: 'conntrack', provides: '/usr/sbin/conntrack' },
  { name: 'iproute2', provides: '/usr/sbin/ip' },
  { name: 'mount', provides: '/usr/bin/umount' },
];

let listsUpdated = false;

export function missingPackages(pkgs: HostPackage[]): HostPackage[] {
  return pkgs.filter((p) => !existsSync(p.provides));
}

/**
 * Installs the packages whose files are missing. `why` names what needs them, for the progress line
 * and for the error a machine without root or without the package gets.
 */
export async function ensurePackages(pkgs: HostPackage[], why: string, log: (line: string) => void): Promise<void> {
  const missing = [...new Set(missingPackages(pkgs).map((p) => p.name))];
  if (missing.length === 0) return;
  const command = `apt-get install -y --no-install-recommends ${missing.join(' ')}`;
  if (process.getuid?.() !== 0) {
    throw new Error(`${why} needs the Debian packages ${missing.join(', ')}; run as root, or install them first: ${command}`);
  }
  log(`${why}: installing the Debian packages ${missing.join(', ')}`);
  // Installing must not start services: the harness runs its own containerd with its own config.
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive', RUNLEVEL: '1' };
  try {
    if (!listsUpdated) {
      await run('apt-get', ['update', '-q'], { env, maxBuffer: 64 << 20 });
      listsUpdated = true;
    }
    await run('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing], { env, maxBuffer: 64 << 20 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    const detail = (e.stderr ?? e.message).trim().split('\n').filter((l) => /^E:/.test(l)).join('; ') || e.message.split('\n')[0];
    throw new Error(`${why}: installing ${missing.join(', ')} failed (${detail}); fix apt and run: ${command}`);
  }
  const still = missingPackages(pkgs).filter((p) => missing.includes(p.name));
  if (still.length > 0) throw new Error(`${why}: ${still.map((p) => `${p.name} did not install ${p.provides}`).join('; ')}`);
}
