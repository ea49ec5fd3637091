// An Argo template (from ARGO_TEMPLATE or from a Workflow-like object) reduced to what the policy reads.
import { argo } from '../keys.ts';
import { at, bool, integer, list, record, stringMap, text } from '../data.ts';

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
  return {
    name: text(at(raw, 'name')) || fallbackName,
    role,
    image: text(at(raw, 'image')),
    hasReadinessProbe: record(at(raw, 'readinessProbe')) !== undefined,
    requests: stringMap(quantities(at(raw, 'resources', 'requests'))),
    limits: stringMap(quantities(at(raw, 'resources', 'limits'))),
    privileged: bool(at(raw, 'securityContext', 'privileged')),
  };
}

/** Quantities may arrive as numbers (`cpu: 1`); the policy compares presence, so keep them as text. */
function quantities(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(record(value) ?? {})) {
    if (typeof v === 'string' || typeof v === 'number') out[k] = String(v);
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
  const services: ContainerView[] = [];
  let body: TemplateView['body'] = 'none';
  if (record(at(raw, 'container'))) {
    body = 'container';
    services.push(containerView(at(raw, 'container'), 'service', 'main'));
  } else if (record(at(raw, 'script'))) {
    body = 'script';
    services.push(containerView(at(raw, 'script'), 'service', 'main'));
  } else if (record(at(raw, 'containerSet'))) {
    body = 'containerSet';
    for (const c of list(at(raw, 'containerSet', 'containers'))) services.push(containerView(c, 'service', 'main'));
  }
  return {
    name: text(at(raw, 'name')) ?? '',
    daemon: bool(at(raw, 'daemon')),
    body,
    containers: [
      ...services,
      ...list(at(raw, 'sidecars')).map((c) => containerView(c, 'sidecar', 'sidecar')),
      ...list(at(raw, 'initContainers')).map((c) => containerView(c, 'init', 'init')),
    ],
    hostPathVolumes: hostPathVolumes(at(raw, 'volumes')),
    activeDeadlineSeconds: deadline(at(raw, 'activeDeadlineSeconds')),
  };
}

/** ARGO_TEMPLATE text → template; malformed JSON is a reason, not an exception. */
export function parseTemplateJson(json: string): Parsed<TemplateView> {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (err) {
    return { ok: false, reason: `${argo.templateEnv} is not JSON: ${(err as Error).message}` };
  }
  if (!record(raw)) return { ok: false, reason: `${argo.templateEnv} is not a JSON object` };
  return { ok: true, value: templateView(raw) };
}
