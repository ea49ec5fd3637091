// The guard's webhook as its own process (cli/main.ts webhook, built-in default policy, no cluster
// credentials, logging at info to a file), with a throwaway CA, for benchmarks that need no cluster.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fetchText } from '../../test/cluster/kubeconfig.ts';
import { freePort } from '../../test/cluster/ports.ts';
import { logFileOf, start, stop, waitFor, type ProcessRecord } from '../../test/cluster/processes.ts';
import { repoRoot } from '../../test/cluster/state.ts';
import { testPki } from '../../test/support/webhook.ts';

export interface Certs {
  caPem: string;
  caFile: string;
  certFile: string;
  keyFile: string;
}

export async function writeCerts(dir: string): Promise<Certs> {
  const pki = await testPki('bench-webhook-ca');
  const certs = { caPem: pki.ca.certPem, caFile: join(dir, 'ca.crt'), certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key') };
  writeFileSync(certs.caFile, pki.ca.certPem);
  writeFileSync(certs.certFile, pki.serving.certPem);
  writeFileSync(certs.keyFile, pki.serving.keyPem);
  return certs;
}

export interface Launched {
  name: string;
  port: number;
  proc: ProcessRecord;
  logFile: string;
  stop(): Promise<void>;
}

/** Starts a Node script of this repository as a process and waits for GET /readyz (or any 200 on GET). */
export async function launch(dir: string, name: string, args: string[], certs: Certs, o: { port?: number; env?: NodeJS.ProcessEnv } = {}): Promise<Launched> {
  const port = o.port ?? (await freePort());
  const proc = start(dir, { name, command: process.execPath, args: args.map((a) => a.replace('{port}', String(port))), cwd: repoRoot, env: o.env ?? process.env });
  const ready = () => fetchText(`https://127.0.0.1:${port}/readyz`, { tls: { ca: certs.caFile }, timeoutMs: 2000 }).then((r) => r.status === 200);
  try {
    await waitFor({ what: `${name} on :${port}`, timeoutMs: 30_000 }, async () => (await ready()) || undefined, proc);
  } catch (err) {
    await stop(dir, name);
    throw err;
  }
  return { name, port, proc, logFile: logFileOf(dir, name), stop: () => stop(dir, name).then(() => undefined) };
}

/**
 * The guard's webhook from this checkout, or from another one ($BENCH_GUARD_ROOT: a copy of an earlier
 * commit with node_modules linked in), for before/after comparisons with the same load.
 */
export function guardWebhook(dir: string, certs: Certs, o: { cpuProfDir?: string; maxOldSpaceMB?: number } = {}): Promise<Launched> {
  const flags = [...(o.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${o.cpuProfDir}`] : []), ...(o.maxOldSpaceMB ? [`--max-old-space-size=${o.maxOldSpaceMB}`] : [])];
  const env = flags.length ? { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} ${flags.join(' ')}` } : process.env;
  const root = process.env.BENCH_GUARD_ROOT ?? repoRoot;
  return launch(dir, 'webhook', [join(root, 'cli', 'main.ts'), 'webhook', '--tls-cert', certs.certFile, '--tls-key', certs.keyFile, '--port', '{port}', '--log-level', 'info'], certs, { env });
}

export function floorServer(dir: string, certs: Certs, mode: 'fixed' | 'echo'): Promise<Launched> {
  return launch(dir, `floor-${mode}`, [join(repoRoot, 'bench', 'floor-server.ts'), '{port}', certs.certFile, certs.keyFile, mode], certs);
}

/** Resident set size, MB (VmRSS). */
export function rssMB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 102.4) / 10 : NaN;
}
