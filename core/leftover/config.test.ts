import { describe, expect, it } from 'vitest';
import { defaultReaperConfig, isDryRun, parseReaperConfig, reaperConfigSchema, ReaperConfigError, watchesNamespace } from './config.ts';

function problems(yaml: string): string[] {
  try {
    parseReaperConfig('reaper.yaml', yaml);
  } catch (err) {
    expect(err).toBeInstanceOf(ReaperConfigError);
    expect((err as Error).message).toContain('reaper config reaper.yaml is invalid');
    return (err as ReaperConfigError).problems;
  }
  throw new Error('expected an error');
}

describe('reaper config', () => {
  it('an empty file is the defaults', () => {
    for (const text of ['', '{}', '# nothing\n']) expect(parseReaperConfig('f', text)).toEqual(defaultReaperConfig);
    expect(defaultReaperConfig).toEqual({
      dryRun: false,
      dryRunNamespaces: [],
      namespaces: [],
      instanceId: undefined,
      graceMarginSeconds: 30,
      nodeMissingGraceSeconds: 300,
      nodeMissing: 'report',
      rateLimit: { perMinute: 60 },
      circuitBreaker: { maxReaps: 100, windowSeconds: 600 },
      stuck: 'report',
      resyncSeconds: 600,
    });
  });

  it('reads every field, durations as text or seconds', () => {
    const c = parseReaperConfig(
      'f',
      [
        'dryRun: true',
        'dryRunNamespaces: [staging, "team-*"]',
        'namespaces: [argo, team-a]',
        'instanceId: ci',
        'graceMargin: 1m30s',
        'nodeMissingGrace: 600',
        'nodeMissing: reap',
        'rateLimit: {perMinute: 10}',
        'circuitBreaker: {maxReaps: 5, window: 1h}',
        'stuck: force',
        'resync: 2m',
      ].join('\n'),
    );
    expect(c).toEqual({
      dryRun: true,
      dryRunNamespaces: ['staging', 'team-*'],
      namespaces: ['argo', 'team-a'],
      instanceId: 'ci',
      graceMarginSeconds: 90,
      nodeMissingGraceSeconds: 600,
      nodeMissing: 'reap',
      rateLimit: { perMinute: 10 },
      circuitBreaker: { maxReaps: 5, windowSeconds: 3600 },
      stuck: 'force',
      resyncSeconds: 120,
    });
  });

  it('partial nested objects keep the other defaults', () => {
    expect(parseReaperConfig('f', 'circuitBreaker: {maxReaps: 7}').circuitBreaker).toEqual({ maxReaps: 7, windowSeconds: 600 });
    expect(parseReaperConfig('f', 'instanceId: null').instanceId).toBeUndefined();
  });

  it.each([
    ['dryrun: true', 'dryrun: unknown field'],
    ['rateLimit: {perMinute: 0}', 'rateLimit.perMinute: must be >= 1'],
    ['rateLimit: {perSecond: 1}', 'rateLimit.perSecond: unknown field'],
    ['graceMargin: 30 seconds', 'graceMargin: must be a duration like "30s", "5m", "1h30m" or a number of seconds'],
    ['circuitBreaker: {window: 0}', 'circuitBreaker.window: must be >= 1'],
    ['stuck: delete', 'stuck: must be one of report, force'],
    ['nodeMissing: ignore', 'nodeMissing: must be one of report, reap'],
    ['namespaces: [Argo]', 'namespaces.0: must match pattern'],
    ['dryRun: yes please', 'dryRun: must be boolean'],
    ['instanceId: ""', 'instanceId: must NOT have fewer than 1 characters'],
  ])('%s → an error naming the field', (yaml, problem) => {
    expect(problems(yaml).join('\n')).toContain(problem);
  });

  it('lists every problem at once', () => {
    expect(problems('dryRun: 1\nstuck: x\nfoo: 1')).toHaveLength(3);
  });

  it('refuses text that is not YAML', () => {
    expect(problems('a: [1, 2')[0]).toMatch(/^not YAML/);
  });

  it('documents every field in the schema', () => {
    const walk = (props: Record<string, { description?: string; properties?: Record<string, unknown> }>, path: string) => {
      for (const [k, v] of Object.entries(props)) {
        expect(v.description, `${path}${k}`).toBeTruthy();
        if (v.properties) walk(v.properties as never, `${path}${k}.`);
      }
    };
    walk(reaperConfigSchema.properties as never, '');
  });

  it('dry-run globally or per namespace; watch scope empty = all', () => {
    const c = parseReaperConfig('f', 'dryRunNamespaces: [staging, "team-*"]\nnamespaces: [argo, "team-*"]');
    expect(isDryRun(c, 'staging')).toBe(true);
    expect(isDryRun(c, 'team-x')).toBe(true);
    expect(isDryRun(c, 'argo')).toBe(false);
    expect(isDryRun({ ...c, dryRun: true }, 'argo')).toBe(true);
    expect(watchesNamespace(c, 'argo')).toBe(true);
    expect(watchesNamespace(c, 'team-b')).toBe(true);
    expect(watchesNamespace(c, 'default')).toBe(false);
    expect(watchesNamespace(defaultReaperConfig, 'anything')).toBe(true);
  });
});
