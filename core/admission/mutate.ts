// Pod admitted → labeled: the guard's labels and annotations, the lifetime cap and the policy's
// resource defaults, as a JSON patch. The patch is the difference between the pod and the pod as it
// should be, so a second pass over its own output is empty, and nothing but the guard's keys moves.
import { createPatch, type Operation } from 'rfc6902';
import { argo, guard } from '../keys.ts';
import { integer, record, text, type Json } from '../data.ts';
import { workflowUidOf } from '../argo/pod.ts';
import { durationSeconds, type Policy } from '../policy/schema.ts';
import type { PodDaemon } from './daemon.ts';

export interface Mutation {
  patch: Operation[];
  /** What happened, for logs and metrics: labeled, skipped (not a daemon / not Argo), unknown. */
  outcome: 'labeled' | 'skipped' | 'unknown';
  reason: string;
  lifetimeCapSeconds: number | undefined;
}

/** The pod's containers that run the daemon's service (Argo names a container template's "main"). */
export function serviceContainerNames(d: Extract<PodDaemon, { kind: 'daemon' }>): string[] {
  if (d.template.body === 'containerSet') return d.template.containers.filter((c) => c.role === 'service').map((c) => c.name);
  return [argo.mainContainer];
}

/** The container with the policy's resource defaults filled in: a copy, or the container itself when none applies. */
function withResourceDefaults(container: Record<string, unknown>, p: Policy): Record<string, unknown> {
  const resources = (record(container.resources) ?? {}) as Record<string, unknown>;
  const requests = { ...(record(resources.requests) ?? {}) };
  const limits = { ...(record(resources.limits) ?? {}) };
  let changed = false;
  // A default goes only where the container sets neither a request nor a limit for that resource,
  // so a default can never push a request above the user's limit (which would make the pod invalid).
  for (const [k, v] of Object.entries(p.defaults.requests)) {
    if (!(k in requests) && !(k in limits)) ((requests[k] = v), (changed = true));
  }
  for (const [k, v] of Object.entries(p.defaults.limits)) {
    if (!(k in limits) && !(k in (record(resources.requests) ?? {}))) ((limits[k] = v), (changed = true));
  }
  if (!changed) return container;
  return {
    ...container,
    resources: {
      ...resources,
      ...(Object.keys(requests).length ? { requests } : {}),
      ...(Object.keys(limits).length ? { limits } : {}),
    },
  };
}

const own = (o: Json, k: string) => Object.hasOwn(o, k) && o[k] !== undefined;
const escapeToken = (k: string) => k.replaceAll('~', '~0').replaceAll('/', '~1');

/**
 * Exactly rfc6902's createPatch(input, output) with every path under `path`, for an `output` that
 * shares the subtrees it does not change with `input`: where both are objects it walks their keys
 * itself, as createPatch does (removals, then additions, then the common keys in order), skipping
 * identical subtrees without building a pointer for each key; anywhere else it lets createPatch diff
 * the two values. mutate.equivalence.test.ts holds it to createPatch of the whole pod.
 */
function diffShared(input: unknown, output: unknown, path: string): Operation[] {
  if (input === output) return [];
  const a = record(input);
  const b = record(output);
  if (!a || !b) return createPatch(input, output).map((op) => ({ ...op, path: path + op.path }));
  const ops: Operation[] = [];
  for (const k in a) if (own(a, k) && !own(b, k)) ops.push({ op: 'remove', path: `${path}/${escapeToken(k)}` });
  for (const k in b) if (own(b, k) && !own(a, k)) ops.push({ op: 'add', path: `${path}/${escapeToken(k)}`, value: b[k] });
  for (const k in a) if (own(a, k) && own(b, k) && a[k] !== b[k]) ops.push(...diffShared(a[k], b[k], `${path}/${escapeToken(k)}`));
  return ops;
}

export function mutatePod(pod: unknown, daemon: PodDaemon, p: Policy): Mutation {
  const none = (outcome: Mutation['outcome'], reason: string): Mutation => ({ patch: [], outcome, reason, lifetimeCapSeconds: undefined });
  if (daemon.kind === 'not-argo' || daemon.kind === 'not-daemon') return none('skipped', daemon.reason);
  if (daemon.kind === 'unknown') return none('unknown', daemon.reason);

  // The pod as it should be, sharing every part it does not change with the pod itself (copies only
  // along the changed paths). The diff short-cuts on identical references, so it walks only those
  // paths; the patch is the same as a diff against a deep copy, at a fraction of the cost.
  const source = pod as Record<string, unknown>;
  const meta = { ...record(source.metadata)! };
  const labels = { ...(record(meta.labels) ?? {}) };
  const annotations = { ...(record(meta.annotations) ?? {}) };
  labels[guard.daemonLabel] = 'true';
  const wfUid = workflowUidOf(daemon.pod);
  if (wfUid) labels[guard.workflowUidLabel] = wfUid;
  if (daemon.template.name) annotations[guard.templateAnnotation] = daemon.template.name;

  const spec = { ...(record(source.spec) ?? {}) } as Record<string, unknown>;
  const cap = durationSeconds(p.maxLifetime);
  let applied: number | undefined;
  if (cap > 0) {
    const current = integer(spec.activeDeadlineSeconds);
    applied = current !== undefined && current > 0 && current < cap ? current : cap;
    spec.activeDeadlineSeconds = applied;
    annotations[guard.lifetimeCapAnnotation] = String(cap);
  }
  const services = new Set(serviceContainerNames(daemon));
  // Copied only where a default applies, so an unchanged list stays the pod's own (and is not diffed).
  if (Array.isArray(spec.containers) && (Object.keys(p.defaults.requests).length || Object.keys(p.defaults.limits).length)) {
    let changed = false;
    const containers = spec.containers.map((c: unknown) => {
      const rc = record(c);
      const name = text(rc?.name);
      if (!rc || name === undefined || !services.has(name)) return c;
      const filled = withResourceDefaults(rc, p);
      if (filled !== rc) changed = true;
      return filled;
    });
    if (changed) spec.containers = containers;
  }
  meta.labels = labels;
  meta.annotations = annotations;
  const desired = { ...source, metadata: meta, spec };

  return {
    patch: diffShared(pod, desired, ''),
    outcome: 'labeled',
    reason: `daemon template ${daemon.template.name || '(unnamed)'} (${daemon.layout} layout)`,
    lifetimeCapSeconds: applied,
  };
}
