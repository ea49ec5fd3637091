import { describe, expect, it } from 'vitest';
import { formatFinding, matchesSelector, modeFor, verdictOf, type Scope } from './evaluate.ts';
import type { Finding } from './rules.ts';
import { ruleNames, type LabelSelector, type Mode, type Policy } from './schema.ts';
import { only, policyWith } from '../../test/fixtures/policies.ts';

const probe: Finding = { rule: 'readinessProbe', template: 'mock-database', message: 'daemon has no readinessProbe', fix: 'add a readinessProbe to the daemon container' };
const hostNet: Finding = { rule: 'hostNetwork', template: 'influxdb', message: 'daemon runs in the host network', fix: 'remove hostNetwork: true' };
const argoNs: Scope = { namespace: 'argo', labels: {} };

describe('modes: what each one does to a finding', () => {
  it('enforce → denied, with a message naming the subject, template, rule and fix', () => {
    const v = verdictOf([probe], argoNs, only('readinessProbe', 'enforce'), 'Workflow argo/daemon-workflow');
    expect(v.allowed).toBe(false);
    expect(v.message).toBe(
      'argo-daemon-guard denied Workflow argo/daemon-workflow: template mock-database: readinessProbe: daemon has no readinessProbe; fix: add a readinessProbe to the daemon container',
    );
    expect(v.warnings).toEqual([]);
    expect(v.findings).toEqual([{ ...probe, mode: 'enforce' }]);
  });

  it('enforce with two findings: the message names both', () => {
    const v = verdictOf([probe, hostNet], argoNs, policyWith((p) => ((p.rules.readinessProbe.mode = 'enforce'), (p.rules.hostNetwork.mode = 'enforce'))), 'x');
    expect(v.message).toContain('template mock-database: readinessProbe:');
    expect(v.message).toContain(' | template influxdb: hostNetwork:');
  });

  it('warn → allowed with one admission warning per finding', () => {
    const v = verdictOf([probe], argoNs, only('readinessProbe', 'warn'), 'x');
    expect(v).toEqual({
      allowed: true,
      message: '',
      warnings: ['argo-daemon-guard: template mock-database: readinessProbe: daemon has no readinessProbe; fix: add a readinessProbe to the daemon container'],
      findings: [{ ...probe, mode: 'warn' }],
    });
  });

  it('audit → allowed, no warning, the finding recorded with mode audit', () => {
    const v = verdictOf([probe], argoNs, only('readinessProbe', 'audit'), 'x');
    expect(v).toEqual({ allowed: true, message: '', warnings: [], findings: [{ ...probe, mode: 'audit' }] });
  });

  it('off → nothing at all', () => {
    expect(verdictOf([probe], argoNs, only('readinessProbe', 'off'), 'x')).toEqual({ allowed: true, message: '', warnings: [], findings: [] });
  });

  it('no finding → allowed, nothing recorded, whatever the modes', () => {
    expect(verdictOf([], argoNs, only('readinessProbe', 'enforce'), 'x')).toEqual({ allowed: true, message: '', warnings: [], findings: [] });
  });

  it('each rule is ruled by its own mode: one enforced, one warned', () => {
    const v = verdictOf([probe, hostNet], argoNs, policyWith((p) => (p.rules.hostNetwork.mode = 'enforce')), 'x');
    expect(v.allowed).toBe(false);
    expect(v.message).toContain('hostNetwork');
    expect(v.message).not.toContain('readinessProbe');
    expect(v.warnings).toHaveLength(1);
    expect(v.warnings[0]).toContain('readinessProbe');
  });

  it('formatFinding: template, rule, message, fix', () => {
    expect(formatFinding(hostNet)).toBe('template influxdb: hostNetwork: daemon runs in the host network; fix: remove hostNetwork: true');
  });
});

describe('per-namespace overrides', () => {
  const p = policyWith((p) => {
    p.rules.readinessProbe.mode = 'enforce';
    p.namespaces = [
      { names: ['sandbox'], mode: 'audit' },
      { names: ['team-*'], rules: { readinessProbe: 'warn' } },
      { names: ['prod-*', 'payments'], mode: 'enforce', rules: { hostNetwork: 'off' } },
      { names: ['team-a'], mode: 'off' },
    ];
  });
  const table: [string, 'readinessProbe' | 'hostNetwork' | 'privileged', Mode][] = [
    ['argo', 'readinessProbe', 'enforce'],
    ['sandbox', 'readinessProbe', 'audit'],
    ['sandbox', 'hostNetwork', 'audit'],
    ['sandbox-2', 'readinessProbe', 'enforce'],
    ['team-b', 'readinessProbe', 'warn'],
    ['team-b', 'hostNetwork', 'warn'],
    ['team-a', 'readinessProbe', 'warn'],
    ['team', 'readinessProbe', 'enforce'],
    ['prod-eu', 'privileged', 'enforce'],
    ['prod-eu', 'hostNetwork', 'off'],
    ['payments', 'privileged', 'enforce'],
    ['payments-dev', 'privileged', 'warn'],
  ];
  for (const [namespace, rule, mode] of table) {
    it(`namespace ${namespace}, rule ${rule} → ${mode}`, () => expect(modeFor(rule, { namespace, labels: {} }, p)).toBe(mode));
  }

  it('an exact name matches only itself; prefix* matches every namespace starting with the prefix', () => {
    expect(modeFor('readinessProbe', { namespace: 'sandbox', labels: {} }, p)).toBe('audit');
    expect(modeFor('readinessProbe', { namespace: 'sandboxes', labels: {} }, p)).toBe('enforce');
  });

  it('an override to enforce in one namespace denies there and only warns elsewhere', () => {
    const q = policyWith((q) => (q.namespaces = [{ names: ['prod'], rules: { readinessProbe: 'enforce' } }]));
    expect(verdictOf([probe], { namespace: 'prod', labels: {} }, q, 'x').allowed).toBe(false);
    expect(verdictOf([probe], { namespace: 'dev', labels: {} }, q, 'x')).toMatchObject({ allowed: true, warnings: [expect.any(String)] });
  });
});

describe('exemptions (only in the policy file)', () => {
  const enforced = (exemptions: Policy['exemptions']) => policyWith((p) => {
    for (const r of ruleNames) (p.rules[r] as { mode: Mode }).mode = 'enforce';
    p.exemptions = exemptions;
  });

  it('an exempt namespace turns every rule off there', () => {
    const p = enforced([{ namespaces: ['argo-system', 'ci-*'] }]);
    for (const r of ruleNames) {
      expect(modeFor(r, { namespace: 'argo-system', labels: {} }, p)).toBe('off');
      expect(modeFor(r, { namespace: 'ci-nightly', labels: {} }, p)).toBe('off');
      expect(modeFor(r, { namespace: 'argo', labels: {} }, p)).toBe('enforce');
    }
    expect(verdictOf([probe, hostNet], { namespace: 'argo-system', labels: {} }, p, 'x')).toEqual({ allowed: true, message: '', warnings: [], findings: [] });
  });

  it('an exemption with a rule list exempts only those rules', () => {
    const p = enforced([{ namespaces: ['infra'], rules: ['hostNetwork', 'privileged'] }]);
    expect(modeFor('hostNetwork', { namespace: 'infra', labels: {} }, p)).toBe('off');
    expect(modeFor('privileged', { namespace: 'infra', labels: {} }, p)).toBe('off');
    expect(modeFor('readinessProbe', { namespace: 'infra', labels: {} }, p)).toBe('enforce');
    const v = verdictOf([probe, hostNet], { namespace: 'infra', labels: {} }, p, 'x');
    expect(v.findings.map((f) => f.rule)).toEqual(['readinessProbe']);
  });

  it('a selector exemption with matchLabels applies only to objects with those labels', () => {
    const p = enforced([{ selector: { matchLabels: { team: 'platform' } } }]);
    expect(modeFor('hostPath', { namespace: 'argo', labels: { team: 'platform', app: 'x' } }, p)).toBe('off');
    expect(modeFor('hostPath', { namespace: 'argo', labels: { team: 'payments' } }, p)).toBe('enforce');
    expect(modeFor('hostPath', { namespace: 'argo', labels: {} }, p)).toBe('enforce');
  });

  it('namespace and selector together: both must match', () => {
    const p = enforced([{ namespaces: ['infra'], selector: { matchLabels: { team: 'platform' } } }]);
    expect(modeFor('privileged', { namespace: 'infra', labels: { team: 'platform' } }, p)).toBe('off');
    expect(modeFor('privileged', { namespace: 'infra', labels: {} }, p)).toBe('enforce');
    expect(modeFor('privileged', { namespace: 'argo', labels: { team: 'platform' } }, p)).toBe('enforce');
  });

  it('an exemption wins over a namespace override', () => {
    const p = enforced([{ namespaces: ['prod'], rules: ['readinessProbe'] }]);
    p.namespaces = [{ names: ['prod'], mode: 'enforce' }];
    expect(modeFor('readinessProbe', { namespace: 'prod', labels: {} }, p)).toBe('off');
  });

  it('an exemption that names only rules (no namespace, no selector) exempts nobody', () => {
    const p = enforced([{ rules: ['readinessProbe'] }]);
    expect(modeFor('readinessProbe', { namespace: 'argo', labels: {} }, p)).toBe('enforce');
  });

  it('a user annotation or label cannot opt out: only the policy\'s selectors count', () => {
    const p = enforced([]);
    const labels = { 'argo-daemon-guard.io/exempt': 'true', 'argo-daemon-guard.io/daemon': 'false' };
    expect(modeFor('readinessProbe', { namespace: 'argo', labels }, p)).toBe('enforce');
  });
});

describe('matchesSelector: Kubernetes label selector semantics', () => {
  const labels = { team: 'platform', tier: 'infra' };
  const table: [string, LabelSelector, boolean][] = [
    ['empty selector matches everything', {}, true],
    ['matchLabels equal', { matchLabels: { team: 'platform' } }, true],
    ['matchLabels different value', { matchLabels: { team: 'payments' } }, false],
    ['matchLabels missing key', { matchLabels: { owner: 'x' } }, false],
    ['In, value listed', { matchExpressions: [{ key: 'tier', operator: 'In', values: ['infra', 'db'] }] }, true],
    ['In, value not listed', { matchExpressions: [{ key: 'tier', operator: 'In', values: ['db'] }] }, false],
    ['In, key absent', { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] }, false],
    ['NotIn, value listed', { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['infra'] }] }, false],
    ['NotIn, value not listed', { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['db'] }] }, true],
    ['NotIn, key absent (matches, as in Kubernetes)', { matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] }, true],
    ['Exists, present', { matchExpressions: [{ key: 'team', operator: 'Exists' }] }, true],
    ['Exists, absent', { matchExpressions: [{ key: 'zone', operator: 'Exists' }] }, false],
    ['DoesNotExist, absent', { matchExpressions: [{ key: 'zone', operator: 'DoesNotExist' }] }, true],
    ['DoesNotExist, present', { matchExpressions: [{ key: 'team', operator: 'DoesNotExist' }] }, false],
    ['matchLabels and matchExpressions are ANDed', { matchLabels: { team: 'platform' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['db'] }] }, false],
  ];
  for (const [what, selector, result] of table) {
    it(`${what} → ${result}`, () => expect(matchesSelector(selector, labels)).toBe(result));
  }

  it('a selector exemption with matchExpressions exempts matching objects', () => {
    const p = policyWith((p) => {
      p.rules.hostNetwork.mode = 'enforce';
      p.exemptions = [{ selector: { matchExpressions: [{ key: 'tier', operator: 'In', values: ['infra'] }] } }];
    });
    expect(verdictOf([hostNet], { namespace: 'argo', labels }, p, 'x').findings).toEqual([]);
    expect(verdictOf([hostNet], { namespace: 'argo', labels: { tier: 'app' } }, p, 'x').allowed).toBe(false);
  });
});
