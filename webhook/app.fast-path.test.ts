// POST /mutate and /validate skip Express (a performance change, see the README's Performance
// section); every other spelling Express accepts (trailing slash, other case) still goes through it.
// Both paths must answer byte for byte the same: status, headers (but Date), body.
import { request } from 'node:https';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWebhook, type RunningWebhook } from './main.ts';
import { captureLogger, daemonPod, podReview, tempDir, testPki, type TestPki } from '../test/support/webhook.ts';

let wh: RunningWebhook;
let pki: TestPki;
beforeAll(async () => {
  pki = await testPki();
  const dir = tempDir();
  writeFileSync(join(dir, 'tls.crt'), pki.serving.certPem);
  writeFileSync(join(dir, 'tls.key'), pki.serving.keyPem);
  wh = await startWebhook(
    { certs: { mode: 'files', certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key') }, kubeconfig: undefined, port: 0, host: '127.0.0.1', policy: undefined, logLevel: 'info' },
    { logger: captureLogger('info').logger, kube: { ok: false, reason: 'no cluster credentials' } },
  );
});
afterAll(async () => {
  await wh.close(1_000);
});

function post(path: string, body: string): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: wh.port, servername: 'localhost', ca: pki.ca.certPem, agent: false, method: 'POST', path, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const { date: _date, ...headers } = res.headers;
        resolve({ status: res.statusCode ?? 0, headers, body: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('the admission routes answer the same with and without Express', () => {
  const uid = '705ab4f5-6393-11e8-b7cc-42010a800042';
  const bodies: Record<string, string> = {
    'a daemon pod': JSON.stringify(podReview(daemonPod(), { uid })),
    'a malformed request with a uid': JSON.stringify({ kind: 'AdmissionReview', request: { uid } }),
    'no uid': JSON.stringify({ kind: 'AdmissionReview', request: {} }),
    'not JSON': '{"request":',
    'an empty body': '',
  };
  for (const [what, body] of Object.entries(bodies)) {
    for (const endpoint of ['mutate', 'validate']) {
      it(`${what} to /${endpoint}`, async () => {
        const fast = await post(`/${endpoint}?timeout=5s`, body);
        expect(fast.status).toBe(what === 'no uid' || what === 'not JSON' || what === 'an empty body' ? 400 : 200);
        for (const path of [`/${endpoint}/`, `/${endpoint.toUpperCase()}?timeout=5s`]) {
          const viaExpress = await post(path, body);
          expect(viaExpress, path).toEqual(fast);
        }
      });
    }
  }
});
