// `argo-daemon-guard self-test` (the chart's helm test) against a real webhook process started here
// with its own CA, and a stand-in for the reaper's /readyz: passes only when the webhook answers the
// AdmissionReview over TLS that chains to the given CA and the reaper says ready.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeAnswer, probeReview } from '../core/admission/review.ts';
import { tempDir, testPki } from '../test/support/webhook.ts';

const bin = new URL('./bin.js', import.meta.url).pathname;
const dir = tempDir('adg-self-test-');
let webhook: ChildProcess;
let webhookPort: number;
let reaper: Server;
let reaperPort: number;
let reaperReady = true;

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, 'self-test', ...args], (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as NodeJS.ErrnoException & { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  const { ca, serving } = await testPki();
  const other = await testPki('another-ca');
  writeFileSync(join(dir, 'ca.crt'), ca.certPem);
  writeFileSync(join(dir, 'other-ca.crt'), other.ca.certPem);
  writeFileSync(join(dir, 'tls.crt'), serving.certPem);
  writeFileSync(join(dir, 'tls.key'), serving.keyPem);
  writeFileSync(join(dir, 'not-a-ca.txt'), 'hello\n');
  const env = { ...process.env };
  delete env.KUBECONFIG;
  delete env.KUBERNETES_SERVICE_HOST;
  webhook = spawn(process.execPath, [bin, 'webhook', '--tls-cert', join(dir, 'tls.crt'), '--tls-key', join(dir, 'tls.key'), '--port', '0', '--host', '127.0.0.1'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  webhookPort = await new Promise<number>((resolve, reject) => {
    createInterface({ input: webhook.stdout! }).on('line', (l) => {
      const rec = JSON.parse(l) as { msg?: string; port?: number };
      if (rec.msg === 'listening') resolve(rec.port!);
    });
    webhook.on('exit', (code) => reject(new Error(`webhook exited ${code} before listening`)));
  });
  reaper = createServer((req, res) => {
    const ready = req.url === '/readyz' && reaperReady;
    res.writeHead(ready ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ ready }));
  });
  await new Promise<void>((r) => reaper.listen(0, '127.0.0.1', r));
  reaperPort = (reaper.address() as { port: number }).port;
}, 60_000);

afterAll(async () => {
  webhook?.kill('SIGTERM');
  await new Promise((r) => reaper?.close(r));
});

describe('probeReview / probeAnswer', () => {
  it('accepts only an AdmissionReview that answers the same uid', () => {
    const ok = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'u1', allowed: true } };
    expect(probeAnswer('u1', 200, ok)).toEqual({ ok: true, allowed: true });
    expect(probeAnswer('u2', 200, ok)).toMatchObject({ ok: false, reason: expect.stringContaining('expected u2') });
    expect(probeAnswer('u1', 400, ok)).toMatchObject({ ok: false, reason: 'HTTP 400, expected 200' });
    expect(probeAnswer('u1', 200, { error: 'x' })).toMatchObject({ ok: false, reason: expect.stringContaining('not an admission.k8s.io/v1 AdmissionReview') });
    expect(probeAnswer('u1', 200, { ...ok, response: { uid: 'u1' } })).toMatchObject({ ok: false, reason: expect.stringContaining('response.allowed') });
    expect(probeReview('u1')).toMatchObject({ kind: 'AdmissionReview', request: { uid: 'u1', dryRun: true, operation: 'CREATE', kind: { kind: 'Workflow' } } });
  });
});

describe('argo-daemon-guard self-test', () => {
  const webhookUrl = () => `https://localhost:${webhookPort}`;
  const reaperUrl = () => `http://127.0.0.1:${reaperPort}`;

  it('passes when the webhook answers over TLS verified by the CA and the reaper is ready', async () => {
    const r = await cli(['--webhook-url', webhookUrl(), '--ca-file', join(dir, 'ca.crt'), '--reaper-url', reaperUrl(), '--timeout', '10']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`ok    webhook https://localhost:${webhookPort}/validate: answered the AdmissionReview [0-9a-f-]{36} \\(allowed: true\\)`));
    expect(r.stdout).toContain(`ok    reaper http://127.0.0.1:${reaperPort}/readyz: ready`);
  });

  it('fails on a certificate that does not chain to the given CA, and on a reaper that is not ready', async () => {
    reaperReady = false;
    try {
      const [wrongCa, notReady] = await Promise.all([
        cli(['--webhook-url', webhookUrl(), '--ca-file', join(dir, 'other-ca.crt'), '--timeout', '1']),
        cli(['--reaper-url', reaperUrl(), '--timeout', '1']),
      ]);
      expect(wrongCa.code).toBe(1);
      expect(wrongCa.stderr).toMatch(/FAIL  webhook .*: .*(certificate|self.signed|issuer)/i);
      expect(notReady.code).toBe(1);
      expect(notReady.stderr).toContain('FAIL  reaper');
      expect(notReady.stderr).toContain('HTTP 503');
    } finally {
      reaperReady = true;
    }
  });

  it('exits 2 on bad usage or a CA file that is not one', async () => {
    const results = await Promise.all([
      cli([]),
      cli(['--webhook-url', webhookUrl()]),
      cli(['--webhook-url', 'http://plain', '--ca-file', join(dir, 'ca.crt')]),
      cli(['--webhook-url', webhookUrl(), '--ca-file', join(dir, 'not-a-ca.txt')]),
      cli(['--webhook-url', webhookUrl(), '--ca-file', join(dir, 'missing.crt')]),
    ]);
    expect(results.map((r) => r.code)).toEqual([2, 2, 2, 2, 2]);
    expect(results[0]!.stderr).toContain('nothing to check');
    expect(results[1]!.stderr).toContain('--webhook-url needs --ca-file');
    expect(results[2]!.stderr).toContain('expected https');
    expect(results[3]!.stderr).toContain('no PEM certificate');
    expect(results[4]!.stderr).toContain('cannot read (ENOENT)');
  }, 120_000);
});
