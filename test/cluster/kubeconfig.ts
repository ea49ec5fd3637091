// Kubeconfig files (one per identity) and a small HTTPS client for what the harness itself asks the
// API server and the components: health endpoints, metrics, raw requests whose headers matter.
import { readFileSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { stringify } from 'yaml';
import type { CertFiles } from './pki.ts';

export function writeKubeconfig(file: string, o: { server: string; caFile: string; client: CertFiles; user: string }): void {
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'argo-daemon-guard-test', cluster: { server: o.server, 'certificate-authority': o.caFile } }],
    users: [{ name: o.user, user: { 'client-certificate': o.client.cert, 'client-key': o.client.key } }],
    contexts: [{ name: 'argo-daemon-guard-test', context: { cluster: 'argo-daemon-guard-test', user: o.user, namespace: 'default' } }],
    'current-context': 'argo-daemon-guard-test',
    preferences: {},
  };
  writeFileSync(file, stringify(doc), { mode: 0o600 });
}

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface TlsFiles {
  ca?: string;
  cert?: string;
  key?: string;
}

const cache = new Map<string, string>();
function readCached(file: string): string {
  let v = cache.get(file);
  if (v === undefined) cache.set(file, (v = readFileSync(file, 'utf8')));
  return v;
}

/** One HTTP(S) request; TLS verified against `tls.ca`, client certificate when given. */
export function fetchText(url: string, o: { method?: string; tls?: TlsFiles; body?: string; headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<HttpResult> {
  const u = new URL(url);
  const secure = u.protocol === 'https:';
  return new Promise((resolve, reject) => {
    const req = (secure ? httpsRequest : httpRequest)(
      u,
      {
        method: o.method ?? 'GET',
        headers: { Accept: 'application/json, */*', ...(o.body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...o.headers },
        ...(secure
          ? {
              ca: o.tls?.ca ? readCached(o.tls.ca) : undefined,
              cert: o.tls?.cert ? readCached(o.tls.cert) : undefined,
              key: o.tls?.key ? readCached(o.tls.key) : undefined,
              servername: u.hostname === '127.0.0.1' ? undefined : u.hostname,
              agent: false,
            }
          : { agent: false }),
        timeout: o.timeoutMs ?? 5_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout after ${o.timeoutMs ?? 5_000}ms: ${url}`)));
    req.on('error', reject);
    if (o.body !== undefined) req.write(o.body);
    req.end();
  });
}
