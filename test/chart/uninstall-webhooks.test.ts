// `argo-daemon-guard uninstall-webhooks` (the chart's pre-delete hook, and by hand) against a stand-in
// API: the release's configurations found by the chart's labels, both deleted by name, a missing one
// reported, transient errors are retried until the
// timeout, a refusal is reported at once with the RBAC it needs. The real API server and the chart's
// hook RBAC are exercised in chart.cluster.test.ts.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ApiException } from '@kubernetes/client-node';
import { byName, releaseTargets, uninstallWebhooks, type DeleteWebhookConfig, type ListedWebhookConfig } from '../../cli/uninstall-webhooks.ts';
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
    const results = await uninstallWebhooks({ targets: byName('adg'), remove: s.remove, timeoutMs: 1000, ...fakeTime() });
    expect(s.calls).toEqual(['MutatingWebhookConfiguration/adg', 'ValidatingWebhookConfiguration/adg']);
    expect(results.map((r) => r.outcome)).toEqual(['deleted', 'deleted']);
  });

  it('is idempotent: configurations already gone count as done', async () => {
    const s = stub({ MutatingWebhookConfiguration: ['absent'], ValidatingWebhookConfiguration: ['absent'] });
    const results = await uninstallWebhooks({ targets: byName('adg'), remove: s.remove, timeoutMs: 1000, ...fakeTime() });
    expect(results.map((r) => r.outcome)).toEqual(['absent', 'absent']);
  });

  it('retries transient failures (network, 429, 5xx) until they pass', async () => {
    const s = stub({ MutatingWebhookConfiguration: [new Error('connect ECONNREFUSED'), apiError(503), apiError(429), 'deleted'], ValidatingWebhookConfiguration: ['deleted'] });
    const results = await uninstallWebhooks({ targets: byName('adg'), remove: s.remove, timeoutMs: 60_000, ...fakeTime() });
    expect(results.map((r) => r.outcome)).toEqual(['deleted', 'deleted']);
    expect(s.calls).toHaveLength(5);
  });

  it('gives up at the timeout and says so; still tries the other configuration', async () => {
    const s = stub({ MutatingWebhookConfiguration: Array.from({ length: 100 }, () => apiError(500)), ValidatingWebhookConfiguration: ['deleted'] });
    const results = await uninstallWebhooks({ targets: byName('adg'), remove: s.remove, timeoutMs: 10_000, ...fakeTime() });
    expect(results[0]).toMatchObject({ outcome: 'failed' });
    expect(results[0]!.error).toContain('still failing after 10s');
    expect(results[1]).toMatchObject({ outcome: 'deleted' });
  });

  it('a 403 fails at once and names the RBAC it needs', async () => {
    const s = stub({ MutatingWebhookConfiguration: [apiError(403)], ValidatingWebhookConfiguration: [apiError(403)] });
    const results = await uninstallWebhooks({ targets: byName('adg'), remove: s.remove, timeoutMs: 60_000, ...fakeTime() });
    expect(s.calls).toHaveLength(2);
    expect(results[0]!.error).toContain('needs delete on mutatingwebhookconfigurations, resourceNames [adg]');
  });

  const listed = (release: string, name = `${release}-argo-daemon-guard`, partOf = 'argo-daemon-guard'): ListedWebhookConfig[] =>
    (['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration'] as const).map((kind) => ({ kind, name, labels: { 'app.kubernetes.io/part-of': partOf, 'app.kubernetes.io/instance': release } }));

  it('finds a release\'s configurations by the chart\'s labels, whatever the chart named them', () => {
    const cluster = [...listed('adg'), ...listed('guard', 'guard'), ...listed('other', 'kyverno', 'kyverno')];
    expect(releaseTargets(cluster, 'guard')).toEqual({ ok: true, targets: byName('guard') });
    expect(releaseTargets(cluster, 'adg')).toEqual({ ok: true, targets: byName('adg-argo-daemon-guard') });
  });

  it('without --release: the only release present; several are refused by name; none is "found none"', () => {
    expect(releaseTargets([...listed('adg'), ...listed('other', 'kyverno', 'kyverno')], undefined)).toEqual({ ok: true, targets: byName('adg-argo-daemon-guard') });
    expect(releaseTargets([...listed('adg'), ...listed('guard')], undefined)).toEqual({ ok: false, exitCode: 2, message: 'webhook configurations of several releases (adg, guard): pass --release NAME' });
    const none = releaseTargets(listed('other', 'kyverno', 'kyverno'), undefined);
    expect(none).toMatchObject({ ok: false, exitCode: 1 });
    expect(!none.ok && none.message).toContain('found none');
    expect(releaseTargets(listed('adg'), 'gaurd')).toMatchObject({ ok: false, exitCode: 1, message: expect.stringContaining('found none: no webhook configuration of release gaurd') });
  });

  it('CLI: --help exits 0; bad usage and missing credentials exit 2', async () => {
    const cli = (args: string[]) =>
      run(process.execPath, [join(repoRoot, 'cli', 'bin.js'), 'uninstall-webhooks', ...args], { env: { PATH: process.env.PATH, HOME: '/nonexistent' } }).then(
        (r) => ({ code: 0, ...r }),
        (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
      );
    // One process each, started together: the machine is shared and each start takes seconds.
    const [help, badName, badTimeout, bogus, both, ignoreAlone, none] = await Promise.all(
      [['--help'], ['--name', 'Not_Valid'], ['--timeout', 'soon'], ['--bogus'], ['--name', 'a', '--release', 'b'], ['--ignore-not-found'], []].map(cli),
    );
    expect(help!.code).toBe(0);
    expect(help!.stdout).toContain('resourceNames [NAME]');
    expect(help!.stdout).toContain('--release NAME');
    for (const r of [badName, badTimeout, bogus, both, ignoreAlone]) expect(r!.code).toBe(2);
    expect(both!.stderr).toContain('--name and --release exclude each other');
    expect(ignoreAlone!.stderr).toContain('--ignore-not-found goes with --name');
    expect(none!.code).toBe(2);
    expect(none!.stderr).toContain('no cluster credentials');
  }, 180_000);
});
