// `node cli/bin.js <command>` as a child process of the test, with its JSON log lines collected, and
// the credentials the chart's RBAC gives a ServiceAccount: a TokenRequest token in a kubeconfig.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuthorizationV1Api } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { repoRoot } from '../../scripts/generate-chart-files.ts';
import { cluster, core, kc } from '../integration/helpers.ts';

const scratch = mkdtempSync(join(tmpdir(), 'adg-chart-cluster-'));
export const scratchFile = (name: string) => join(scratch, name);

export interface CliProcess {
  name: string;
  child: ChildProcess;
  /** Every line of stdout and stderr so far. */
  lines: string[];
  /** The JSON log records so far. */
  records(): Record<string, unknown>[];
  waitForRecord(what: string, match: (r: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  exited: Promise<number | null>;
  stop(): Promise<number | null>;
}

const running = new Set<CliProcess>();

/** Starts `node cli/bin.js ...args`; no $KUBECONFIG is passed on, so only --kubeconfig counts. */
export function startCli(name: string, args: string[]): CliProcess {
  const env = { PATH: process.env.PATH, HOME: scratch, NODE_ENV: 'production' };
  const child = spawn(process.execPath, [join(repoRoot, 'cli', 'bin.js'), ...args], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  const onData = (buf: Buffer) => {
    for (const l of buf.toString('utf8').split('\n')) if (l.trim()) lines.push(l);
    for (const w of waiters) w();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const records = () =>
    lines.flatMap((l) => {
      try {
        const r = JSON.parse(l) as unknown;
        return r && typeof r === 'object' ? [r as Record<string, unknown>] : [];
      } catch {
        return [];
      }
    });
  const p: CliProcess = {
    name,
    child,
    lines,
    records,
    exited,
    waitForRecord(what, match, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const r = records().find(match);
          if (r) {
            done();
            resolve(r);
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`${name}: timed out after ${timeoutMs / 1000}s waiting for ${what}; its output:\n${lines.slice(-30).join('\n')}`));
        }, timeoutMs);
        const gone = (code: number | null) => {
          done();
          reject(new Error(`${name} exited (${code}) before ${what}; its output:\n${lines.slice(-30).join('\n')}`));
        };
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
          child.off('exit', gone);
        };
        waiters.add(check);
        child.once('exit', gone);
        check();
      });
    },
    async stop() {
      running.delete(p);
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
  running.add(p);
  return p;
}

/** Stops every process this module started (each by its own pid). */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop()));
}

/** Runs a CLI command to its end. */
export async function runCli(args: string[], timeoutMs = 60_000): Promise<{ code: number | null; output: string }> {
  const p = startCli(`cli ${args[0]}`, args);
  const timer = setTimeout(() => void p.stop(), timeoutMs);
  const code = await p.exited;
  clearTimeout(timer);
  running.delete(p);
  return { code, output: p.lines.join('\n') };
}

/** A kubeconfig for the ServiceAccount: a token from the TokenRequest API, nothing else. */
export async function serviceAccountKubeconfig(namespace: string, name: string): Promise<string> {
  const tr = await core().createNamespacedServiceAccountToken({ namespace, name, body: { spec: { expirationSeconds: 3600 } } });
  const token = tr.status?.token;
  if (!token) throw new Error(`no token for ServiceAccount ${namespace}/${name}`);
  const file = scratchFile(`${namespace}-${name}.kubeconfig`);
  writeFileSync(
    file,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'test', cluster: { server: cluster().server, 'certificate-authority': cluster().pki.ca.cert } }],
      users: [{ name, user: { token } }],
      contexts: [{ name, context: { cluster: 'test', user: name } }],
      'current-context': name,
    }),
  );
  return file;
}

export interface Access {
  verb: string;
  resource: string;
  group?: string;
  namespace?: string;
  name?: string;
  subresource?: string;
}

/** Whether the API server's authorizer lets this ServiceAccount do it (a SubjectAccessReview as admin). */
export async function allowed(sa: { namespace: string; name: string }, a: Access): Promise<boolean> {
  const api = kc().makeApiClient(AuthorizationV1Api);
  const r = await api.createSubjectAccessReview({
    body: {
      spec: {
        user: `system:serviceaccount:${sa.namespace}:${sa.name}`,
        groups: ['system:serviceaccounts', `system:serviceaccounts:${sa.namespace}`, 'system:authenticated'],
        resourceAttributes: { verb: a.verb, resource: a.resource, group: a.group ?? '', namespace: a.namespace, name: a.name, subresource: a.subresource },
      },
    },
  });
  return r.status?.allowed === true;
}

/** GET/POST over HTTPS to a process on loopback, trusting `ca` and checking the name `servername`. */
export function httpsJson(o: { port: number; path: string; ca: string; servername: string; body?: unknown }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const payload = o.body === undefined ? undefined : JSON.stringify(o.body);
    const req = request(
      {
        host: '127.0.0.1',
        port: o.port,
        path: o.path,
        method: payload ? 'POST' : 'GET',
        ca: o.ca,
        servername: o.servername,
        headers: payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {},
        timeout: 10_000,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(payload);
  });
}
