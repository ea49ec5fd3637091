// The reaper's loop: caches of daemon pods and Workflows (trimmed to what decide reads) → a queue of
// pods due for a decision → core/leftover/decide → reapLeftover for each leftover, on the leader only.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { argo } from '../core/keys.ts';
import { readWorkflow, type WorkflowState } from '../core/argo/status.ts';
import { isDryRun, type ReaperConfig } from '../core/leftover/config.ts';
import { decide, type Verdict } from '../core/leftover/decide.ts';
import { readPod, type PodState } from '../core/leftover/pod.ts';
import type { Reason } from '../core/leftover/reasons.ts';
import { InformerGroup } from './informer.ts';
import type { ReaperMetrics } from './metrics.ts';
import { reapLeftover, type ReapDeps } from './reap.ts';

export interface ReaperOptions {
  kc: KubeConfig;
  log: Logger;
  metrics: ReaperMetrics;
  config: () => ReaperConfig;
  reap: Omit<ReapDeps, 'log' | 'metrics' | 'config'>;
  /** Reaps carried out at once; each may wait up to its pod's grace to verify. */
  workers?: number;
  /** Silence on a watch longer than this is a stall (the API server bookmarks about once a minute). */
  watchSilenceSeconds?: number;
}

const key = (namespace: string, name: string) => `${namespace}/${name}`;
const objectKey = (raw: unknown) => {
  const m = (raw as { metadata?: { namespace?: string; name?: string } })?.metadata;
  return key(m?.namespace ?? '', m?.name ?? '');
};

export class ReaperController {
  private readonly o: ReaperOptions;
  private readonly log: Logger;
  readonly pods: InformerGroup<PodState>;
  readonly workflows: InformerGroup<WorkflowState>;
  /** Pods by their Workflow (namespace/name), so a Workflow change re-decides its pods. */
  private readonly podsOfWorkflow = new Map<string, Set<string>>();
  /** When each pod (by uid) was first seen in the state a reason names: decide's firstSeen. */
  private readonly firstSeen = new Map<string, Map<Reason, Date>>();
  /** Pod key → when it is next due for a decision. */
  private readonly due = new Map<string, number>();
  private readonly inFlight = new Set<string>();
  private readonly failures = new Map<string, number>();
  /** Pod uids already reported as "would reap" while in dry-run: one record each, not one per resync. */
  private readonly reportedWouldReap = new Set<string>();
  private readonly stuck = new Set<string>();
  private readonly lastVerdict = new Map<string, Verdict>();
  private leading = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private synced = false;

  constructor(o: ReaperOptions) {
    this.o = o;
    this.log = o.log.child({ component: 'reaper' });
    const silence = o.watchSilenceSeconds ?? 150;
    const instanceSelector = () => {
      const id = o.config().instanceId;
      return id ? `,${argo.controllerInstanceIdLabel}=${id}` : '';
    };
    // Named namespaces are watched one by one, so Roles in those namespaces are all the reaper needs;
    // a prefix pattern ("team-*") needs the cluster-wide watch.
    const config = o.config();
    const named = config.namespaces.length > 0 && config.namespaces.every((n) => !n.endsWith('*')) ? config.namespaces : undefined;
    this.pods = new InformerGroup<PodState>(
      o.kc,
      {
        name: 'pods',
        namespaces: named,
        path: (ns) => (ns ? `/api/v1/namespaces/${ns}/pods` : '/api/v1/pods'),
        // Every Argo pod, not only labeled ones: the back-fill for daemons the webhook missed. Pods that
        // are not daemons are dropped as they arrive, so only daemons stay in memory.
        labelSelector: `${argo.workflowLabel}${instanceSelector()}`,
        trim: (raw) => {
          const pod = readPod(raw);
          return pod.daemon.kind === 'daemon' || pod.daemon.kind === 'unknown' ? pod : undefined;
        },
        key: objectKey,
        onUpsert: (k, pod) => this.onPod(k, pod),
        onDelete: (k, last) => this.forgetPod(k, last),
        resyncSeconds: o.config().resyncSeconds,
        silenceSeconds: silence,
      },
      o.log,
    );
    this.workflows = new InformerGroup<WorkflowState>(
      o.kc,
      {
        name: 'workflows',
        namespaces: named,
        path: (ns) => `/apis/${argo.group}/${argo.version}/${ns ? `namespaces/${ns}/` : ''}${argo.resources.workflows}`,
        ...(o.config().instanceId ? { labelSelector: `${argo.controllerInstanceIdLabel}=${o.config().instanceId}` } : {}),
        trim: (raw) => {
          const wf = readWorkflow(raw);
          return wf.ok ? wf.value : undefined;
        },
        key: objectKey,
        onUpsert: (k) => this.enqueueWorkflowPods(k),
        onDelete: (k) => this.enqueueWorkflowPods(k),
        onSynced: () => this.enqueueAll(),
        resyncSeconds: o.config().resyncSeconds,
        silenceSeconds: silence,
      },
      o.log,
    );
  }

  /**
   * Starts the caches and the decision loop. No decision is made until both caches are synced (an
   * empty Workflow cache would make every pod look orphaned); a cache whose first list fails keeps
   * retrying, and the loop starts deciding once it is in.
   */
  async start(): Promise<void> {
    this.timer = setInterval(() => this.tick(), 200);
    this.timer.unref();
    await this.workflows.start();
    await this.pods.start();
    this.enqueueAll();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.pods.stop();
    this.workflows.stop();
  }

  ready(): boolean {
    return this.pods.synced && this.workflows.synced;
  }

  setLeading(leading: boolean): void {
    this.leading = leading;
    this.o.metrics.leader.set(leading ? 1 : 0);
    if (leading) this.enqueueAll();
  }

  /** The config changed: re-decide everything; dry-run "would reap" records are due again. */
  configChanged(): void {
    this.reportedWouldReap.clear();
    this.enqueueAll();
  }

  verdictOf(podKey: string): Verdict | undefined {
    return this.lastVerdict.get(podKey);
  }

  private onPod(k: string, pod: PodState): void {
    if (pod.workflowName) {
      const wk = key(pod.namespace, pod.workflowName);
      let set = this.podsOfWorkflow.get(wk);
      if (!set) this.podsOfWorkflow.set(wk, (set = new Set()));
      set.add(k);
    }
    this.enqueue(k, Date.now());
  }

  private forgetPod(k: string, last: PodState | undefined): void {
    this.due.delete(k);
    this.failures.delete(k);
    this.lastVerdict.delete(k);
    this.stuck.delete(k);
    this.o.metrics.stuck.set(this.stuck.size);
    if (last) {
      this.firstSeen.delete(last.uid);
      this.reportedWouldReap.delete(last.uid);
      if (last.workflowName) this.podsOfWorkflow.get(key(last.namespace, last.workflowName))?.delete(k);
    }
  }

  private enqueueWorkflowPods(wk: string): void {
    for (const k of this.podsOfWorkflow.get(wk) ?? []) this.enqueue(k, Date.now());
  }

  private enqueueAll(): void {
    const now = Date.now();
    for (const pod of this.pods.values()) this.enqueue(key(pod.namespace, pod.name), now);
  }

  private enqueue(k: string, at: number): void {
    const current = this.due.get(k);
    if (current === undefined || at < current) this.due.set(k, at);
  }

  private tick(): void {
    if (this.stopped || !this.ready()) return;
    if (!this.synced) {
      this.synced = true;
      this.log.info({ pods: this.pods.size, workflows: this.workflows.size }, 'caches synced');
    }
    const now = Date.now();
    const workers = this.o.workers ?? 8;
    for (const [k, at] of this.due) {
      if (this.inFlight.size >= workers) break;
      if (at > now || this.inFlight.has(k)) continue;
      this.due.delete(k);
      this.inFlight.add(k);
      void this.process(k).finally(() => this.inFlight.delete(k));
    }
    this.updateGauges();
  }

  private updateGauges(): void {
    let leftovers = 0;
    const unknown = new Map<string, number>();
    for (const v of this.lastVerdict.values()) {
      if (v.decision === 'reap' || (v.decision === 'wait' && v.reason !== 'node-missing')) leftovers++;
      if (v.decision === 'unknown') unknown.set(v.reason, (unknown.get(v.reason) ?? 0) + 1);
    }
    this.o.metrics.leftovers.set(leftovers);
    this.o.metrics.unknown.reset();
    for (const [reason, n] of unknown) this.o.metrics.unknown.set({ reason }, n);
    this.o.metrics.cached.set({ informer: 'pods' }, this.pods.size);
    this.o.metrics.cached.set({ informer: 'workflows' }, this.workflows.size);
  }

  private firstSeenOf(uid: string) {
    return (reason: Reason) => this.firstSeen.get(uid)?.get(reason);
  }

  private async process(k: string): Promise<void> {
    const pod = this.pods.get(k);
    if (!pod) return;
    const config = this.o.config();
    const workflow = pod.workflowName ? this.workflows.get(key(pod.namespace, pod.workflowName)) : undefined;
    const now = new Date();
    const verdict = decide({ pod, workflow, now, firstSeen: this.firstSeenOf(pod.uid), config });
    this.o.metrics.decisions.inc({ decision: verdict.decision, reason: verdict.reason });
    const previous = this.lastVerdict.get(k);
    this.lastVerdict.set(k, verdict);
    if (verdict.timeFrom === 'first-seen') {
      let seen = this.firstSeen.get(pod.uid);
      if (!seen) this.firstSeen.set(pod.uid, (seen = new Map()));
      if (!seen.has(verdict.reason)) seen.set(verdict.reason, now);
    }
    if (previous?.decision !== verdict.decision || previous?.reason !== verdict.reason) {
      this.log.debug({ namespace: pod.namespace, pod: pod.name, podUid: pod.uid, decision: verdict.decision, reason: verdict.reason, notBefore: verdict.notBefore, detail: verdict.detail }, 'decision');
      if (verdict.decision === 'unknown') this.log.warn({ namespace: pod.namespace, pod: pod.name, podUid: pod.uid, reason: verdict.reason, detail: verdict.detail }, 'cannot decide on daemon pod; leaving it alone');
    }

    switch (verdict.decision) {
      case 'keep':
        this.firstSeen.delete(pod.uid);
        return;
      case 'unknown':
        return;
      case 'wait':
        if (verdict.notBefore) this.enqueue(k, verdict.notBefore.getTime());
        return;
      case 'reap':
        break;
    }
    if (!this.leading) return;
    if (this.reportedWouldReap.has(pod.uid) && this.inDryRun(pod, config)) return;
    const result = await reapLeftover(verdict, this.firstSeenOf(pod.uid), { ...this.o.reap, log: this.o.log, metrics: this.o.metrics, config: this.o.config });
    switch (result.outcome) {
      case 'rate-limited':
        this.enqueue(k, result.retryAt ?? Date.now() + 1000);
        break;
      case 'error': {
        const n = (this.failures.get(k) ?? 0) + 1;
        this.failures.set(k, n);
        this.enqueue(k, Date.now() + Math.min(300_000, 1000 * 2 ** Math.min(n, 8)));
        break;
      }
      case 'would-reap':
        this.reportedWouldReap.add(pod.uid);
        break;
      case 'stuck':
        this.stuck.add(k);
        this.o.metrics.stuck.set(this.stuck.size);
        // Looked at again on the next resync; a pod held by a finalizer is reported, never stripped.
        this.enqueue(k, Date.now() + config.resyncSeconds * 1000);
        break;
      default:
        this.failures.delete(k);
    }
  }

  private inDryRun(pod: PodState, config: ReaperConfig): boolean {
    return this.o.reap.dryRunFlag || isDryRun(config, pod.namespace) || this.o.reap.breaker.tripped;
  }
}
