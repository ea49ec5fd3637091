// `argo-daemon-guard uninstall-webhooks` (the chart's pre-delete hook) against a stand-in API: both
// configurations deleted by name, a missing one counts as done, transient errors are retried until the
// timeout, a refusal is reported at once with the RBAC it needs. The real API server and the chart's
// hook RBAC are exercised in chart.cluster.test.ts.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ApiException } from '@kubernetes/client-node';
import { uninstallWebhooks, type DeleteWebhookConfig } from '../../cli/uninstall-webhooks.ts';
import { repoRoot } from '../../scripts/generate-chart-files.ts';

const run = promisify(execFile);
const apiError = (code: number) => new ApiException(code, `HTTP ${code}`, JSON.stringify({ message: `status ${code}` }), {});

function stub(answers: Record<string, (Error | 'deleted' | 'absent')[]>) {
  const calls: string[] = [];
  const remove: DeleteWebhookConfig = async (kind, name) => {
    calls.push(`${kind}/${name}`);
    const next = answers[kind]!.shift() ?? 'absent';
    if (next instanceof Error) throw next;
    return next;
  };
  return { calls, remove };
}

/** A clock that moves only when the command sleeps. */
function fakeTime() {
  let t = 0;
  return { now: () => t, sleep: async (ms: number) => void (t += ms) };
}

describe('uninstall-webhooks', () => {
  it('deletes the Mutating and the Validating configuration of that name', async () => {
    const s = stub({ MutatingWebhookConfiguration: ['deleted'], ValidatingWebhookConfiguration: ['deleted'] });
    const results = await uninstallWebhooks({ name: 'adg', remove: s.remove, timeoutMs: 1000, ...fakeTime() });
    expect(s.calls).toEqual(['MutatingWebhookConfiguration/adg', 'ValidatingWebhookConfiguration/adg']);
    expect(results.map((r) => r.outcome)).toEqual(['deleted', 'deleted']);
  });

  it('is idempotent: configurations already gone count as done', async () => {
    const s = stub({ MutatingWebhookConfiguration: ['absent'], ValidatingWebhookConfiguration: ['absent'] });
    const results = await uninstallWebhooks({ name: 'adg', remove: s.remove, timeoutMs: 1000, ...fakeTime() });
    expect(results.map((r) => r.outcome)).toEqual(['absent', 'absent']);
  });

  it('retries transient failures (network, 429, 5xx) until they pass', async () => {
    const s = stub({ MutatingWebhookConfiguration: [new Error('connect ECONNREFUSED'), apiError(503), apiError(429), 'deleted'], ValidatingWebhookConfiguration: ['deleted'] });
    const results = await uninstallWebhooks({ name: 'adg', remove: s.remove, timeoutMs: 60_000, ...fakeTime() });
    expect(results.map((r) => r.outcome)).toEqual(['deleted', 'deleted']);
    expect(s.calls).toHaveLength(5);
  });

  it('gives up at the timeout and says so; still tries the other configuration', async () => {
    const s = stub({ MutatingWebhookConfiguration: Array.from({ length: 100 }, () => apiError(500)), ValidatingWebhookConfiguration: ['deleted'] });
    const results = await uninstallWebhooks({ name: 'adg', remove: s.remove, timeoutMs: 10_000, ...fakeTime() });
    expect(results[0]).toMatchObject({ outcome: 'failed' });
    expect(results[0]!.error).toContain('still failing after 10s');
    expect(results[1]).toMatchObject({ outcome: 'deleted' });
  });

  it('a 403 fails at once and names the RBAC it needs', async () => {
    const s = stub({ MutatingWebhookConfiguration: [apiError(403)], ValidatingWebhookConfiguration: [apiError(403)] });
    const results = await uninstallWebhooks({ name: 'adg', remove: s.remove, timeoutMs: 60_000, ...fakeTime() });
    expect(s.calls).toHaveLength(2);
    expect(results[0]!.error).toContain('needs delete on mutatingwebhookconfigurations, resourceNames [adg]');
  });

  it('CLI: --help exits 0; bad usage and missing credentials exit 2', async () => {
    const cli = (args: string[]) =>
      run(process.execPath, [join(repoRoot, 'cli', 'bin.js'), 'uninstall-webhooks', ...args], { env: { PATH: process.env.PATH, HOME: '/nonexistent' } }).then(
        (r) => ({ code: 0, ...r }),
        (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
      );
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('resourceNames [NAME]');
    expect((await cli(['--name', 'Not_Valid'])).code).toBe(2);
    expect((await cli(['--timeout', 'soon'])).code).toBe(2);
    expect((await cli(['--bogus'])).code).toBe(2);
    const none = await cli([]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('no cluster credentials');
  });
});
