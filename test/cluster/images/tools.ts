// The host tools the image builds run (buildah, skopeo, ldd, dpkg-query, tar), each with progress for
// anything slow and an error that names the command and the end of its output.
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, createReadStream, createWriteStream, existsSync, lstatSync, mkdirSync, readlinkSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

export type Log = (line: string) => void;

/** Runs a command to completion and returns its stdout; fails with its stderr. */
export async function run(cmd: string, args: string[], o: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<string> {
  try {
    const { stdout } = await exec(cmd, args, { env: o.env ?? process.env, cwd: o.cwd, maxBuffer: 256 << 20 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    const detail = (e.stderr || e.stdout || e.message).trim().split('\n').slice(-8).join('\n');
    throw new Error(`${cmd} ${args.join(' ')} failed:\n${detail}`);
  }
}

/**
 * Runs a slow command with its output in `logFile` and a progress line every 15 s (with its last
 * output line), so a build of minutes never looks hung.
 */
export function runLogged(cmd: string, args: string[], o: { what: string; log: Log; logFile: string; env?: NodeJS.ProcessEnv; cwd?: string }): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    mkdirSync(dirname(o.logFile), { recursive: true });
    const out = createWriteStream(o.logFile, { flags: 'a' });
    out.write(`\n===== ${new Date().toISOString()} ${cmd} ${args.join(' ')}\n`);
    const child = spawn(cmd, args, { env: o.env ?? process.env, cwd: o.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let last = '';
    const onData = (chunk: Buffer) => {
      out.write(chunk);
      const lines = chunk.toString().split('\n').filter((l) => l.trim());
      if (lines.length) last = lines[lines.length - 1]!.trim();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const beat = setInterval(() => o.log(`${o.what}: ${Math.round((Date.now() - started) / 1000)}s${last ? ` (${last.slice(0, 100)})` : ''}`), 15_000);
    const stop = () => child.kill('SIGTERM');
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    const done = (err?: Error) => {
      clearInterval(beat);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      out.end(() => (err ? reject(err) : resolve()));
    };
    child.on('error', (err) => done(new Error(`${o.what}: cannot run ${cmd} (${err.message})`)));
    child.on('close', (code, signal) => (code === 0 ? done() : done(new Error(`${o.what} failed (${signal ?? `exit ${code}`}): ${last}; see ${o.logFile}`))));
  });
}

export function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(file)
      .on('data', (c) => h.update(c))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}

/** Installed versions of Debian packages, for content keys; a package that is not installed is an error. */
export async function debianVersions(packages: string[]): Promise<Record<string, string>> {
  if (packages.length === 0) return {};
  const out = await run('dpkg-query', ['-W', '-f', '${Package} ${db:Status-Status} ${Version}\\n', ...packages]).catch((err: Error) => {
    throw new Error(`the image builds need the Debian packages ${packages.join(', ')}: ${err.message}`);
  });
  const found: Record<string, string> = {};
  for (const line of out.trim().split('\n')) {
    const [name, status, version] = line.split(' ');
    if (name && status === 'installed' && version) found[name] = version;
  }
  const missing = packages.filter((p) => !found[p]);
  if (missing.length) throw new Error(`the image builds need the Debian packages ${missing.join(', ')}, which are not installed`);
  return found;
}

/** Copies a host file into a root file system at the same path (or `to`), following symlinks. */
export function copyIn(root: string, from: string, to = from, mode?: number): void {
  const dest = join(root, to);
  mkdirSync(dirname(dest), { recursive: true });
  copyFileSync(from, dest);
  if (mode !== undefined) chmodSync(dest, mode);
}

/** The shared libraries (and the dynamic loader) ldd says a binary loads. */
export async function sharedLibraries(binary: string): Promise<string[]> {
  const out = await run('ldd', [binary]).catch((err: Error) => {
    if (/not a dynamic executable/.test(err.message)) return '';
    throw err;
  });
  const libs = new Set<string>();
  for (const line of out.split('\n')) {
    const m = line.match(/=>\s+(\/\S+)/) ?? line.match(/^\s*(\/\S+)\s+\(/);
    if (m) libs.add(m[1]!);
  }
  return [...libs];
}

/** Copies binaries and every library they load into a root file system, at their host paths. */
export async function copyWithLibraries(root: string, binaries: string[]): Promise<void> {
  for (const b of binaries) {
    copyIn(root, b);
    for (const lib of await sharedLibraries(b)) if (!existsSync(join(root, lib))) copyIn(root, lib);
  }
}

/** A symlink inside a root file system (the target as the image sees it). */
export function linkIn(root: string, target: string, path: string): void {
  const at = join(root, path);
  mkdirSync(dirname(at), { recursive: true });
  if (existsSync(at) || isSymlink(at)) return;
  symlinkSync(target, at);
}

function isSymlink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink() && readlinkSync(p) !== '';
  } catch {
    return false;
  }
}
