// `argo-daemon-guard lint`: the validating webhook's submission check, offline, over files on disk.
import { readFileSync } from 'node:fs';
import { at, flattenDocuments } from '../core/data.ts';
import { isWorkflowKind } from '../core/argo/workflow.ts';
import { validateWorkflowObject } from '../core/admission/validate.ts';
import { defaultPolicy, parsePolicy, PolicyError, type Policy } from '../core/policy/schema.ts';
import { commandArgs, usageError, type Command } from '../runtime/command.ts';
import { readDocuments } from './documents.ts';

const help = `usage: argo-daemon-guard lint [--policy FILE] [--namespace NS] [--json] FILE...

Checks the daemon templates in Workflow, WorkflowTemplate, ClusterWorkflowTemplate and CronWorkflow
manifests (YAML or JSON, multi-document, or a List) against the daemon policy, offline, with the
same rules the validating webhook applies at submission.

  --policy FILE     the policy file (default: the built-in default policy: every rule warns)
  --namespace NS    namespace for per-namespace modes when a manifest names none (default: default)
  --json            print one JSON document instead of text

Exit codes: 0 clean or warnings/audit findings only; 1 a finding in enforce mode; 2 bad usage,
an unreadable file or an invalid policy.`;

export interface LintFinding {
  file: string;
  document: number;
  kind: string;
  name: string;
  namespace: string;
  template: string;
  rule: string;
  mode: string;
  message: string;
  fix: string;
}

export interface LintReport {
  findings: LintFinding[];
  checked: { file: string; document: number; kind: string; name: string }[];
  skipped: { file: string; document: number; reason: string }[];
  errors: string[];
}

export function lintDocuments(file: string, documents: unknown[], policy: Policy, defaultNamespace: string, report: LintReport): void {
  flattenDocuments(documents).forEach((doc, i) => {
    const kind = at(doc, 'kind');
    if (!isWorkflowKind(kind)) {
      report.skipped.push({ file, document: i, reason: `kind ${String(kind)} has no daemon templates to check` });
      return;
    }
    const namespace = String(at(doc, 'metadata', 'namespace') ?? defaultNamespace);
    const v = validateWorkflowObject(doc, namespace, policy);
    const name = String(at(doc, 'metadata', 'name') ?? at(doc, 'metadata', 'generateName') ?? '(unnamed)');
    if (v.unknown) {
      report.errors.push(`${file}#${i}: ${v.subject}: ${v.unknown}`);
      return;
    }
    report.checked.push({ file, document: i, kind, name });
    for (const f of v.findings) report.findings.push({ file, document: i, kind, name, namespace, template: f.template, rule: f.rule, mode: f.mode, message: f.message, fix: f.fix });
  });
}

function renderText(r: LintReport): string {
  const lines = r.findings.map((f) => `${f.file}: ${f.kind} ${f.name}: template ${f.template}: ${f.rule} [${f.mode}]: ${f.message}; fix: ${f.fix}`);
  lines.push(...r.errors.map((e) => `error: ${e}`));
  const count = (m: string) => r.findings.filter((f) => f.mode === m).length;
  lines.push(`${r.checked.length} object(s) checked: ${count('enforce')} enforced, ${count('warn')} warnings, ${count('audit')} audit findings${r.errors.length ? `, ${r.errors.length} error(s)` : ''}`);
  return lines.join('\n');
}

export const lintCommand: Command = {
  summary: 'check workflow manifests against the daemon policy, offline',
  async run(argv) {
    const args = commandArgs('lint', argv, { policy: { type: 'string' }, namespace: { type: 'string' }, json: { type: 'boolean' } }, help);
    if (!args.ok) return args.exitCode;
    if (args.positionals.length === 0) return usageError('lint', 'name at least one manifest file', help);
    let policy = defaultPolicy;
    if (args.values.policy) {
      try {
        policy = parsePolicy(args.values.policy, readFileSync(args.values.policy, 'utf8'));
      } catch (err) {
        const msg = err instanceof PolicyError ? err.message : `cannot read policy ${args.values.policy}: ${(err as Error).message}`;
        process.stderr.write(`lint: ${msg}\n`);
        return 2;
      }
    }
    const report: LintReport = { findings: [], checked: [], skipped: [], errors: [] };
    for (const file of args.positionals) {
      try {
        lintDocuments(file, readDocuments(file), policy, args.values.namespace ?? 'default', report);
      } catch (err) {
        report.errors.push((err as Error).message);
      }
    }
    process.stdout.write((args.values.json ? JSON.stringify(report, null, 2) : renderText(report)) + '\n');
    if (report.errors.length) return 2;
    return report.findings.some((f) => f.mode === 'enforce') ? 1 : 0;
  },
};
