// Findings × modes × namespace overrides × exemptions → one verdict: deny, warn, audit.
import { namespaceMatches } from '../config-file.ts';
import type { Finding } from './rules.ts';
import type { LabelSelector, Mode, Policy, RuleName } from './schema.ts';

export interface Scope {
  namespace: string;
  labels: Record<string, string>;
}

export interface RuledFinding extends Finding {
  mode: Exclude<Mode, 'off'>;
}

export interface Verdict {
  allowed: boolean;
  /** The denial message, naming every enforced finding; empty when allowed. */
  message: string;
  warnings: string[];
  findings: RuledFinding[];
}

export function matchesSelector(selector: LabelSelector, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = e.key in labels;
    const value = labels[e.key];
    const values = e.values ?? [];
    const ok =
      e.operator === 'Exists' ? has
      : e.operator === 'DoesNotExist' ? !has
      : e.operator === 'In' ? has && values.includes(value!)
      : !has || !values.includes(value!);
    if (!ok) return false;
  }
  return true;
}


/** The mode a rule runs in for this namespace and these labels: exemption, then override, then rule. */
export function modeFor(rule: RuleName, scope: Scope, p: Policy): Mode {
  for (const ex of p.exemptions) {
    if (ex.rules && !ex.rules.includes(rule)) continue;
    if (ex.namespaces && !namespaceMatches(ex.namespaces, scope.namespace)) continue;
    if (ex.selector && !matchesSelector(ex.selector, scope.labels)) continue;
    if (!ex.namespaces && !ex.selector) continue;
    return 'off';
  }
  const override = p.namespaces.find((o) => namespaceMatches(o.names, scope.namespace));
  return override?.rules?.[rule] ?? override?.mode ?? p.rules[rule].mode;
}

export function formatFinding(f: Finding): string {
  return `template ${f.template}: ${f.rule}: ${f.message}; fix: ${f.fix}`;
}

export function verdictOf(findings: Finding[], scope: Scope, p: Policy, subject: string): Verdict {
  const ruled: RuledFinding[] = [];
  for (const f of findings) {
    const mode = modeFor(f.rule, scope, p);
    if (mode !== 'off') ruled.push({ ...f, mode });
  }
  const denied = ruled.filter((f) => f.mode === 'enforce');
  return {
    allowed: denied.length === 0,
    message: denied.length ? `argo-daemon-guard denied ${subject}: ${denied.map(formatFinding).join(' | ')}` : '',
    warnings: ruled.filter((f) => f.mode === 'warn').map((f) => `argo-daemon-guard: ${formatFinding(f)}`),
    findings: ruled,
  };
}
