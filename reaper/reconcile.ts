// Scope ended → pod reaped, for one pod at a time: read the caches → decide (core/leftover/decide) →
// act (core/leftover/act) → carry out a reap (reap.ts) → record what came of it. Pods come due through
// a DueQueue; reaps run on a few workers, on the leader only; Events are written in the background.
import type { Logger } from 'pino';
import type { WorkflowState } from '../core/argo/status.ts';
import { act, backoffMs } from '../core/leftover/act.ts';
import type { ReaperConfig } from '../core/leftover/config.ts';
import { decide, type Verdict } from '../core/leftover/decide.ts';
import type { PodState } from '../core/leftover/pod.ts';
import type { Reason } from '../core/leftover/reasons.ts';
import { apiErrorMessage } from '../runtime/kube.ts';
import { podKey, type CacheEvents, type ReaperCaches } from './cache.ts';
import type { ReaperMetrics } from './metrics.ts';
import { DueQueue } from './queue.ts';
import { reapLeftover, type ReapDeps } from './reap.ts';

export interface ReconcilerOptions {
  /** Opens the caches, which report to the reconciler through `events`. */
  caches: (events: CacheEvents) => ReaperCaches;
  log: Logger;
  metrics: ReaperMetrics;
  config: () => ReaperConfig;
  reap: Omit<ReapDeps, 'log' | 'metrics' | 'config'>;
  /**
   * Reaps carried out at once: each holds its worker for its fresh reads and its delete only (the
   * verification that follows does not). Default: 32, or the rate limit per minute when lower.
   */
  workers?: number;
  /**
   * Events (DaemonReaped, DaemonWouldReap, DaemonStuck) written at once. They are written after the
   * delete, in the background, so a burst of deletes does not wait for its Events. Default 4.
   */
  eventWorkers?: number;
}

export class Reconciler {
  private readonly o: ReconcilerOptions;
  private readonly log: Logger;
  private readonly caches: ReaperCaches;
  /** Pods by their Workflow (namespace/name), so a Workflow change re-decides its pods. */
  private readonly podsOfWorkflow = new Map<string, Set<string>>();
  /** When each pod (by uid) was first seen in the state a reason names: decide's firstSeen. */
  private readonly firstSeen = new Map<string, Map<Reason, Date>>();
  /** Pod keys due for a decision. */
  private readonly due: DueQueue<string>;
  private readonly inFlight = new Set<string>();
  /**
   * Pods whose delete was accepted and that are now being verified: they stay in flight (never decided
   * twice at once) but no longer hold one of the workers, so a burst of leftovers is deleted at the
   * pace of fresh reads and deletes, not of pods taking their grace period to go.
   */
  private readonly verifying = new Set<string>();
  /** Verifications waiting for the pod watch to say a pod (by uid) is gone (true) or dropped (false). */
  private readonly goneWaiters = new Map<string, Set<(gone: boolean) => void>>();
  /** Pod keys whose verdict is reap, waiting for a worker, in the order they became due, with that verdict. */
  private readonly reapQueue = new Map<string, Verdict>();
  /** Reaps holding a worker (fresh reads and delete). */
  private active = 0;
  /** Fresh Workflow reads under way, shared by the reaps of pods of one Workflow due together. */
  private readonly workflowReads = new Map<string, { issuedAt: number; read: Promise<unknown | undefined> }>();
  /** Events to write in the background. */
  private readonly eventQueue: (() => Promise<void>)[] = [];
  private eventsActive = 0;
  private readonly failures = new Map<string, number>();
  /** Pod uids already reported as "would reap" while in dry-run: one record each, not one per resync. */
  private readonly reportedWouldReap = new Set<string>();
  private readonly stuck = new Set<string>();
  private readonly lastVerdict = new Map<string, Verdict>();
  private leading = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private synced = false;

  constructor(o: ReconcilerOptions) {
    this.o = o;
    this.log = o.log.child({ component: 'reaper' });
    this.due = new DueQueue<string>(() => this.runDue());
    this.caches = o.caches({
      podChanged: (k, pod) => this.onPod(k, pod),
      podLeft: (k, last, gone) => this.forgetPod(k, last, gone),
      podsListed: () => this.due.schedule(Date.now()),
      workflowChanged: (k) => this.enqueueWorkflowPods(k),
      workflowsListed: () => this.enqueueAll(),
    });
  }

  get pods() {
    return this.caches.pods;
  }

  get workflows() {
    return this.caches.workflows;
  }

  /**
   * Starts the caches and the decision loop. No decision is made until both caches are synced (an
   * empty Workflow cache would make every pod look orphaned); a cache whose first list fails keeps
   * retrying, and the loop starts deciding once it is in.
   */
  async start(): Promise<void> {
    // Due pods are run by the queue's timer, set for the earliest of them; this slow tick is only a
    // safety net (and what refreshes the gauges).
    this.timer = setInterval(() => this.tick(), 1000);
    this.timer.unref();
    await this.caches.start();
    this.enqueueAll();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.due.stop();
    for (const waiters of this.goneWaiters.values()) for (const resolve of waiters) resolve(false);
    this.goneWaiters.clear();
    this.caches.stop();
  }

  ready(): boolean {
    return this.caches.pods.synced && this.caches.workflows.synced;
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

  verdictOf(key: string): Verdict | undefined {
    return this.lastVerdict.get(key);
  }

  private onPod(k: string, pod: PodState): void {
    if (pod.workflowName) {
      const wk = podKey(pod.namespace, pod.workflowName);
      let set = this.podsOfWorkflow.get(wk);
      if (!set) this.podsOfWorkflow.set(wk, (set = new Set()));
      set.add(k);
    }
    this.due.add(k, Date.now());
  }

  private forgetPod(k: string, last: PodState | undefined, gone: boolean): void {
    this.due.remove(k);
    if (this.reapQueue.delete(k)) this.inFlight.delete(k);
    this.failures.delete(k);
    this.lastVerdict.delete(k);
    this.stuck.delete(k);
    this.o.metrics.stuck.set(this.stuck.size);
    if (last) {
      for (const resolve of this.goneWaiters.get(last.uid) ?? []) resolve(gone);
      this.goneWaiters.delete(last.uid);
      this.firstSeen.delete(last.uid);
      this.reportedWouldReap.delete(last.uid);
      if (last.workflowName) this.podsOfWorkflow.get(podKey(last.namespace, last.workflowName))?.delete(k);
    }
  }

  private enqueueWorkflowPods(wk: string): void {
    for (const k of this.podsOfWorkflow.get(wk) ?? []) this.due.add(k, Date.now());
  }

  private enqueueAll(): void {
    const now = Date.now();
    for (const pod of this.caches.pods.values()) this.due.add(podKey(pod.namespace, pod.name), now);
    this.due.schedule(now);
  }

  private tick(): void {
    this.runDue();
    if (this.ready()) this.updateGauges();
  }

  /**
   * Decides every pod that is due (decisions read only the caches: no worker, no API call), queues the
   * reaps and hands them to free workers. A pod in flight is decided again when its reap ends.
   */
  private runDue(): void {
    if (this.stopped || !this.ready()) return;
    if (!this.synced) {
      this.synced = true;
      this.log.info({ pods: this.caches.pods.size, workflows: this.caches.workflows.size }, 'caches synced');
    }
    for (const k of this.due.take((k) => this.inFlight.has(k))) this.reconcile(k);
    this.pump();
  }

  /** Starts queued reaps while workers are free. */
  private pump(): void {
    const workers = this.workers();
    if (!this.leading) {
      // Leadership lost: queued reaps are dropped; the next leader decides them again.
      for (const k of this.reapQueue.keys()) this.inFlight.delete(k);
      this.reapQueue.clear();
      if (this.active === 0) this.drainEvents();
      return;
    }
    for (const [k, verdict] of this.reapQueue) {
      if (this.active >= workers || this.stopped) break;
      this.reapQueue.delete(k);
      this.active++;
      let holding = true;
      const release = () => {
        if (!holding) return;
        holding = false;
        this.active--;
        this.pump();
        if (this.active === 0) this.drainEvents();
      };
      void this.reap(k, verdict, release).finally(() => {
        release();
        this.inFlight.delete(k);
        this.verifying.delete(k);
        const at = this.due.dueAt(k);
        if (at !== undefined) this.due.schedule(at);
      });
    }
  }

  private workers(): number {
    if (this.o.workers !== undefined) return Math.max(1, this.o.workers);
    return Math.max(1, Math.min(32, this.o.config().rateLimit.perMinute));
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
    this.o.metrics.cached.set({ informer: 'pods' }, this.caches.pods.size);
    this.o.metrics.cached.set({ informer: 'workflows' }, this.caches.workflows.size);
  }

  private firstSeenOf(uid: string) {
    return (reason: Reason) => this.firstSeen.get(uid)?.get(reason);
  }

  /** One pod: its decision on the caches, and what follows from it; a reap (on the leader) is queued for a worker. */
  private reconcile(k: string): void {
    const pod = this.caches.pods.get(k);
    if (!pod) return;
    const config = this.o.config();
    const workflow: WorkflowState | undefined = pod.workflowName ? this.caches.workflows.get(podKey(pod.namespace, pod.workflowName)) : undefined;
    const now = new Date();
    const verdict = decide({ pod, workflow, now, firstSeen: this.firstSeenOf(pod.uid), config });
    this.record(k, pod, verdict, now);
    if (verdict.decision === 'keep') this.firstSeen.delete(pod.uid);
    if (verdict.decision === 'reap' && !this.leading) return;
    const action = act({
      verdict,
      config,
      // The rate limit is looked at when the reap starts, on a worker: a pod held back waits its turn there.
      valves: { dryRunFlag: this.o.reap.dryRunFlag, circuitOpen: this.o.reap.breaker.tripped, rate: { ok: true } },
      earlier: { reportedWouldReap: this.reportedWouldReap.has(pod.uid) },
    });
    switch (action.kind) {
      case 'nothing':
        if (action.retryAt !== undefined) this.due.add(k, action.retryAt);
        return;
      case 'delete':
      case 'would-reap':
        this.inFlight.add(k);
        this.reapQueue.set(k, verdict);
        return;
      default:
        // Verification and what follows a delete happen inside the reap that made it.
        return;
    }
  }

  /** The decision's trail: the counter, the last verdict (the gauges), firstSeen, and a log line when it changed. */
  private record(k: string, pod: PodState, verdict: Verdict, now: Date): void {
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
  }

  /** Carries out one reap verdict; `release` frees its worker (once the delete is accepted, or at the end). */
  private async reap(k: string, verdict: Verdict, release: () => void): Promise<void> {
    const pod = this.caches.pods.get(k);
    const config = this.o.config();
    const since = Date.now();
    const cluster = this.o.reap.cluster;
    const result = await reapLeftover(verdict, this.firstSeenOf(verdict.uid), {
      ...this.o.reap,
      cluster: {
        getPod: (ns, name) => cluster.getPod(ns, name),
        getWorkflow: (ns, name) => this.readWorkflowShared(ns, name, since),
        deletePod: (ns, name, uid, grace, resourceVersion) => cluster.deletePod(ns, name, uid, grace, resourceVersion),
        // Events go out after the deletes, in the background: a burst does not wait for its Events.
        event: async (target, type, reason, message) => this.queueEvent(() => cluster.event(target, type, reason, message)),
      },
      log: this.o.log,
      metrics: this.o.metrics,
      config: this.o.config,
      ...(pod ? { cachedPod: pod } : {}),
      onDeleteAccepted: () => {
        this.verifying.add(k);
        release();
      },
      awaitGone: (p, deadline) => this.awaitGone(p, deadline),
    });
    switch (result.outcome) {
      case 'rate-limited':
        this.due.add(k, result.retryAt ?? Date.now() + 1000);
        break;
      case 'error': {
        const n = (this.failures.get(k) ?? 0) + 1;
        this.failures.set(k, n);
        this.due.add(k, Date.now() + backoffMs(n));
        break;
      }
      case 'would-reap':
        this.reportedWouldReap.add(verdict.uid);
        break;
      case 'stuck':
        this.stuck.add(k);
        this.o.metrics.stuck.set(this.stuck.size);
        // Looked at again on the next resync; a pod held by a finalizer is reported, never stripped.
        this.due.add(k, Date.now() + config.resyncSeconds * 1000);
        break;
      default:
        this.failures.delete(k);
    }
  }

  /**
   * A fresh read of a Workflow. Pods of one Workflow due together share one read, but only a read issued
   * at or after `since` (when the caller's reap started, after its cached decision): never an older one.
   */
  private readWorkflowShared(namespace: string, name: string, since: number): Promise<unknown | undefined> {
    const wk = podKey(namespace, name);
    const shared = this.workflowReads.get(wk);
    if (shared && shared.issuedAt >= since) return shared.read;
    const entry = { issuedAt: Date.now(), read: this.o.reap.cluster.getWorkflow(namespace, name) };
    this.workflowReads.set(wk, entry);
    const done = () => {
      if (this.workflowReads.get(wk) === entry) this.workflowReads.delete(wk);
    };
    entry.read.then(done, done);
    return entry.read;
  }

  private queueEvent(write: () => Promise<void>): void {
    this.eventQueue.push(write);
    this.drainEvents();
  }

  /**
   * Writes queued Events while no reap holds a worker: in a burst the API server's time goes to the
   * reads and deletes first, and the Events follow right after (sooner if very many are waiting).
   */
  private drainEvents(): void {
    const limit = this.o.eventWorkers ?? 4;
    if ((this.active > 0 || this.reapQueue.size > 0) && this.eventQueue.length < 1000 && !this.stopped) return;
    while (this.eventsActive < limit && this.eventQueue.length) {
      const write = this.eventQueue.shift()!;
      this.eventsActive++;
      void write()
        .catch((err: unknown) => this.log.debug({ err: apiErrorMessage(err) }, 'event not recorded'))
        .finally(() => {
          this.eventsActive--;
          this.drainEvents();
        });
    }
  }

  /**
   * Resolves true when the pod watch (or a relist) says this pod (by uid) is gone, false when the cache
   * dropped it for another reason, the reaper stops, or the deadline passes.
   */
  private awaitGone(pod: PodState, deadline: number): Promise<boolean> {
    if (this.stopped || this.caches.pods.get(podKey(pod.namespace, pod.name))?.uid !== pod.uid) return Promise.resolve(false);
    return new Promise((resolve) => {
      let waiters = this.goneWaiters.get(pod.uid);
      if (!waiters) this.goneWaiters.set(pod.uid, (waiters = new Set()));
      const done = (gone: boolean) => {
        clearTimeout(timer);
        waiters.delete(done);
        if (waiters.size === 0 && this.goneWaiters.get(pod.uid) === waiters) this.goneWaiters.delete(pod.uid);
        resolve(gone);
      };
      const timer = setTimeout(() => done(false), Math.max(0, deadline - Date.now()));
      timer.unref();
      waiters.add(done);
    });
  }
}
