// Pod admitted → labeled: the guard's labels and annotations, the lifetime cap and the policy's
// resource defaults, as a JSON patch. The patch is the difference between the pod and the pod as it
// should be, so a second pass over its own output is empty, and nothing but the guard's keys moves.
import { createPatch, type Operation } from 'rfc6902';
import { argo, guard } from '../keys.ts';
import { at, integer, list, record } from '../data.ts';
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

function fillResourceDefaults(container: Record<string, unknown>, p: Policy): void {
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
  if (!changed) return;
  container.resources = {
    ...resources,
    ...(Object.keys(requests).length ? { requests } : {}),
    ...(Object.keys(limits).length ? { limits } : {}),
  };
}

export function mutatePod(pod: unknown, daemon: PodDaemon, p: Policy): Mutation {
  const none = (outcome: Mutation['outcome'], reason: string): Mutation => ({ patch: [], outcome, reason, lifetimeCapSeconds: undefined });
  if (daemon.kind === 'not-argo' || daemon.kind === 'not-daemon') return none('skipped', daemon.reason);
  if (daemon.kind === 'unknown') return none('unknown', daemon.reason);

  const desired = structuredClone(pod) as Record<string, unknown>;
  const meta = record(desired.metadata)!;
  const labels = { ...(record(meta.labels) ?? {}) };
  const annotations = { ...(record(meta.annotations) ?? {}) };
  labels[guard.daemonLabel] = 'true';
  const wfUid = workflowUidOf(daemon.pod);
  if (wfUid) labels[guard.workflowUidLabel] = wfUid;
  if (daemon.template.name) annotations[guard.templateAnnotation] = daemon.template.name;

  const spec = (record(desired.spec) ?? {}) as Record<string, unknown>;
  const cap = durationSeconds(p.maxLifetime);
  let applied: number | undefined;
  if (cap > 0) {
    const current = integer(spec.activeDeadlineSeconds);
    applied = current !== undefined && current > 0 && current < cap ? current : cap;
    spec.activeDeadlineSeconds = applied;
    annotations[guard.lifetimeCapAnnotation] = String(cap);
  }
  const services = new Set(serviceContainerNames(daemon));
  for (const c of list(spec.containers)) {
    const rc = record(c);
    if (rc && services.has(String(at(rc, 'name')))) fillResourceDefaults(rc, p);
  }
  meta.labels = labels;
  meta.annotations = annotations;
  desired.spec = spec;

  return {
    patch: createPatch(pod, desired),
    outcome: 'labeled',
    reason: `daemon template ${daemon.template.name || '(unnamed)'} (${daemon.layout} layout)`,
    lifetimeCapSeconds: applied,
  };
}
