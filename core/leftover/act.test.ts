// From a verdict and what came before, the one action: every kind, and which valve or rule leads to it.
import { describe, expect, it } from 'vitest';
import { act, afterDelete, backoffMs, dryRunCause, globalDryRun, verifyUntil, type Valves } from './act.ts';
import { reaperConfig } from './config.ts';
import { stuckAt, type Verdict } from './decide.ts';

const verdict = (decision: Verdict['decision'], extra: Partial<Verdict> = {}): Verdict => ({
  decision,
  reason: decision === 'keep' ? 'scope-live' : 'boundary-fulfilled',
  notBefore: null,
  scopeEndedAt: null,
  timeFrom: null,
  namespace: 'team-a',
  pod: 'wf-redis-1',
  uid: 'pod-uid',
  nodeId: 'wf-1',
  workflow: null,
  detail: '',
  ...extra,
});
const open: Valves = { dryRunFlag: false, circuitOpen: false, rate: { ok: true } };
const config = reaperConfig({ graceMargin: '30s' });

describe('act', () => {
  it('deletes a reap verdict when nothing holds it back', () => {
    expect(act({ verdict: verdict('reap'), config, valves: open, earlier: {} })).toEqual({ kind: 'delete' });
  });

  it('does nothing for keep and unknown, and looks again at notBefore for wait', () => {
    expect(act({ verdict: verdict('keep'), config, valves: open, earlier: {} })).toEqual({ kind: 'nothing', why: 'not-a-leftover' });
    expect(act({ verdict: verdict('unknown'), config, valves: open, earlier: {} })).toEqual({ kind: 'nothing', why: 'not-a-leftover' });
    const notBefore = new Date('2025-03-01T10:05:00Z');
    expect(act({ verdict: verdict('wait', { notBefore }), config, valves: open, earlier: {} })).toEqual({ kind: 'nothing', why: 'not-a-leftover', retryAt: notBefore.getTime() });
  });

  it.each([
    ['the --dry-run flag', { ...open, dryRunFlag: true }, config, 'flag'],
    ['dryRun in the config', open, reaperConfig({ dryRun: true }), 'config'],
    ["the pod's namespace among dryRunNamespaces", open, reaperConfig({ dryRunNamespaces: ['team-*'] }), 'namespace'],
    ['the open circuit breaker', { ...open, circuitOpen: true }, config, 'circuit-open'],
  ] as const)('only records a would-reap under %s, once', (_what, valves, cfg, cause) => {
    expect(act({ verdict: verdict('reap'), config: cfg, valves, earlier: {} })).toEqual({ kind: 'would-reap', cause });
    expect(act({ verdict: verdict('reap'), config: cfg, valves, earlier: { reportedWouldReap: true } })).toEqual({ kind: 'nothing', why: 'already-reported' });
  });

  it('dry-run wins over the rate limit: a would-reap costs no deletion slot', () => {
    expect(act({ verdict: verdict('reap'), config, valves: { dryRunFlag: true, circuitOpen: false, rate: { ok: false, retryAt: 5 } }, earlier: {} })).toEqual({ kind: 'would-reap', cause: 'flag' });
  });

  it('waits for a deletion slot when the rate limit has none', () => {
    expect(act({ verdict: verdict('reap'), config, valves: { ...open, rate: { ok: false, retryAt: 1234 } }, earlier: {} })).toEqual({ kind: 'nothing', why: 'rate-limited', retryAt: 1234 });
  });

  it('after an accepted delete: verify until grace plus margin, then report stuck, or force first with stuck: force', () => {
    const deleted = { at: Date.parse('2025-03-01T10:00:00Z'), gracePeriodSeconds: 30 };
    const v = verdict('reap');
    expect(act({ verdict: v, config, valves: open, earlier: { deleted } })).toEqual({ kind: 'verify', until: Date.parse('2025-03-01T10:01:00Z') });
    expect(act({ verdict: v, config, valves: open, earlier: { deleted, verified: 'gone' } })).toEqual({ kind: 'nothing', why: 'gone' });
    expect(act({ verdict: v, config, valves: open, earlier: { deleted, verified: 'still-present' } })).toEqual({ kind: 'report-stuck', lingerSeconds: 60 });
    const force = reaperConfig({ graceMargin: '30s', stuck: 'force' });
    expect(act({ verdict: v, config: force, valves: open, earlier: { deleted, verified: 'still-present' } })).toEqual({ kind: 'force', lingerSeconds: 60 });
    expect(act({ verdict: v, config: force, valves: open, earlier: { deleted, verified: 'still-present', forced: true } })).toEqual({ kind: 'report-stuck', lingerSeconds: 60 });
    expect(afterDelete(deleted, { verified: 'still-present' }, force)).toEqual({ kind: 'force', lingerSeconds: 60 });
  });
});

describe('the rules act decides with', () => {
  it('a deleted pod is stuck at the moment stuckAt names for its deletionTimestamp', () => {
    const deleted = { at: Date.parse('2025-03-01T10:00:00Z'), gracePeriodSeconds: 45 };
    const deletionTimestamp = deleted.at + 45_000;
    expect(verifyUntil(deleted, config)).toBe(stuckAt({ deletionTimestamp }, config)!.getTime());
  });

  it('backs off 2 s, 4 s … after failures, at most 5 minutes', () => {
    expect([1, 2, 3, 8, 9, 20].map(backoffMs)).toEqual([2000, 4000, 8000, 256_000, 256_000, 256_000]);
    expect(backoffMs(100)).toBeLessThanOrEqual(300_000);
  });

  it('the global dry-run (the gauge) is the flag, the config or the breaker, never a namespace list', () => {
    expect(globalDryRun(reaperConfig({ dryRunNamespaces: ['a'] }), { dryRunFlag: false, circuitOpen: false })).toBe(false);
    expect(globalDryRun(reaperConfig({ dryRun: true }), { dryRunFlag: false, circuitOpen: false })).toBe(true);
    expect(globalDryRun(config, { dryRunFlag: false, circuitOpen: true })).toBe(true);
    expect(dryRunCause(config, 'team-a', { dryRunFlag: false, circuitOpen: false })).toBeUndefined();
  });
});
