// An independent witness of what happens to pods and Workflows in some namespaces: list+watch of both
// (its own code, not the reaper's caches), every pod as first admitted and as last seen, every
// deletion with the moment it was asked for and the Workflow's state at that moment, and a judgement
// of each deletion — was it a leftover daemon, past its grace plus the margin? — made from Argo's
// status with rules written here, not with the reaper's core/leftover/decide.
import { gunzipSync } from 'node:zlib';
import { CoreV1Api, CustomObjectsApi, Watch, type KubeConfig, type V1Pod } from '@kubernetes/client-node';

export type Json = Record<string, unknown>;

const argoGroup = 'argoproj.io';
const fulfilledPhases = new Set(['Succeeded', 'Failed', 'Error', 'Skipped', 'Omitted']);
const completedWorkflowPhases = new Set(['Succeeded', 'Failed', 'Error']);

// ---- What a pod is, read here without the project's core ------------------------------------------

export interface DaemonFacts {
  /** ARGO_TEMPLATE says daemon: true (undefined: no ARGO_TEMPLATE found, or it is offloaded). */
  daemon: boolean | undefined;
  template: string | undefined;
}

/** Argo's template JSON from the init containers (the legacy layout of v3.6+), else any container. */
export function daemonFacts(pod: V1Pod): DaemonFacts {
  const containers = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
  for (const c of containers) {
    const v = c.env?.find((e) => e.name === 'ARGO_TEMPLATE')?.value;
    if (v === undefined || v === 'offloaded') continue;
    try {
      const t = JSON.parse(v) as { daemon?: boolean; name?: string };
      return { daemon: t.daemon === true, template: t.name };
    } catch {
      continue;
    }
  }
  return { daemon: undefined, template: undefined };
}

export function workflowUidOf(pod: V1Pod): string | undefined {
  const owner = pod.metadata?.ownerReferences?.find((o) => o.kind === 'Workflow');
  if (owner) return owner.uid;
  const label = pod.metadata?.labels?.['argo-daemon-guard.io/workflow-uid'];
  if (label) return label;
  for (const c of [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])]) {
    const v = c.env?.find((e) => e.name === 'ARGO_WORKFLOW_UID')?.value;
    if (v) return v;
  }
  return undefined;
}

export interface NodeLite {
  id: string;
  name?: string;
  displayName?: string;
  type?: string;
  templateName?: string;
  phase?: string;
  boundaryID?: string;
  daemoned?: boolean;
  finishedAt?: string;
  message?: string;
}

export function nodesOf(wf: Json | undefined): Record<string, NodeLite> {
  const status = (wf?.status ?? {}) as { nodes?: Record<string, NodeLite>; compressedNodes?: string };
  if (status.nodes) return status.nodes;
  if (status.compressedNodes) {
    try {
      return JSON.parse(gunzipSync(Buffer.from(status.compressedNodes, 'base64')).toString('utf8')) as Record<string, NodeLite>;
    } catch {
      return {};
    }
  }
  return {};
}

const seconds = (t: string | undefined) => (t ? Date.parse(t) : undefined);

// ---- Records ----------------------------------------------------------------------------------------

export interface WorkflowRecord {
  namespace: string;
  name: string;
  uid: string;
  last: Json;
  phase: string;
  /** When each phase was first seen (receipt time). */
  phaseSeen: Map<string, number>;
  deletionSeenAt?: number;
  goneAt?: number;
}

export interface ScopeEnd {
  /** Why the daemon's scope is over, in Argo's status. */
  why: 'boundary-fulfilled' | 'node-stopped' | 'workflow-complete' | 'workflow-deleting' | 'workflow-gone';
  /** When, by the status (second precision) or, lacking that, by what this witness saw. */
  at: number;
  detail: string;
}

export interface PodRecord {
  namespace: string;
  name: string;
  uid: string;
  workflowName: string | undefined;
  workflowUid: string | undefined;
  nodeId: string | undefined;
  facts: DaemonFacts;
  /** The pod as the API server first returned it: what admission made of it. */
  admitted: V1Pod;
  last: V1Pod;
  firstSeenAt: number;
  runningAt?: number;
  /** Argo's node for this pod became daemoned. */
  daemonedAt?: number;
  /** The first moment this witness saw the daemon's scope over (and why). */
  scopeEnd?: ScopeEnd;
  deletion?: {
    /** When the delete was asked for (deletionTimestamp first seen, or gone without one). */
    at: number;
    /** The pod as last seen before the delete. */
    before: V1Pod;
    /** Was it a leftover daemon then? (judged with this file's rules) */
    leftover: ScopeEnd | undefined;
  };
  goneAt?: number;
}

export type Observation =
  | { kind: 'pod-admitted'; pod: PodRecord }
  | { kind: 'pod-running'; pod: PodRecord }
  | { kind: 'daemoned'; pod: PodRecord; workflow: WorkflowRecord }
  | { kind: 'scope-ended'; pod: PodRecord; end: ScopeEnd }
  | { kind: 'pod-deleting'; pod: PodRecord }
  | { kind: 'pod-gone'; pod: PodRecord }
  | { kind: 'workflow-phase'; workflow: WorkflowRecord; phase: string }
  | { kind: 'workflow-deleting'; workflow: WorkflowRecord }
  | { kind: 'workflow-gone'; workflow: WorkflowRecord };

// ---- List + watch ---------------------------------------------------------------------------------

class ListWatch {
  private stopped = false;
  private abort: AbortController | undefined;
  private rv = '';
  private known = new Map<string, unknown>();

  private readonly kc: KubeConfig;
  private readonly path: string;
  private readonly list: () => Promise<{ items: unknown[]; resourceVersion: string }>;
  private readonly keyOf: (o: unknown) => string;
  private readonly handle: (type: 'ADDED' | 'MODIFIED' | 'DELETED', o: unknown) => void;

  constructor(
    kc: KubeConfig,
    path: string,
    list: () => Promise<{ items: unknown[]; resourceVersion: string }>,
    keyOf: (o: unknown) => string,
    handle: (type: 'ADDED' | 'MODIFIED' | 'DELETED', o: unknown) => void,
  ) {
    this.kc = kc;
    this.path = path;
    this.list = list;
    this.keyOf = keyOf;
    this.handle = handle;
  }

  async start(): Promise<void> {
    await this.relist();
    void this.watch();
  }

  private async relist(): Promise<void> {
    const { items, resourceVersion } = await this.list();
    const seen = new Set<string>();
    for (const o of items) {
      const k = this.keyOf(o);
      seen.add(k);
      this.handle(this.known.has(k) ? 'MODIFIED' : 'ADDED', o);
      this.known.set(k, o);
    }
    for (const [k, o] of this.known) {
      if (!seen.has(k)) {
        this.known.delete(k);
        this.handle('DELETED', o);
      }
    }
    this.rv = resourceVersion;
  }

  private async watch(): Promise<void> {
    while (!this.stopped) {
      let expired = false;
      await new Promise<void>((resolve) => {
        new Watch(this.kc)
          .watch(
            this.path,
            { resourceVersion: this.rv, allowWatchBookmarks: true },
            (type, obj) => {
              if (type === 'BOOKMARK') {
                this.rv = (obj as { metadata?: { resourceVersion?: string } }).metadata?.resourceVersion ?? this.rv;
                return;
              }
              if (type === 'ERROR') {
                expired = (obj as { code?: number }).code === 410;
                return;
              }
              const rv = (obj as { metadata?: { resourceVersion?: string } }).metadata?.resourceVersion;
              if (rv) this.rv = rv;
              const k = this.keyOf(obj);
              if (type === 'DELETED') this.known.delete(k);
              else this.known.set(k, obj);
              this.handle(type as 'ADDED' | 'MODIFIED' | 'DELETED', obj);
            },
            (err: unknown) => {
              if (err && String((err as Error).message ?? err).includes('410')) expired = true;
              resolve();
            },
          )
          .then((a) => (this.abort = a), () => resolve());
      });
      if (this.stopped) return;
      if (expired) await this.relist().catch(() => {});
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
  }
}

// ---- The witness ----------------------------------------------------------------------------------

export interface ObserverOptions {
  /** Which namespaces to keep. */
  namespaces: (ns: string) => boolean;
  /** Called for each thing seen, in order. */
  onObservation?: (o: Observation) => void;
  now?: () => number;
}

export class Observer {
  readonly pods = new Map<string, PodRecord>();
  readonly workflows = new Map<string, WorkflowRecord>();
  private readonly watches: ListWatch[] = [];
  private readonly now: () => number;

  private readonly o: ObserverOptions;

  private constructor(o: ObserverOptions) {
    this.o = o;
    this.now = o.now ?? Date.now;
  }

  static async start(kc: KubeConfig, o: ObserverOptions): Promise<Observer> {
    const obs = new Observer(o);
    const core = kc.makeApiClient(CoreV1Api);
    const custom = kc.makeApiClient(CustomObjectsApi);
    const meta = (x: unknown) => (x as { metadata?: { namespace?: string; name?: string; uid?: string } }).metadata ?? {};
    const wfWatch = new ListWatch(
      kc,
      `/apis/${argoGroup}/v1alpha1/workflows`,
      async () => {
        const l = (await custom.listClusterCustomObject({ group: argoGroup, version: 'v1alpha1', plural: 'workflows' })) as { items: unknown[]; metadata: { resourceVersion: string } };
        return { items: l.items, resourceVersion: l.metadata.resourceVersion };
      },
      (x) => meta(x).uid ?? '',
      (type, x) => obs.onWorkflow(type, x as Json),
    );
    const podWatch = new ListWatch(
      kc,
      '/api/v1/pods',
      async () => {
        const l = await core.listPodForAllNamespaces();
        // Listed items carry no kind; the watch's do. Nothing here reads kind.
        return { items: l.items, resourceVersion: l.metadata?.resourceVersion ?? '' };
      },
      (x) => meta(x).uid ?? '',
      (type, x) => obs.onPod(type, x as V1Pod),
    );
    // Workflows first, so the first pods find their Workflow.
    await wfWatch.start();
    await podWatch.start();
    obs.watches.push(wfWatch, podWatch);
    return obs;
  }

  stop(): void {
    for (const w of this.watches) w.stop();
  }

  private emit(o: Observation): void {
    try {
      this.o.onObservation?.(o);
    } catch {
      /* a printer's problem is not the witness's */
    }
  }

  workflowByUid(uid: string | undefined): WorkflowRecord | undefined {
    return uid ? this.workflows.get(uid) : undefined;
  }

  workflowByName(namespace: string, name: string): WorkflowRecord | undefined {
    let best: WorkflowRecord | undefined;
    for (const w of this.workflows.values()) if (w.namespace === namespace && w.name === name && (!best || w.goneAt === undefined)) best = w;
    return best;
  }

  podsOf(w: WorkflowRecord): PodRecord[] {
    return [...this.pods.values()].filter((p) => p.workflowUid === w.uid || (p.namespace === w.namespace && p.workflowName === w.name && !p.workflowUid));
  }

  daemonPods(filter: (p: PodRecord) => boolean = () => true): PodRecord[] {
    return [...this.pods.values()].filter((p) => p.facts.daemon === true && filter(p));
  }

  deletions(filter: (p: PodRecord) => boolean = () => true): PodRecord[] {
    return [...this.pods.values()].filter((p) => p.deletion !== undefined && filter(p));
  }

  private onWorkflow(type: 'ADDED' | 'MODIFIED' | 'DELETED', raw: Json): void {
    const m = raw.metadata as { namespace: string; name: string; uid: string; deletionTimestamp?: string };
    if (!this.o.namespaces(m.namespace)) return;
    const now = this.now();
    let w = this.workflows.get(m.uid);
    if (!w) {
      w = { namespace: m.namespace, name: m.name, uid: m.uid, last: raw, phase: '', phaseSeen: new Map() };
      this.workflows.set(m.uid, w);
    }
    w.last = raw;
    const phase = String((raw.status as Json | undefined)?.phase ?? '');
    if (phase && !w.phaseSeen.has(phase)) {
      w.phaseSeen.set(phase, now);
      w.phase = phase;
      this.emit({ kind: 'workflow-phase', workflow: w, phase });
    }
    if (m.deletionTimestamp && w.deletionSeenAt === undefined) {
      w.deletionSeenAt = now;
      this.emit({ kind: 'workflow-deleting', workflow: w });
    }
    if (type === 'DELETED' && w.goneAt === undefined) {
      w.goneAt = now;
      this.emit({ kind: 'workflow-gone', workflow: w });
    }
    for (const p of this.pods.values()) if (p.workflowUid === w.uid) this.track(p);
  }

  private onPod(type: 'ADDED' | 'MODIFIED' | 'DELETED', pod: V1Pod): void {
    const m = pod.metadata!;
    if (!this.o.namespaces(m.namespace!)) return;
    const now = this.now();
    let p = this.pods.get(m.uid!);
    if (!p) {
      p = {
        namespace: m.namespace!,
        name: m.name!,
        uid: m.uid!,
        workflowName: m.labels?.['workflows.argoproj.io/workflow'],
        workflowUid: workflowUidOf(pod),
        nodeId: m.annotations?.['workflows.argoproj.io/node-id'],
        facts: daemonFacts(pod),
        admitted: pod,
        last: pod,
        firstSeenAt: now,
      };
      this.pods.set(p.uid, p);
      this.emit({ kind: 'pod-admitted', pod: p });
    }
    const before = p.last;
    if (pod.status?.phase === 'Running' && p.runningAt === undefined) {
      p.runningAt = now;
      this.emit({ kind: 'pod-running', pod: p });
    }
    this.track(p);
    const deleting = type === 'DELETED' || m.deletionTimestamp !== undefined;
    if (deleting && !p.deletion) {
      p.deletion = { at: now, before, leftover: this.leftover(p, before, now) };
      this.emit({ kind: 'pod-deleting', pod: p });
    }
    p.last = pod;
    if (type === 'DELETED' && p.goneAt === undefined) {
      p.goneAt = now;
      this.emit({ kind: 'pod-gone', pod: p });
    }
  }

  /** Daemoned and scope-end sightings for one daemon pod, from its Workflow's latest status. */
  private track(p: PodRecord): void {
    if (p.facts.daemon !== true) return;
    const w = this.workflowByUid(p.workflowUid);
    if (w && p.daemonedAt === undefined && p.nodeId && nodesOf(w.last)[p.nodeId]?.daemoned) {
      p.daemonedAt = this.now();
      this.emit({ kind: 'daemoned', pod: p, workflow: w });
    }
    if (!p.scopeEnd && !p.deletion) {
      const end = this.scopeOver(p, this.now());
      if (end) {
        p.scopeEnd = end;
        this.emit({ kind: 'scope-ended', pod: p, end });
      }
    }
  }

  /** Is this daemon's scope over, by Argo's status (or the Workflow's absence)? When did it end? */
  scopeOver(p: PodRecord, now: number): ScopeEnd | undefined {
    const w = this.workflowByUid(p.workflowUid);
    if (!w || w.goneAt !== undefined) {
      const at = w?.deletionSeenAt ?? w?.goneAt ?? p.scopeEnd?.at ?? now;
      return { why: 'workflow-gone', at, detail: `Workflow ${p.workflowName ?? '?'} (uid ${p.workflowUid ?? '?'}) no longer exists` };
    }
    const status = (w.last.status ?? {}) as { phase?: string; finishedAt?: string };
    const nodes = nodesOf(w.last);
    const node = p.nodeId ? nodes[p.nodeId] : undefined;
    const boundary = node?.boundaryID ? nodes[node.boundaryID] : undefined;
    const candidates: ScopeEnd[] = [];
    if (boundary && fulfilledPhases.has(boundary.phase ?? '')) {
      candidates.push({ why: 'boundary-fulfilled', at: seconds(boundary.finishedAt) ?? now, detail: `its scope ${boundary.type ?? ''} ${boundary.displayName ?? boundary.id} is ${boundary.phase}` });
    }
    if (node && fulfilledPhases.has(node.phase ?? '') && !node.daemoned) {
      candidates.push({ why: 'node-stopped', at: p.scopeEnd?.at ?? now, detail: `its node ${node.displayName ?? node.id} is ${node.phase}, no longer daemoned` });
    }
    if (completedWorkflowPhases.has(status.phase ?? '')) {
      candidates.push({ why: 'workflow-complete', at: seconds(status.finishedAt) ?? now, detail: `Workflow ${w.name} is ${status.phase}` });
    }
    if (w.deletionSeenAt !== undefined) candidates.push({ why: 'workflow-deleting', at: w.deletionSeenAt, detail: `Workflow ${w.name} is being deleted` });
    if (candidates.length === 0) return undefined;
    return candidates.reduce((a, b) => (b.at < a.at ? b : a));
  }

  /** At the moment of its deletion, was this pod a leftover daemon (Running, scope over)? */
  private leftover(p: PodRecord, before: V1Pod, now: number): ScopeEnd | undefined {
    if (p.facts.daemon !== true) return undefined;
    if (before.status?.phase !== 'Running') return undefined;
    return p.scopeEnd ?? this.scopeOver(p, now);
  }
}

// ---- Judging deletions ------------------------------------------------------------------------------

export interface DeletionVerdict {
  pod: PodRecord;
  ok: boolean;
  why: string;
  /** Seconds from the end of the scope to the delete. */
  afterSeconds: number | undefined;
}

/**
 * Every deletion must be of a leftover daemon, and no sooner than its grace plus the reaper's margin
 * after its scope ended (status times have second precision: one second of slack).
 */
export function judgeDeletion(p: PodRecord, graceMarginSeconds: number): DeletionVerdict {
  const d = p.deletion!;
  if (!d.leftover) {
    const what = p.facts.daemon === true ? `a daemon whose scope was live (pod ${d.before.status?.phase ?? '?'})` : 'not a daemon';
    return { pod: p, ok: false, why: `${p.namespace}/${p.name} was deleted but was ${what}`, afterSeconds: undefined };
  }
  const grace = p.last.spec?.terminationGracePeriodSeconds ?? 30;
  const after = (d.at - d.leftover.at) / 1000;
  const min = grace + graceMarginSeconds - 1;
  if (after < min) return { pod: p, ok: false, why: `${p.namespace}/${p.name} was deleted ${after.toFixed(1)}s after its scope ended (${d.leftover.detail}); grace ${grace}s + margin ${graceMarginSeconds}s not yet passed`, afterSeconds: after };
  return { pod: p, ok: true, why: `leftover (${d.leftover.why}: ${d.leftover.detail}), deleted ${after.toFixed(1)}s after its scope ended`, afterSeconds: after };
}

// ---- The guard's marks on an admitted pod -----------------------------------------------------------

export interface GuardMarks {
  daemonLabel: boolean;
  workflowUidLabel: string | undefined;
  templateAnnotation: string | undefined;
  lifetimeCap: number | undefined;
  activeDeadlineSeconds: number | undefined;
}

export function guardMarks(pod: V1Pod): GuardMarks {
  const l = pod.metadata?.labels ?? {};
  const a = pod.metadata?.annotations ?? {};
  const cap = a['argo-daemon-guard.io/lifetime-cap'];
  return {
    daemonLabel: l['argo-daemon-guard.io/daemon'] === 'true',
    workflowUidLabel: l['argo-daemon-guard.io/workflow-uid'],
    templateAnnotation: a['argo-daemon-guard.io/template'],
    lifetimeCap: cap === undefined ? undefined : Number(cap),
    activeDeadlineSeconds: pod.spec?.activeDeadlineSeconds,
  };
}

/** Labeled as contracts §1 says: daemon label, the Workflow's uid, the template, a cap applied. */
export function properlyLabeled(p: PodRecord): boolean {
  const g = guardMarks(p.admitted);
  return (
    g.daemonLabel &&
    g.workflowUidLabel !== undefined &&
    g.workflowUidLabel === p.workflowUid &&
    g.templateAnnotation === p.facts.template &&
    g.lifetimeCap !== undefined &&
    g.lifetimeCap > 0 &&
    g.activeDeadlineSeconds !== undefined &&
    g.activeDeadlineSeconds <= g.lifetimeCap
  );
}

/** None of the guard's marks. */
export function unmarked(p: PodRecord): boolean {
  const g = guardMarks(p.admitted);
  return !g.daemonLabel && g.workflowUidLabel === undefined && g.templateAnnotation === undefined && g.lifetimeCap === undefined;
}
