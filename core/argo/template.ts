// An Argo template (from ARGO_TEMPLATE or from a Workflow-like object) reduced to what the policy reads.
import { argo } from '../keys.ts';
import { at, bool, integer, list, record, text, type Json } from '../data.ts';

export type ContainerRole = 'service' | 'sidecar' | 'init';

export interface ContainerView {
  name: string;
  role: ContainerRole;
  image: string | undefined;
  hasReadinessProbe: boolean;
  requests: Record<string, string>;
  limits: Record<string, string>;
  privileged: boolean;
}

export interface TemplateView {
  name: string;
  daemon: boolean;
  /** What kind of template runs the service: container, script or containerSet (others run no pod). */
  body: 'container' | 'script' | 'containerSet' | 'none';
  containers: ContainerView[];
  hostPathVolumes: string[];
  /** Literal seconds, when the template sets a number; expressions cannot be known before run time. */
  activeDeadlineSeconds: number | undefined;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

export function containerView(raw: unknown, role: ContainerRole, fallbackName: string): ContainerView {
  const c = record(raw);
  const resources = record(c?.resources);
  return {
    name: text(c?.name) || fallbackName,
    role,
    image: text(c?.image),
    hasReadinessProbe: record(c?.readinessProbe) !== undefined,
    requests: quantities(resources?.requests),
    limits: quantities(resources?.limits),
    privileged: bool(at(c?.securityContext, 'privileged')),
  };
}

/** Quantities may arrive as numbers (`cpu: 1`); the policy compares presence, so keep them as text. */
function quantities(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  const r = record(value);
  if (!r) return out;
  for (const k of Object.keys(r)) {
    const v = r[k];
    if (typeof v === 'string') out[k] = v;
    else if (typeof v === 'number') out[k] = String(v);
  }
  return out;
}

export function hostPathVolumes(volumes: unknown): string[] {
  return list(volumes)
    .filter((v) => record(at(v, 'hostPath')) !== undefined)
    .map((v) => `${text(at(v, 'name')) ?? '?'}:${text(at(v, 'hostPath', 'path')) ?? '?'}`);
}

function deadline(value: unknown): number | undefined {
  const n = integer(value);
  if (n !== undefined) return n;
  const s = text(value);
  return s !== undefined && /^\d+$/.test(s) ? Number(s) : undefined;
}

/** Never throws: anything that is not an object yields a template with no name and no body. */
export function templateView(raw: unknown): TemplateView {
  const t = record(raw);
  const containers: ContainerView[] = [];
  let body: TemplateView['body'] = 'none';
  let service: Json | undefined;
  if ((service = record(t?.container))) {
    body = 'container';
    containers.push(containerView(service, 'service', 'main'));
  } else if ((service = record(t?.script))) {
    body = 'script';
    containers.push(containerView(service, 'service', 'main'));
  } else if ((service = record(t?.containerSet))) {
    body = 'containerSet';
    for (const c of list(service.containers)) containers.push(containerView(c, 'service', 'main'));
  }
  for (const c of list(t?.sidecars)) containers.push(containerView(c, 'sidecar', 'sidecar'));
  for (const c of list(t?.initContainers)) containers.push(containerView(c, 'init', 'init'));
  return {
    name: text(t?.name) ?? '',
    daemon: bool(t?.daemon),
    body,
    containers,
    hostPathVolumes: hostPathVolumes(t?.volumes),
    activeDeadlineSeconds: deadline(t?.activeDeadlineSeconds),
  };
}

/**
 * Templates recently read from ARGO_TEMPLATE, by their text. The API server sends each pod to the
 * mutating webhook and then, env unchanged, to the validating one, and the pods of a loop carry the
 * same text: reading it again is the costliest part of a pod's admission. Least recently used out;
 * only templates up to `maxCachedChars` are kept, so the cache holds at most a few MB of text. The views
 * are frozen: every reader shares them.
 */
const recentTemplates = new Map<string, Parsed<TemplateView>>();
const maxCachedTemplates = 64;
const maxCachedChars = 64 * 1024;

function frozen(view: TemplateView): TemplateView {
  for (const c of view.containers) {
    Object.freeze(c.requests);
    Object.freeze(c.limits);
    Object.freeze(c);
  }
  Object.freeze(view.containers);
  Object.freeze(view.hostPathVolumes);
  return Object.freeze(view);
}

/** ARGO_TEMPLATE text → template; malformed JSON is a reason, not an exception. */
export function parseTemplateJson(json: string): Parsed<TemplateView> {
  const hit = recentTemplates.get(json);
  if (hit) {
    recentTemplates.delete(json);
    recentTemplates.set(json, hit);
    return hit;
  }
  const parsed = parseTemplateText(json);
  if (parsed.ok && json.length <= maxCachedChars) {
    const entry: Parsed<TemplateView> = Object.freeze({ ok: true, value: frozen(parsed.value) });
    recentTemplates.set(json, entry);
    if (recentTemplates.size > maxCachedTemplates) recentTemplates.delete(recentTemplates.keys().next().value!);
    return entry;
  }
  return parsed;
}

function parseTemplateText(json: string): Parsed<TemplateView> {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (err) {
    return { ok: false, reason: `${argo.templateEnv} is not JSON: ${(err as Error).message}` };
  }
  if (!record(raw)) return { ok: false, reason: `${argo.templateEnv} is not a JSON object` };
  return { ok: true, value: templateView(raw) };
}
