// Certificate rotation the way the kubelet does it for a Secret volume: new files in a fresh
// `..<timestamp>` directory, then an atomic rename of the `..data` symlink. Requests keep flowing
// the whole time; none may fail, and new connections must end up on the new certificate.
import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { Agent } from 'node:https';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startWebhook, StartupError, type RunningWebhook } from './main.ts';
import { checkPair } from './tls/reloading.ts';
import { createCA, issueServingCert, type KeyPairPem } from './tls/pki.ts';
import { captureLogger, daemonPod, eventually, httpsRequest, podReview, sample, tempDir, testPki } from '../test/support/webhook.ts';

const running: RunningWebhook[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) await r.close(1_000);
});

/** A Secret volume: files behind `..data`, replaced only by swapping the symlink. */
class SecretVolume {
  readonly dir = tempDir('adg-secret-');
  #generation = 0;
  #current: string | undefined;

  constructor(pair: KeyPairPem) {
    this.write(pair);
    symlinkSync('..data/tls.crt', join(this.dir, 'tls.crt'));
    symlinkSync('..data/tls.key', join(this.dir, 'tls.key'));
  }

  write(pair: KeyPairPem): void {
    const ts = `..2026_01_01_00_00_${String(++this.#generation).padStart(2, '0')}.${process.pid}`;
    mkdirSync(join(this.dir, ts));
    writeFileSync(join(this.dir, ts, 'tls.crt'), pair.certPem);
    writeFileSync(join(this.dir, ts, 'tls.key'), pair.keyPem);
    symlinkSync(ts, join(this.dir, '..data_tmp'));
    renameSync(join(this.dir, '..data_tmp'), join(this.dir, '..data'));
    if (this.#current) rmSync(join(this.dir, this.#current), { recursive: true });
    this.#current = ts;
  }
}

const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;

async function startOn(volume: SecretVolume, pollMs: number) {
  const { logger, lines } = captureLogger('info');
  const wh = await startWebhook(
    { certs: { mode: 'files', certFile: join(volume.dir, 'tls.crt'), keyFile: join(volume.dir, 'tls.key') }, kubeconfig: undefined, port: 0, host: '127.0.0.1', policy: undefined, logLevel: 'info' },
    // A poll far beyond the test's waits: only the directory watch can make these rotations visible in time.
    { logger, kube: { ok: false, reason: 'no cluster credentials' }, pollMs },
  );
  running.push(wh);
  return { wh, lines };
}

describe('serving certificate from files', () => {
  it('rotates through a ..data symlink swap while requests are in flight: no failure, new connections see the new certificate', async () => {
    const a = await testPki('ca-a');
    const b = await testPki('ca-b');
    const volume = new SecretVolume(a.serving);
    const { wh } = await startOn(volume, 600_000);
    // The client trusts both CAs, as the caBundle does during a CA rotation.
    const ca = [a.ca.certPem, b.ca.certPem];
    const body = JSON.stringify(podReview(daemonPod()));

    // A keep-alive connection opened before the swap must keep working after it.
    const keepAlive = new Agent({ keepAlive: true, maxSockets: 1, ca });
    const before = await httpsRequest(wh.port, { path: '/validate', body, ca, agent: keepAlive });
    expect(before.peerFingerprint).toBe(fingerprint(a.serving.certPem));

    const seen: string[] = [];
    const failures: unknown[] = [];
    let stop = false;
    let completed = 0;
    const worker = async () => {
      while (!stop) {
        try {
          const res = await httpsRequest(wh.port, { path: '/validate', body, ca });
          if (res.status !== 200 || res.json?.response?.allowed !== true) failures.push(res.text);
          seen.push(res.peerFingerprint);
        } catch (err) {
          failures.push(err);
        }
        completed++;
      }
    };
    const workers = Array.from({ length: 8 }, worker);
    await eventually('requests before the swap', () => completed >= 40);
    volume.write(b.serving);
    await eventually('a new connection on the new certificate', () => seen.includes(fingerprint(b.serving.certPem)));
    const after = completed;
    await eventually('requests after the swap', () => completed >= after + 40);
    stop = true;
    await Promise.all(workers);

    expect(failures).toEqual([]);
    expect(seen.slice(-20).every((f) => f === fingerprint(b.serving.certPem))).toBe(true);
    const reused = await httpsRequest(wh.port, { path: '/validate', body, ca, agent: keepAlive });
    expect(reused.status).toBe(200);
    keepAlive.destroy();
  });

  it('refuses a pair whose key does not match, keeps serving the old one, and says so', async () => {
    const a = await testPki('ca-a');
    const b = await testPki('ca-b');
    const volume = new SecretVolume(a.serving);
    const { wh, lines } = await startOn(volume, 600_000);
    const ca = [a.ca.certPem, b.ca.certPem];
    const get = (path: string) => httpsRequest(wh.port, { path, ca });

    volume.write({ certPem: b.serving.certPem, keyPem: a.serving.keyPem });
    await eventually('the refusal', () => lines.find((l) => l.msg === 'serving certificate rejected; keeping the certificate in use'));
    const ready = await get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.json.tls).toMatchObject({ loaded: true, lastLoadOk: false, lastError: 'private key does not match the certificate' });
    expect(ready.peerFingerprint).toBe(fingerprint(a.serving.certPem));
    const metrics = (await get('/metrics')).text;
    expect(sample(metrics, 'argo_daemon_guard_tls_reload_total', { outcome: 'failure' })).toBe(1);
    expect(sample(metrics, 'argo_daemon_guard_tls_reload_total', { outcome: 'success' })).toBe(1);

    volume.write(b.serving);
    await eventually('the good pair', async () => (await get('/healthz')).peerFingerprint === fingerprint(b.serving.certPem));
    expect((await get('/readyz')).json.tls).toMatchObject({ lastLoadOk: true });
  });

  it('refuses to start on an unusable pair, naming the files', async () => {
    const a = await testPki();
    const b = await testPki();
    const volume = new SecretVolume({ certPem: a.serving.certPem, keyPem: b.serving.keyPem });
    await expect(startOn(volume, 600_000)).rejects.toThrow(StartupError);
    await expect(startOn(volume, 600_000)).rejects.toThrow(/--tls-cert .*tls\.crt .*private key does not match/);
  });
});

describe('checkPair', () => {
  it('accepts a matching pair and reports its expiry', async () => {
    const ca = await createCA('ca', 1);
    const pair = await issueServingCert(ca, { commonName: 'x', dnsNames: ['x'], validDays: 2 });
    expect(checkPair(pair).notAfter.getTime()).toBe(new Date(new X509Certificate(pair.certPem).validTo).getTime());
  });

  it('names what is wrong', async () => {
    const ca = await createCA('ca', 1);
    const pair = await issueServingCert(ca, { commonName: 'x', validDays: 1 });
    expect(() => checkPair({ certPem: 'garbage', keyPem: pair.keyPem })).toThrow(/certificate does not parse/);
    expect(() => checkPair({ certPem: pair.certPem, keyPem: ca.keyPem })).toThrow(/private key does not match/);
    expect(() => checkPair({ certPem: pair.certPem, keyPem: 'garbage' })).toThrow(/rejected/);
  });
});
