// The policy follows its file (a ConfigMap volume: `..data` swap) without a restart; a version that
// fails the schema keeps the last good policy in force and says so in the log, the metric and /readyz.
import { mkdirSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WatchedFiles, type LoadEvent } from '../runtime/watched-file.ts';
import { startWebhook, StartupError, type RunningWebhook } from './main.ts';
import { captureLogger, daemonPod, eventually, httpsRequest, podReview, sample, tempDir, testPki } from '../test/support/webhook.ts';

const running: RunningWebhook[] = [];
const watchers: WatchedFiles<unknown>[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) await r.close(1_000);
  for (const w of watchers.splice(0)) w.close();
});

/** A ConfigMap volume holding policy.yaml. */
class ConfigMapVolume {
  readonly dir = tempDir('adg-cm-');
  readonly file = join(this.dir, 'policy.yaml');
  #n = 0;
  #current: string | undefined;

  constructor(text: string) {
    this.write(text);
    symlinkSync('..data/policy.yaml', this.file);
  }

  write(text: string): void {
    const ts = `..2026_02_02_00_00_${String(++this.#n).padStart(2, '0')}.1`;
    mkdirSync(join(this.dir, ts));
    writeFileSync(join(this.dir, ts, 'policy.yaml'), text);
    symlinkSync(ts, join(this.dir, '..data_tmp'));
    renameSync(join(this.dir, '..data_tmp'), join(this.dir, '..data'));
    if (this.#current) rmSync(join(this.dir, this.#current), { recursive: true });
    this.#current = ts;
  }
}

const enforce = 'rules:\n  resources: { mode: enforce, requests: [cpu, memory] }\n';
const warn = 'rules:\n  resources: { mode: warn, requests: [cpu] }\n';
const bad = 'rules:\n  resources: { mode: enforcee }\n  readinesProbe: { mode: warn }\n';

async function start(policyFile: string) {
  const pki = await testPki();
  const dir = tempDir();
  writeFileSync(join(dir, 'tls.crt'), pki.serving.certPem);
  writeFileSync(join(dir, 'tls.key'), pki.serving.keyPem);
  const { logger, lines } = captureLogger('info');
  const wh = await startWebhook(
    { certs: { mode: 'files', certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key') }, kubeconfig: undefined, port: 0, host: '127.0.0.1', policy: policyFile, logLevel: 'info' },
    { logger, kube: { ok: false, reason: 'no cluster credentials' }, pollMs: 600_000 },
  );
  running.push(wh);
  const call = (path: string, body?: unknown) => httpsRequest(wh.port, { path, ca: pki.ca.certPem, ...(body ? { body: JSON.stringify(body) } : {}) });
  return { wh, lines, call };
}

describe('policy reload', () => {
  it('follows a ConfigMap swap, keeps the last good policy through a bad version, and reports it', async () => {
    const volume = new ConfigMapVolume(enforce);
    const { call, lines } = await start(volume.file);
    const validate = async () => (await call('/validate', podReview(daemonPod()))).json.response;
    expect(await validate()).toMatchObject({ allowed: false });

    volume.write(bad);
    const ready = await eventually('the refused reload in /readyz', async () => {
      const r = await call('/readyz');
      return r.json.policy.lastReload === 'failure' ? r : undefined;
    });
    expect(ready.status).toBe(200);
    expect(ready.json).toMatchObject({ ready: true, policy: { loaded: true, lastReload: 'failure' } });
    expect(ready.json.policy.problems).toEqual(expect.arrayContaining([expect.stringMatching(/^rules\.resources\.mode: must be one of /), 'rules.readinesProbe: unknown field']));
    const metrics = (await call('/metrics')).text;
    expect(sample(metrics, 'argo_daemon_guard_policy_last_reload_success')).toBe(0);
    expect(sample(metrics, 'argo_daemon_guard_policy_reload_total', { outcome: 'failure' })).toBe(1);
    expect(sample(metrics, 'argo_daemon_guard_policy_reload_total', { outcome: 'success' })).toBe(1);
    expect(lines.find((l) => l.msg === 'policy reload failed; keeping the last good policy')).toMatchObject({ level: 'error', source: volume.file });
    // Still the last good (enforcing) policy.
    expect(await validate()).toMatchObject({ allowed: false });

    volume.write(warn);
    await eventually('the good reload', async () => (await call('/readyz')).json.policy.lastReload === 'success');
    const r = await validate();
    expect(r.allowed).toBe(true);
    expect(r.warnings.join()).toMatch(/resources/);
    expect(sample((await call('/metrics')).text, 'argo_daemon_guard_policy_last_reload_success')).toBe(1);
  });

  it('also follows a file rewritten in place', async () => {
    const dir = tempDir();
    const file = join(dir, 'policy.yaml');
    writeFileSync(file, enforce);
    const { call } = await start(file);
    expect((await call('/validate', podReview(daemonPod()))).json.response.allowed).toBe(false);
    writeFileSync(file, warn);
    await eventually('the new policy in force', async () => (await call('/validate', podReview(daemonPod()))).json.response.allowed === true);
  });

  it('refuses to start on an invalid policy, naming the field', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'p.yaml'), bad);
    await expect(start(join(dir, 'p.yaml'))).rejects.toThrow(StartupError);
    await expect(start(join(dir, 'p.yaml'))).rejects.toThrow(/rules\.resources\.mode: must be one of enforce, warn, audit, off/);
    await expect(start(join(dir, 'missing.yaml'))).rejects.toThrow(/missing\.yaml: no such file/);
  });
});

describe('WatchedFiles', () => {
  async function open(paths: string[], parse: (c: Buffer[]) => unknown) {
    const events: LoadEvent<unknown>[] = [];
    const w = await WatchedFiles.open({ paths, parse, onLoad: (e) => events.push(e), pollMs: 600_000 });
    watchers.push(w);
    return { w, events };
  }

  it('reports each distinct version once, and a vanished file as a failure that keeps the last good value', async () => {
    const dir = tempDir();
    const file = join(dir, 'v.txt');
    writeFileSync(file, '1');
    const { w, events } = await open([file], ([c]) => Number(c!.toString()));
    expect(events).toEqual([{ ok: true, value: 1, initial: true }]);
    await w.check();
    expect(events).toHaveLength(1);

    unlinkSync(file);
    await w.check();
    expect(events[1]).toMatchObject({ ok: false, keptLastGood: true, initial: false });
    expect(w.current()).toBe(1);
    expect(w.status()).toMatchObject({ loaded: true, lastLoadOk: false, lastError: expect.stringMatching(/v\.txt: no such file/) });

    writeFileSync(file, '2');
    await eventually('the new version', () => w.current() === 2);
    expect(w.status()).toMatchObject({ lastLoadOk: true, lastError: undefined });
  });

  it('passes several files together and rejects a version the parser refuses', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'a'), 'x');
    writeFileSync(join(dir, 'b'), 'x');
    const { w, events } = await open([join(dir, 'a'), join(dir, 'b')], ([a, b]) => {
      if (a!.toString() !== b!.toString()) throw new Error('a and b differ');
      return a!.toString();
    });
    expect(w.current()).toBe('x');
    writeFileSync(join(dir, 'a'), 'y');
    await w.check();
    expect(events.at(-1)).toMatchObject({ ok: false, error: new Error('a and b differ') });
    expect(w.current()).toBe('x');
    writeFileSync(join(dir, 'b'), 'y');
    await w.check();
    expect(w.current()).toBe('y');
  });

  it('starts without a value when the first version is bad, and reports that no good value was kept', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'a'), 'bad');
    const { w, events } = await open([join(dir, 'a')], () => {
      throw new Error('no');
    });
    expect(w.current()).toBeUndefined();
    expect(events).toEqual([{ ok: false, error: new Error('no'), initial: true, keptLastGood: false }]);
    expect(w.status().loaded).toBe(false);
  });
});
