// `argo-daemon-guard webhook` as a user runs it: flags, errors that name the bad input, and the real
// process serving without cluster credentials, then shutting down cleanly on SIGTERM.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { parseWebhookArgs } from './main.ts';
import { httpsRequest, tempDir, testPki } from '../test/support/webhook.ts';

const cli = fileURLToPath(new URL('../cli/main.ts', import.meta.url));

describe('parseWebhookArgs', () => {
  it('reads certificates from files with the defaults', () => {
    expect(parseWebhookArgs(['--tls-cert', 'c.pem', '--tls-key', 'k.pem'], {})).toEqual({
      kind: 'run',
      options: { certs: { mode: 'files', certFile: 'c.pem', keyFile: 'k.pem' }, kubeconfig: undefined, port: 8443, host: undefined, policy: undefined, logLevel: 'info' },
    });
  });

  it('reads the self-managed settings, the namespace from POD_NAMESPACE unless given', () => {
    const args = ['--manage-certs', '--cert-secret', 'certs', '--extra-san', 'localhost', '--extra-san', '127.0.0.1', '--port', '9443', '--policy', 'p.yaml', '--kubeconfig', 'kc'];
    expect(parseWebhookArgs(args, { POD_NAMESPACE: 'guard' })).toMatchObject({
      kind: 'run',
      options: {
        certs: { mode: 'managed', secret: 'certs', namespace: 'guard', webhookConfigName: 'argo-daemon-guard', serviceName: 'argo-daemon-guard-webhook', extraSans: ['localhost', '127.0.0.1'] },
        port: 9443,
        policy: 'p.yaml',
        kubeconfig: 'kc',
      },
    });
    expect(parseWebhookArgs([...args, '--namespace', 'other'], { POD_NAMESPACE: 'guard' })).toMatchObject({ options: { certs: { namespace: 'other' } } });
  });

  it('names the bad input', () => {
    const error = (argv: string[]) => {
      const r = parseWebhookArgs(argv, {});
      return r.kind === 'error' ? r.error : `no error: ${r.kind}`;
    };
    expect(error([])).toMatch(/a serving certificate is required: --tls-cert FILE --tls-key FILE, or --manage-certs --cert-secret NAME/);
    expect(error(['--tls-cert', 'c'])).toMatch(/--tls-cert needs --tls-key/);
    expect(error(['--tls-key', 'k'])).toMatch(/--tls-key needs --tls-cert/);
    expect(error(['--tls-cert', 'c', '--tls-key', 'k', '--manage-certs'])).toMatch(/either --tls-cert\/--tls-key or --manage-certs/);
    expect(error(['--manage-certs'])).toMatch(/--manage-certs needs --cert-secret NAME/);
    expect(error(['--tls-cert', 'c', '--tls-key', 'k', '--cert-secret', 's'])).toMatch(/--cert-secret only applies with --manage-certs/);
    expect(error(['--tls-cert', 'c', '--tls-key', 'k', '--port', '84x3'])).toMatch(/--port "84x3": expected a whole number from 0 to 65535/);
    expect(error(['--tls-cert', 'c', '--tls-key', 'k', '--port', '70000'])).toMatch(/--port "70000"/);
    expect(error(['--tls-cert', 'c', '--tls-key', 'k', '--log-level', 'loud'])).toMatch(/--log-level "loud": expected one of/);
    expect(error(['--tls-cert', 'c', '--tls-key', 'k', '--frobnicate'])).toMatch(/--frobnicate/);
    expect(parseWebhookArgs(['--help'], {})).toEqual({ kind: 'help' });
  });
});

/** Runs the CLI with no cluster credentials in its environment. */
function run(args: string[]) {
  const env = { ...process.env };
  delete env.KUBECONFIG;
  delete env.KUBERNETES_SERVICE_HOST;
  const child = spawn(process.execPath, [cli, 'webhook', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Record<string, any>[] = [];
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  const listening = new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (l) => {
      const rec = JSON.parse(l);
      lines.push(rec);
      if (rec.msg === 'listening') resolve(rec.port);
    });
    child.on('exit', (code) => reject(new Error(`exited ${code} before listening: ${stderr}`)));
  });
  // 'close' rather than 'exit': it comes after the output streams have ended.
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, lines, listening, exited, stderr: () => stderr };
}

describe('the webhook command', () => {
  it('serves without cluster credentials and exits 0 after SIGTERM', async () => {
    const { ca, serving } = await testPki();
    const dir = tempDir();
    writeFileSync(join(dir, 'tls.crt'), serving.certPem);
    writeFileSync(join(dir, 'tls.key'), serving.keyPem);
    const p = run(['--tls-cert', join(dir, 'tls.crt'), '--tls-key', join(dir, 'tls.key'), '--port', '0', '--host', '127.0.0.1']);
    const port = await p.listening;
    const ready = await httpsRequest(port, { path: '/readyz', ca: ca.certPem });
    expect(ready.status).toBe(200);
    expect(ready.json.offloadedTemplates).toMatch(/not readable: no cluster credentials/);
    expect(p.lines.find((l) => l.msg === 'listening')).toMatchObject({ name: 'argo-daemon-guard', level: 'info', port });
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    expect(p.lines.at(-1)).toMatchObject({ msg: 'shut down', forced: false });
  });

  it('exits 2 on bad usage and on an invalid policy, saying what is wrong', async () => {
    const usage = run(['--port', 'abc']);
    usage.listening.catch(() => {});
    expect(await usage.exited).toBe(2);
    expect(usage.stderr()).toMatch(/--port "abc": expected a whole number/);

    const { serving } = await testPki();
    const dir = tempDir();
    writeFileSync(join(dir, 'tls.crt'), serving.certPem);
    writeFileSync(join(dir, 'tls.key'), serving.keyPem);
    writeFileSync(join(dir, 'policy.yaml'), 'maxLifetime: forever\n');
    const bad = run(['--tls-cert', join(dir, 'tls.crt'), '--tls-key', join(dir, 'tls.key'), '--policy', join(dir, 'policy.yaml'), '--port', '0']);
    bad.listening.catch(() => {});
    expect(await bad.exited).toBe(2);
    expect(bad.stderr()).toMatch(/policy .*policy\.yaml is invalid: maxLifetime: /);
  });
});
