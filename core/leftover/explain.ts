// `argo-daemon-guard explain`, the pure part: pods (and the Workflows they belong to) as read from
// files → the reaper's decision for every pod, as JSON lines (one stable shape scripts can parse) and as text. The CLI reads
// the files, parses the YAML/JSON documents and prints; nothing here reads a file or the clock.
import { flattenDocuments, record } from '../data.ts';
import { readWorkflow, type WorkflowState } from '../argo/status.ts';
import { isDryRun, type ReaperConfig } from './config.ts';
import { decide, type Verdict } from './decide.ts';
import { readPod } from './pod.ts';
import { describeReason, type Decision, type Reason } from './reasons.ts';

export interface ExplainInput {
  /** Parsed documents from --pods: a Pod, a List of Pods (kubectl get pods -o yaml), or an array of either. */
  pods: unknown;
  /**
   * Parsed documents from --workflow (kubectl get wf NAME -o yaml, or a List): the Workflows that exist.
   * A pod whose Workflow is not among them counts as having lost its owner. Undefined: none exist.
   */
  workflows?: unknown;
  config: ReaperConfig;
  now: Date;
  /** When the reaper would first have seen each state (owner gone, node missing, ...); default now. */
  firstSeen?: Date;
}

/** One line of `explain --json`, keys in this order: scripts and tests read them by name and position. */
export interface ExplainLine {
  namespace: string;
  pod: string;
  uid: string;
  decision: Decision;
  reason: Reason;
  /** RFC 3339 UTC, or null. */
  notBefore: string | null;
}

export interface Explanation {
  lines: ExplainLine[];
  verdicts: Verdict[];
  /** Inputs that were skipped (not a Pod, not a readable Workflow): the CLI reports them. */
  problems: string[];
}

/** RFC 3339 in UTC; whole seconds are printed without a fraction. */
export function rfc3339(date: Date): string {
  const s = date.toISOString();
  return s.endsWith('.000Z') ? `${s.slice(0, -5)}Z` : s;
}

export function explain(input: ExplainInput): Explanation {
  const problems: string[] = [];
  const workflows: WorkflowState[] = [];
  for (const [i, doc] of flattenDocuments(input.workflows).entries()) {
    const wf = readWorkflow(doc);
    if (wf.ok) workflows.push(wf.value);
    else problems.push(`workflow document ${i + 1}: ${wf.reason}`);
  }
  const firstSeen = input.firstSeen ?? input.now;
  const verdicts: Verdict[] = [];
  for (const [i, doc] of flattenDocuments(input.pods).entries()) {
    const kind = record(doc)?.kind;
    if (!record(doc) || (kind !== undefined && kind !== 'Pod')) {
      problems.push(`pod document ${i + 1}: ${record(doc) ? `kind ${JSON.stringify(kind)} is not Pod` : 'not an object'}`);
      continue;
    }
    const pod = readPod(doc);
    const workflow = workflows.find((w) => w.name === pod.workflowName && (w.namespace === pod.namespace || !w.namespace || !pod.namespace));
    verdicts.push(decide({ pod, workflow, now: input.now, firstSeen, config: input.config }));
  }
  const lines = verdicts.map(
    (v): ExplainLine => ({
      namespace: v.namespace,
      pod: v.pod,
      uid: v.uid,
      decision: v.decision,
      reason: v.reason,
      notBefore: v.notBefore ? rfc3339(v.notBefore) : null,
    }),
  );
  return { lines, verdicts, problems };
}

/** `explain --json`: one JSON object per pod, one per line. */
export function explainJson(ex: Explanation): string {
  return ex.lines.map((l) => JSON.stringify(l)).join('\n') + (ex.lines.length ? '\n' : '');
}

/** `explain` for people: one row per pod, then what was seen and what the reason means. */
export function explainText(ex: Explanation, config: ReaperConfig): string {
  if (ex.verdicts.length === 0) return 'no pods\n';
  const header = ['NAMESPACE', 'POD', 'DECISION', 'REASON', 'NOT BEFORE'];
  const rows = ex.verdicts.map((v, i) => {
    const dry = v.decision === 'reap' && isDryRun(config, v.namespace) ? ' (dry-run)' : '';
    return [v.namespace || '-', v.pod || '-', v.decision + dry, v.reason, ex.lines[i]!.notBefore ?? '-'];
  });
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const fmt = (cells: string[]) => cells.map((cell, c) => (c === cells.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ');
  const out = [fmt(header)];
  ex.verdicts.forEach((v, i) => {
    out.push(fmt(rows[i]!));
    out.push(`    ${v.detail}`);
    out.push(`    ${v.reason}: ${describeReason(v.reason)}`);
  });
  return out.join('\n') + '\n';
}
