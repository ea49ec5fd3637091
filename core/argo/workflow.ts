// The templates inside Workflow, WorkflowTemplate, ClusterWorkflowTemplate and CronWorkflow objects:
// the daemon templates the policy checks at submission, and how many daemons a run starts.
import { argo } from '../keys.ts';
import { at, bool, integer, list, preview, record, text } from '../data.ts';
import { hostPathVolumes, templateView, type Parsed, type TemplateView } from './template.ts';

export type WorkflowKind = (typeof argo.kinds)[keyof typeof argo.kinds];

export interface DaemonInvocations {
  /** Daemon pods a run starts, counted statically; loops over literal lists count their length. */
  count: number;
  /** Loops whose length is only known at run time (withParam, templated withSequence) count once. */
  atLeast: boolean;
}

export interface WorkflowObjectView {
  kind: WorkflowKind;
  name: string;
  namespace: string;
  labels: Record<string, string>;
  templates: TemplateView[];
  /** Workflow-level settings every pod inherits. */
  hostNetwork: boolean;
  hostPathVolumes: string[];
  daemons: DaemonInvocations;
  /** Templates that live in another object (templateRef, workflowTemplateRef): checked on the pod. */
  unresolved: string[];
}

const kindList: readonly string[] = Object.values(argo.kinds);

/** Inline templates nested deeper than this are not read (far beyond any real workflow). */
export const maxInlineDepth = 64;

export function isWorkflowKind(kind: unknown): kind is WorkflowKind {
  return typeof kind === 'string' && kindList.includes(kind);
}

function specOf(kind: WorkflowKind, obj: unknown): unknown {
  return kind === argo.kinds.cronWorkflow ? at(obj, 'spec', 'workflowSpec') : at(obj, 'spec');
}

interface Invocation {
  /** The template invoked, when it can be found in this object. */
  template: TemplateView | undefined;
  label: string;
  multiplier: number;
  dynamic: boolean;
}

function loopSize(step: unknown): { multiplier: number; dynamic: boolean } {
  const items = at(step, 'withItems');
  if (Array.isArray(items)) return { multiplier: items.length, dynamic: false };
  const seq = record(at(step, 'withSequence'));
  if (seq) {
    const count = Number(text(seq.count) ?? integer(seq.count));
    if (Number.isSafeInteger(count)) return { multiplier: count, dynamic: false };
    const start = Number(text(seq.start) ?? integer(seq.start) ?? 0);
    const end = Number(text(seq.end) ?? integer(seq.end));
    if (Number.isSafeInteger(start) && Number.isSafeInteger(end)) return { multiplier: Math.abs(end - start) + 1, dynamic: false };
    return { multiplier: 1, dynamic: true };
  }
  if (at(step, 'withParam') !== undefined) return { multiplier: 1, dynamic: true };
  return { multiplier: 1, dynamic: false };
}

export function readWorkflowObject(obj: unknown): Parsed<WorkflowObjectView> {
  const kind = at(obj, 'kind');
  if (!isWorkflowKind(kind)) return { ok: false, reason: `kind ${preview(kind)} is not one of ${kindList.join(', ')}` };
  const meta = record(at(obj, 'metadata'));
  const name = text(meta?.name) || text(meta?.generateName) || '';
  const spec = specOf(kind, obj);
  if (!record(spec)) return { ok: false, reason: `${kind} ${name || '(unnamed)'} has no ${kind === argo.kinds.cronWorkflow ? 'spec.workflowSpec' : 'spec'}` };

  const byName = new Map<string, TemplateView>();
  const templates: TemplateView[] = [];
  for (const raw of list(at(spec, 'templates'))) {
    const view = templateView(raw);
    templates.push(view);
    if (view.name) byName.set(view.name, view);
  }

  const unresolved: string[] = [];
  const ownRef = (ref: unknown): TemplateView | undefined => {
    const refName = text(at(ref, 'name'));
    const refTemplate = text(at(ref, 'template')) ?? '';
    const clusterScope = bool(at(ref, 'clusterScope'));
    const selfScoped = clusterScope === (kind === argo.kinds.clusterWorkflowTemplate);
    const isSelf = (kind === argo.kinds.workflowTemplate || kind === argo.kinds.clusterWorkflowTemplate) && refName === text(meta?.name) && selfScoped;
    if (isSelf) return byName.get(refTemplate);
    unresolved.push(`templateRef ${clusterScope ? 'cluster ' : ''}${refName ?? '?'}/${refTemplate}`);
    return undefined;
  };

  // Steps, DAG tasks and inline templates; each invocation site runs its template once per loop item.
  const invocations: Invocation[] = [];
  // Inline templates may hold steps with inline templates of their own; past a sane depth the object
  // is not read further (and not checked) instead of running the stack out.
  let tooDeep = false;
  const visit = (stepLike: unknown, owner: string, depth: number) => {
    const inline = record(at(stepLike, 'inline'));
    let template: TemplateView | undefined;
    if (inline) {
      template = templateView({ name: `${owner}/${text(at(stepLike, 'name')) ?? 'inline'}`, ...inline });
      templates.push(template);
      if (depth >= maxInlineDepth) tooDeep = true;
      else walk(inline, template.name, depth + 1);
    } else if (record(at(stepLike, 'templateRef'))) template = ownRef(at(stepLike, 'templateRef'));
    else template = byName.get(text(at(stepLike, 'template')) ?? '');
    invocations.push({ template, label: text(at(stepLike, 'name')) ?? '', ...loopSize(stepLike) });
  };
  const walk = (raw: unknown, owner: string, depth: number) => {
    for (const group of list(at(raw, 'steps'))) for (const step of list(group)) visit(step, owner, depth);
    for (const task of list(at(raw, 'dag', 'tasks'))) visit(task, owner, depth);
  };
  for (const raw of list(at(spec, 'templates'))) walk(raw, text(at(raw, 'name')) ?? '', 0);
  if (tooDeep) return { ok: false, reason: `${kind} ${name || '(unnamed)'} nests inline templates more than ${maxInlineDepth} deep` };

  const entrypoint = text(at(spec, 'entrypoint'));
  if (entrypoint && byName.get(entrypoint)?.daemon) invocations.push({ template: byName.get(entrypoint), label: entrypoint, multiplier: 1, dynamic: false });
  if (record(at(spec, 'workflowTemplateRef'))) unresolved.push(`workflowTemplateRef ${text(at(spec, 'workflowTemplateRef', 'name')) ?? '?'}`);

  const daemonSites = invocations.filter((i) => i.template?.daemon);
  return {
    ok: true,
    value: {
      kind,
      name,
      namespace: text(meta?.namespace) ?? '',
      labels: Object.fromEntries(Object.entries(record(meta?.labels) ?? {}).filter((e): e is [string, string] => typeof e[1] === 'string')),
      templates,
      hostNetwork: bool(at(spec, 'hostNetwork')),
      hostPathVolumes: hostPathVolumes(at(spec, 'volumes')),
      daemons: { count: daemonSites.reduce((n, i) => n + i.multiplier, 0), atLeast: daemonSites.some((i) => i.dynamic) },
      unresolved,
    },
  };
}
