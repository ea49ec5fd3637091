// The real @kubernetes/client-node wrappers against a small HTTP stand-in for the API server: the
// requests they send (paths, verbs, patch content type, resourceVersion) and how they read answers
// (404, 409, a missing key, an abort). The proof against a real API server comes with the cluster tests.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadKubeConfig } from '../runtime/kube.ts';
import { kubeConfigMapReader, readOffloadedTemplate } from './offloaded.ts';
import { kubeSecretClient, kubeWebhookConfigClient } from './tls/self-managed.ts';
import { tempDir } from '../test/support/webhook.ts';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

interface Seen {
  method: string;
  url: string;
  contentType: string | undefined;
  body: any;
}

type Route = (req: Seen, res: ServerResponse) => void;

let server: Server;
let kc: KubeConfig;
let route: Route;
const seen: Seen[] = [];

function json(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

beforeAll(async () => {
  server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString();
      const s: Seen = { method: req.method!, url: req.url!, contentType: req.headers['content-type'], body: text ? JSON.parse(text) : undefined };
      seen.push(s);
      route(s, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  kc = new KubeConfig();
  kc.loadFromClusterAndUser({ name: 'stand-in', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }, { name: 'u', token: 'token' });
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

beforeEach(() => {
  seen.length = 0;
});

const notFound = (res: ServerResponse) => json(res, 404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'not found', reason: 'NotFound', code: 404 });

describe('ConfigMap reader', () => {
  it('reads one key with one GET, and tells a missing ConfigMap from a missing key', async () => {
    const reader = kubeConfigMapReader(kc);
    route = (req, res) => {
      if (req.url === '/api/v1/namespaces/argo/configmaps/wf-influx-1') return json(res, 200, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'wf-influx-1' }, data: { ARGO_TEMPLATE: '{"name":"influx"}' } });
      notFound(res);
    };
    expect(await reader.readConfigMapKey('argo', 'wf-influx-1', 'ARGO_TEMPLATE', new AbortController().signal)).toEqual({ found: true, value: '{"name":"influx"}' });
    expect(await reader.readConfigMapKey('argo', 'wf-influx-1', 'OTHER', new AbortController().signal)).toEqual({ found: true, value: undefined });
    expect(await reader.readConfigMapKey('argo', 'gone', 'ARGO_TEMPLATE', new AbortController().signal)).toEqual({ found: false });
    expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual([
      'GET /api/v1/namespaces/argo/configmaps/wf-influx-1',
      'GET /api/v1/namespaces/argo/configmaps/wf-influx-1',
      'GET /api/v1/namespaces/argo/configmaps/gone',
    ]);
  });

  it('aborts the request at the deadline (the signal reaches the HTTP call)', async () => {
    let closed!: () => void;
    const connectionClosed = new Promise<void>((r) => (closed = r));
    route = (_req, res) => res.on('close', closed); // never answers
    const r = await readOffloadedTemplate(kubeConfigMapReader(kc), 'argo', 'slow', 100);
    expect(r).toEqual({ outcome: 'timeout', template: { ok: false, reason: 'reading ConfigMap argo/slow timed out after 100 ms' } });
    await connectionClosed;
  });

  it('reports a refusal with its status', async () => {
    route = (_req, res) => json(res, 403, { kind: 'Status', message: 'configmaps "x" is forbidden', code: 403 });
    const r = await readOffloadedTemplate(kubeConfigMapReader(kc), 'argo', 'x', 2_000);
    expect(r).toEqual({ outcome: 'error', template: { ok: false, reason: 'reading ConfigMap argo/x failed: HTTP 403: configmaps "x" is forbidden' } });
  });
});

describe('Secret client', () => {
  const stored = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'certs', namespace: 'guard', resourceVersion: '41', labels: { 'app.kubernetes.io/managed-by': 'Helm' }, annotations: { 'meta.helm.sh/release-name': 'guard' } },
    type: 'Opaque',
    data: { 'ca.crt': Buffer.from('CA').toString('base64') },
  };

  it('decodes on read and replaces with the resourceVersion read, keeping labels and annotations', async () => {
    route = (req, res) => (req.method === 'GET' ? json(res, 200, stored) : json(res, 200, { ...req.body, metadata: { ...req.body.metadata, resourceVersion: '42' } }));
    const client = kubeSecretClient(kc, 'guard', 'certs');
    const s = await client.get();
    expect(s).toMatchObject({ resourceVersion: '41', data: { 'ca.crt': 'CA' } });
    expect(await client.update(s, { 'ca.crt': 'CA2', 'tls.crt': 'T' })).toBe('ok');
    const put = seen.find((x) => x.method === 'PUT')!;
    expect(put.url).toBe('/api/v1/namespaces/guard/secrets/certs');
    expect(put.body.metadata).toMatchObject({ name: 'certs', namespace: 'guard', resourceVersion: '41', labels: stored.metadata.labels, annotations: stored.metadata.annotations });
    expect(put.body.type).toBe('Opaque');
    expect(put.body.data).toEqual({ 'ca.crt': Buffer.from('CA2').toString('base64'), 'tls.crt': Buffer.from('T').toString('base64') });
  });

  it('turns 409 into "conflict"', async () => {
    route = (req, res) => (req.method === 'GET' ? json(res, 200, stored) : json(res, 409, { kind: 'Status', reason: 'Conflict', code: 409, message: 'the object has been modified' }));
    const client = kubeSecretClient(kc, 'guard', 'certs');
    expect(await client.update(await client.get(), {})).toBe('conflict');
  });
});

describe('webhook configuration client', () => {
  it('reads caBundles, sends a JSON patch, and reports a missing configuration as undefined', async () => {
    route = (req, res) => {
      if (req.url === '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/argo-daemon-guard' && req.method === 'GET') {
        return json(res, 200, { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', metadata: { name: 'argo-daemon-guard' }, webhooks: [{ name: 'mutate-pods.argo-daemon-guard.io', clientConfig: { caBundle: 'QQ==' }, sideEffects: 'None', admissionReviewVersions: ['v1'] }] });
      }
      if (req.method === 'PATCH') return json(res, 200, { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', metadata: { name: 'argo-daemon-guard' } });
      notFound(res);
    };
    const client = kubeWebhookConfigClient(kc, 'argo-daemon-guard');
    expect(await client.get('MutatingWebhookConfiguration')).toEqual({ webhooks: [{ name: 'mutate-pods.argo-daemon-guard.io', caBundle: 'QQ==' }] });
    expect(await client.get('ValidatingWebhookConfiguration')).toBeUndefined();
    const ops = [
      { op: 'test' as const, path: '/webhooks/0/name', value: 'mutate-pods.argo-daemon-guard.io' },
      { op: 'add' as const, path: '/webhooks/0/clientConfig/caBundle', value: 'Qg==' },
    ];
    await client.patch('MutatingWebhookConfiguration', ops);
    const patch = seen.find((s) => s.method === 'PATCH')!;
    expect(patch.url).toBe('/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/argo-daemon-guard');
    expect(patch.contentType).toBe('application/json-patch+json');
    expect(patch.body).toEqual(ops);
  });
});

describe('loadKubeConfig', () => {
  it('has no credentials without --kubeconfig, $KUBECONFIG or a service account', () => {
    expect(loadKubeConfig({ env: {} })).toEqual({ ok: false, reason: expect.stringMatching(/^no cluster credentials/) });
  });

  it('reads --kubeconfig before $KUBECONFIG, and names a file it cannot read', () => {
    const dir = tempDir();
    const file = join(dir, 'kubeconfig');
    writeFileSync(
      file,
      'apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:6443"}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n',
    );
    expect(loadKubeConfig({ kubeconfig: file, env: { KUBECONFIG: '/nonexistent' } })).toMatchObject({ ok: true, source: `kubeconfig ${file}` });
    expect(loadKubeConfig({ env: { KUBECONFIG: file } })).toMatchObject({ ok: true });
    expect(() => loadKubeConfig({ kubeconfig: join(dir, 'missing'), env: {} })).toThrow(/cannot read kubeconfig .*missing \(--kubeconfig\)/);
  });
});
