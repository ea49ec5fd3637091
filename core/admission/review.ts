// AdmissionReview v1 in and out, and the one decision per request that both webhooks make.
// Whatever the body holds, a request whose uid can be read gets a well-formed AdmissionReview back.
import { argo } from '../keys.ts';
import { at, preview, record, text } from '../data.ts';
import type { Policy } from '../policy/schema.ts';
import { isWorkflowKind } from '../argo/workflow.ts';
import { classifyPod, type PodClass } from '../argo/pod.ts';
import { podDaemon, type OffloadedTemplate } from './daemon.ts';
import { mutatePod } from './mutate.ts';
import { validatePod, validateWorkflowObject } from './validate.ts';
import type { RuledFinding } from '../policy/evaluate.ts';

export const admissionApiVersion = 'admission.k8s.io/v1';

export type Endpoint = 'mutate' | 'validate';

export interface AdmissionRequestView {
  uid: string;
  kind: string;
  group: string;
  resource: string;
  subResource: string | undefined;
  namespace: string;
  name: string;
  operation: string;
  dryRun: boolean;
  object: unknown;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: { code: number; reason?: string; message: string };
  patchType?: 'JSONPatch';
  patch?: string;
  warnings?: string[];
  auditAnnotations?: Record<string, string>;
}

export interface AdmissionReview {
  apiVersion: string;
  kind: 'AdmissionReview';
  response: AdmissionResponse;
}

export type ReadReview = { ok: true; request: AdmissionRequestView } | { ok: false; uid: string | undefined; reason: string };

export function readReview(body: unknown): ReadReview {
  const request = record(at(body, 'request'));
  const uid = text(request?.uid);
  if (!request) return { ok: false, uid: undefined, reason: 'body is not an AdmissionReview: no request' };
  if (!uid) return { ok: false, uid: undefined, reason: 'AdmissionReview request has no uid' };
  if (at(body, 'kind') !== 'AdmissionReview') return { ok: false, uid, reason: `kind is ${preview(at(body, 'kind'))}, not AdmissionReview` };
  const kind = text(at(request, 'kind', 'kind'));
  if (!kind) return { ok: false, uid, reason: 'request has no kind.kind' };
  return {
    ok: true,
    request: {
      uid,
      kind,
      group: text(at(request, 'kind', 'group')) ?? '',
      resource: text(at(request, 'resource', 'resource')) ?? '',
      subResource: text(request.subResource) || undefined,
      namespace: text(request.namespace) ?? text(at(request, 'object', 'metadata', 'namespace')) ?? '',
      name: text(request.name) ?? text(at(request, 'object', 'metadata', 'name')) ?? '',
      operation: text(request.operation) ?? '',
      dryRun: request.dryRun === true,
      object: request.object,
    },
  };
}

/**
 * The pod's classification, computed once per request object: offloadedTemplateConfigMap and admit
 * both need it. Keyed by the request's object (never changed by the core), kept only while it lives.
 */
const classified = new WeakMap<object, PodClass>();

function classOf(obj: unknown): PodClass {
  if (typeof obj !== 'object' || obj === null) return classifyPod(obj);
  let cls = classified.get(obj);
  if (!cls) classified.set(obj, (cls = classifyPod(obj)));
  return cls;
}

/** The ConfigMap to read before deciding on this request, when the pod's template was offloaded. */
export function offloadedTemplateConfigMap(req: AdmissionRequestView): string | undefined {
  if (req.kind !== 'Pod' || req.group !== '' || req.subResource) return undefined;
  const cls = classOf(req.object);
  return cls.kind === 'workload' && cls.pod.template.kind === 'offloaded' ? cls.pod.template.configMap : undefined;
}

/** What one admission decided, for the log line, the metric and the audit annotations. */
export interface AdmissionRecord {
  endpoint: Endpoint;
  kind: string;
  namespace: string;
  name: string;
  /** allow, deny, warn (allowed with warnings), skip (nothing to do), unknown (could not tell). */
  decision: 'allow' | 'deny' | 'warn' | 'skip' | 'unknown' | 'labeled';
  reason: string;
  findings: RuledFinding[];
  dryRun: boolean;
}

export interface Admission {
  response: AdmissionResponse;
  record: AdmissionRecord;
}

function auditAnnotations(rec: AdmissionRecord): Record<string, string> {
  const out: Record<string, string> = { decision: rec.decision };
  if (rec.findings.length) out.findings = rec.findings.map((f) => `${f.template}/${f.rule}=${f.mode}`).join(',');
  if (rec.reason) out.reason = rec.reason.slice(0, 256);
  return out;
}

export function admit(endpoint: Endpoint, req: AdmissionRequestView, policy: Policy, offloaded?: OffloadedTemplate): Admission {
  const base = { endpoint, kind: req.kind, namespace: req.namespace, name: req.name, dryRun: req.dryRun };
  const finish = (response: Omit<AdmissionResponse, 'uid' | 'auditAnnotations'>, rec: AdmissionRecord): Admission => ({
    response: { uid: req.uid, ...response, auditAnnotations: auditAnnotations(rec) },
    record: rec,
  });
  if (req.subResource) return finish({ allowed: true }, { ...base, decision: 'skip', reason: `subresource ${req.subResource} is never checked`, findings: [] });

  if (req.kind === 'Pod' && req.group === '') {
    const daemon = podDaemon(req.object, offloaded, classOf(req.object));
    if (endpoint === 'mutate') {
      const m = mutatePod(req.object, daemon, policy);
      // A pod the guard labeled already (a reinvocation) is a daemon with nothing left to change.
      const decision = m.outcome === 'labeled' ? (m.patch.length ? 'labeled' : 'allow') : m.outcome === 'unknown' ? 'unknown' : 'skip';
      const rec: AdmissionRecord = { ...base, decision, reason: m.reason, findings: [] };
      if (m.patch.length === 0) return finish({ allowed: true }, rec);
      return finish({ allowed: true, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(m.patch)).toString('base64') }, rec);
    }
    const v = validatePod(req.object, req.namespace, daemon, policy);
    const decision = daemon.kind === 'daemon' ? verdictDecision(v) : daemon.kind === 'unknown' ? 'unknown' : 'skip';
    return finish(verdictResponse(v), { ...base, decision, reason: v.unknown ?? v.message ?? '', findings: v.findings });
  }

  if (req.group === argo.group && isWorkflowKind(req.kind)) {
    if (endpoint === 'mutate') return finish({ allowed: true }, { ...base, decision: 'skip', reason: `${req.kind} is only validated`, findings: [] });
    const v = validateWorkflowObject(req.object, req.namespace, policy);
    const decision = v.unknown ? 'unknown' : v.daemonTemplates.length === 0 && v.findings.length === 0 ? 'skip' : verdictDecision(v);
    return finish(verdictResponse(v), { ...base, decision, reason: v.unknown ?? v.message, findings: v.findings });
  }

  return finish({ allowed: true }, { ...base, decision: 'skip', reason: `${req.group || 'core'}/${req.kind} is not handled`, findings: [] });
}

function verdictDecision(v: { allowed: boolean; warnings: string[] }): AdmissionRecord['decision'] {
  return !v.allowed ? 'deny' : v.warnings.length ? 'warn' : 'allow';
}

function verdictResponse(v: { allowed: boolean; message: string; warnings: string[] }): Omit<AdmissionResponse, 'uid'> {
  return {
    allowed: v.allowed,
    ...(v.allowed ? {} : { status: { code: 403, reason: 'Forbidden', message: v.message } }),
    ...(v.warnings.length ? { warnings: v.warnings } : {}),
  };
}

export function reviewOf(response: AdmissionResponse): AdmissionReview {
  return { apiVersion: admissionApiVersion, kind: 'AdmissionReview', response };
}

/** For a request that could not be read but whose uid could: admitted, and the reason says why. */
export function malformedReview(uid: string, reason: string): AdmissionReview {
  return reviewOf({ uid, allowed: true, warnings: [`argo-daemon-guard: request not checked: ${reason}`], auditAnnotations: { decision: 'unknown', reason: reason.slice(0, 256) } });
}

/**
 * A harmless AdmissionReview to prove a running webhook answers: a Workflow with no daemon, sent as a
 * dry run (not counted in the metrics), to the validate endpoint.
 */
export function probeReview(uid: string): unknown {
  const workflow = { apiVersion: argo.apiVersion, kind: argo.kinds.workflow, metadata: { name: 'argo-daemon-guard-self-test', namespace: 'default' }, spec: { entrypoint: 'main', templates: [{ name: 'main', container: { image: 'busybox' } }] } };
  return {
    apiVersion: admissionApiVersion,
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: argo.group, version: argo.version, kind: argo.kinds.workflow },
      resource: { group: argo.group, version: argo.version, resource: argo.resources.workflows },
      namespace: 'default',
      name: workflow.metadata.name,
      operation: 'CREATE',
      dryRun: true,
      object: workflow,
    },
  };
}

/** Whether an answer to probeReview(uid) is the well-formed AdmissionReview the API server needs. */
export function probeAnswer(uid: string, status: number, body: unknown): { ok: true; allowed: boolean } | { ok: false; reason: string } {
  if (status !== 200) return { ok: false, reason: `HTTP ${status}, expected 200` };
  if (at(body, 'apiVersion') !== admissionApiVersion || at(body, 'kind') !== 'AdmissionReview') return { ok: false, reason: `not an ${admissionApiVersion} AdmissionReview: ${preview(body)}` };
  const answered = at(body, 'response', 'uid');
  if (answered !== uid) return { ok: false, reason: `response.uid is ${preview(answered)}, expected ${uid}` };
  const allowed = at(body, 'response', 'allowed');
  if (typeof allowed !== 'boolean') return { ok: false, reason: `response.allowed is ${preview(allowed)}, expected true or false` };
  return { ok: true, allowed };
}
