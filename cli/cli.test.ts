// The CLI as a user runs it: a process, its output and its exit code.
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { argoPod, redisDaemon, workflowObject } from '../test/support/workflows.ts';

const bin = new URL('./bin.js', import.meta.url).pathname;
const seeds = new URL('../test/fixtures/seeds/', import.meta.url).pathname;

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as NodeJS.ErrnoException & { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), 'adg-cli-'));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

describe('argo-daemon-guard lint', () => {
  it('admits both seed workflows under the default policy, with warnings, exit 0', async () => {
    const r = await run(['lint', join(seeds, 'redis.yaml'), join(seeds, 'influxdb.yaml')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('template mock-database: resources [warn]');
    expect(r.stdout).toContain('2 object(s) checked: 0 enforced');
  });

  it('exits 1 on a finding in enforce mode, and --json carries the findings', async () => {
    const policy = file('enforce.yaml', 'rules:\n  resources: {mode: enforce}\n');
    const r = await run(['lint', '--json', '--policy', policy, join(seeds, 'redis.yaml')]);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as { findings: { rule: string; mode: string; template: string }[] };
    expect(report.findings).toEqual([expect.objectContaining({ rule: 'resources', mode: 'enforce', template: 'mock-database' })]);
  });

  it('exits 2 naming the bad field of an invalid policy, or an unreadable file', async () => {
    const bad = await run(['lint', '--policy', file('bad.yaml', 'rules:\n  readinessProbe: {mode: block}\n'), join(seeds, 'redis.yaml')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('rules.readinessProbe.mode: must be one of enforce, warn, audit, off');
    const missing = await run(['lint', join(dir, 'nope.yaml')]);
    expect(missing.code).toBe(2);
    expect(missing.stdout).toContain('nope.yaml: cannot read (ENOENT)');
    expect((await run(['lint'])).code).toBe(2);
  });
});

describe('argo-daemon-guard explain', () => {
  const wf = 'daemon-workflow';
  const uid = 'c0ffee00-0000-4000-8000-000000000002';
  const pod = argoPod({ workflow: wf, workflowUid: uid, nodeName: `${wf}[0].start-database`, template: redisDaemon, phase: 'Running', guardLabels: true });
  const pods = file('pods.yaml', stringify({ apiVersion: 'v1', kind: 'List', items: [pod] }));
  const done = file(
    'wf.json',
    JSON.stringify(
      workflowObject({
        name: wf,
        uid,
        phase: 'Succeeded',
        startedAt: '2025-03-01T10:00:00Z',
        finishedAt: '2025-03-01T10:00:30Z',
        nodes: [
          { name: wf, type: 'Steps', phase: 'Succeeded', finishedAt: '2025-03-01T10:00:30Z' },
          { name: `${wf}[0].start-database`, type: 'Pod', phase: 'Succeeded', boundary: wf, template: 'redis', finishedAt: '2025-03-01T10:00:05Z' },
        ],
      }),
    ),
  );

  it('prints one JSON line per pod with the reaper decision, using the config for notBefore', async () => {
    const config = file('reaper.yaml', 'graceMargin: 10s\n');
    const r = await run(['explain', '--pods', pods, '--workflow', done, '--config', config, '--now', '2025-03-01T10:00:50Z', '--json']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n').map((l) => JSON.parse(l))).toEqual([
      // Scope ended 10:00:30; grace 30 s (Kubernetes' default) + margin 10 s → 10:01:10.
      { namespace: 'argo', pod: pod.metadata.name, uid: pod.metadata.uid, decision: 'wait', reason: 'boundary-fulfilled', notBefore: '2025-03-01T10:01:10Z' },
    ]);
    const later = await run(['explain', '--pods', pods, '--workflow', done, '--config', config, '--now', '2025-03-01T10:02:00Z', '--json']);
    expect(JSON.parse(later.stdout)).toMatchObject({ decision: 'reap', reason: 'boundary-fulfilled' });
  });

  it('without --workflow counts the owner as gone, from --first-seen', async () => {
    const r = await run(['explain', '--pods', pods, '--now', '2025-03-01T10:05:00Z', '--first-seen', '2025-03-01T10:04:50Z', '--json']);
    expect(JSON.parse(r.stdout)).toMatchObject({ decision: 'wait', reason: 'owner-gone', notBefore: '2025-03-01T10:05:50Z' });
  });

  it('exits 2 on bad usage or an invalid config, naming what is wrong', async () => {
    expect((await run(['explain'])).code).toBe(2);
    const bad = await run(['explain', '--pods', pods, '--config', file('bad-reaper.yaml', 'stuck: maybe\n')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('stuck: must be one of report, force');
    const time = await run(['explain', '--pods', pods, '--now', 'yesterday']);
    expect(time.code).toBe(2);
    expect(time.stderr).toContain('--now "yesterday" is not an RFC 3339 time');
  });
});
