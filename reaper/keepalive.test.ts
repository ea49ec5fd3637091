// The reaper's calls share keep-alive connections (keepalive.ts): against a stand-in HTTPS API server
// that counts TLS handshakes, ten calls one after another make one or two connections (undici may open
// a second while the first is being freed) instead of ten, and new credentials get connections of
// their own.
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { createCA, issueClientCert, issueServingCert } from '../webhook/tls/pki.ts';
import { reuseConnections } from './keepalive.ts';

let server: Server;
let port: number;
let handshakes = 0;
let ca: { certPem: string; keyPem: string };

beforeAll(async () => {
  ca = await createCA('keepalive-test-ca', 1);
  const serving = await issueServingCert(ca, { commonName: 'localhost', dnsNames: ['localhost'], ips: ['127.0.0.1'], validDays: 1 });
  server = createServer({ cert: serving.certPem, key: serving.keyPem, ca: ca.certPem, requestCert: true }, (req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: req.url?.split('/').pop() } }));
  });
  server.on('secureConnection', () => handshakes++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

async function kubeConfig(user: string): Promise<KubeConfig> {
  const client = await issueClientCert(ca, { commonName: user, organizations: [] });
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `https://127.0.0.1:${port}`, caData: Buffer.from(ca.certPem).toString('base64'), skipTLSVerify: false }],
    users: [{ name: user, certData: Buffer.from(client.certPem).toString('base64'), keyData: Buffer.from(client.keyPem).toString('base64') }],
    contexts: [{ name: 'ctx', cluster: 'c', user }],
    currentContext: 'ctx',
  });
  return kc;
}

describe('reuseConnections', () => {
  it('ten calls through a reused KubeConfig make one or two TLS connections; without it, ten', async () => {
    for (const reuse of [true, false]) {
      const kc = await kubeConfig('reaper');
      const pool = reuse ? reuseConnections(kc) : undefined;
      const api = kc.makeApiClient(CoreV1Api);
      const before = handshakes;
      for (let i = 0; i < 10; i++) expect((await api.readNamespace({ name: `ns-${i}` })).metadata?.name).toBe(`ns-${i}`);
      if (reuse) expect(handshakes - before, 'with reuse').toBeLessThanOrEqual(2);
      else expect(handshakes - before, 'without').toBe(10);
      await pool?.close();
    }
  });

  it('new credentials get a new connection pool', async () => {
    const kc = await kubeConfig('reaper');
    const pool = reuseConnections(kc);
    const api = kc.makeApiClient(CoreV1Api);
    await api.readNamespace({ name: 'a' });
    await api.readNamespace({ name: 'a2' });
    const unchanged = handshakes;
    await api.readNamespace({ name: 'a3' });
    expect(handshakes, 'same credentials: an open connection').toBe(unchanged);
    const rotated = await kubeConfig('reaper');
    kc.users = rotated.users;
    const before = handshakes;
    await api.readNamespace({ name: 'b' });
    await api.readNamespace({ name: 'c' });
    expect(handshakes - before).toBeGreaterThanOrEqual(1);
    expect(pool.agents()).toBe(1);
    await pool.close();
  });
});
