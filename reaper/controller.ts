// The reaper's loop: caches of daemon pods and Workflows (trimmed to what decide reads) → a queue of
// pods due for a decision → core/leftover/decide → reapLeftover for each leftover, on the leader only.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { argo } from '../core/keys.ts';
import { nodePhases, readWorkflow, reduceNode, type NodePhase, type NodeState, type WorkflowState } from '../core/argo/status.ts';
import { isDryRun, type ReaperConfig } from '../core/leftover/config.ts';
import { decide, type Verdict } from '../core/leftover/decide.ts';
import { readPod, type PodState } from '../core/leftover/pod.ts';
import type { Reason } from '../core/leftover/reasons.ts';
import { apiErrorMessage } from '../runtime/kube.ts';
import { InformerGroup } from './informer.ts';
import type { ReaperMetrics } from './metrics.ts';
import { reapLeftover, type ReapDeps } from './reap.ts';

export interface ReaperOptions {
  kc: KubeConfig;
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
  /** Silence on a watch longer than this is a stall (the API server bookmarks about once a minute). */
  watchSilenceSeconds?: number;
}

const key = (namespace: string, name: string) => `${namespace}/${name}`;
const objectKey = (raw: unknown) => {
  const m = (raw as { metadata?: { namespace?: string; name?: string } })?.metadata;
  return key(m?.namespace ?? '', m?.name ?? '');
};

/** Node phases as shared constants: one copy of "Succeeded" for every node, not one each. */
const phases = new Map<string, NodePhase>(nodePhases.map((p) => [p, p]));

/**
 * One copy of each short string that repeats across Workflows (template names, namespaces): kept
 * in memory once, not once per node. Bounded, so names that never repeat cannot grow it for ever.
 */
const shared = new Map<string, string>();
function intern(value: string): string;
function intern(value: string | undefined): string | undefined;
function intern(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const known = shared.get(value);
  if (known !== undefined) return known;
  if (shared.size < 20_000) shared.set(value, value);
  return value;
}

/** Shares the strings that repeat within one Workflow's nodes (boundary ids are other nodes' ids) and across Workflows. */
function compact(nodes: ReadonlyMap<string, NodeState>): void {
  for (const node of nodes.values()) {
    node.phase = phases.get(node.phase) ?? '';
    const boundary = node.boundaryID ? nodes.get(node.boundaryID) : undefined;
    if (boundary) node.boundaryID = boundary.id;
    if (node.templateName !== undefined) node.templateName = intern(node.templateName);
  }
}

/** A node map given member by member ([node id, JSON text]), reduced as readWorkflow reduces it. */
export function nodeMap(members: [string, string][]): Map<string, NodeState> {
  const out = new Map<string, NodeState>();
  for (const [id, text] of members) {
    const node = reduceNode(id, JSON.parse(text));
    if (node) out.set(id, node);
  }
  compact(out);
  return out;
}

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
  /**
   * Pods whose delete was accepted and that are now being verified: they stay in flight (never decided
   * twice at once) but no longer hold one of the workers, so a burst of leftovers is deleted at the
   * pace of fresh reads and deletes, not of pods taking their grace period to go.
   */
  private readonly verifying = new Set<string>();
  /** Verifications waiting for the pod watch to say a pod (by uid) is gone (true) or dropped (false). */
  private readonly goneWaiters = new Map<string, Set<(gone: boolean) => void>>();
  /** Pod keys whose verdict is reap, waiting for a worker, in the order they became due. */
  private readonly reapQueue = new Set<string>();
  /** Reaps holding a worker (fresh reads and delete). */
  private active = 0;
  /** The one timer for the next due pod, and when it fires. */
  private wake: NodeJS.Timeout | undefined;
  private wakeAt = Infinity;
  private runScheduled = false;
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
  /** The cached verdict of each pod in reapQueue. */
  private readonly pendingVerdict = new Map<string, Verdict>();
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
        onDelete: (k, last, gone) => this.forgetPod(k, last, gone),
        onSynced: () => this.schedule(Date.now()),
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
        // From a list, the node map arrives member by member (see ListSplitter): parsed one node at a
        // time, it leaves no garbage behind, where parsing the map whole would.
        members: ['status', 'nodes'],
        trim: (raw, members) => {
          const wf = readWorkflow(raw);
          if (!wf.ok) return undefined;
          const nodes = wf.value.nodes;
          if (members && nodes.kind === 'nodes' && nodes.source === 'inline') wf.value.nodes = { kind: 'nodes', source: 'inline', nodes: nodeMap(members) };
          else if (nodes.kind === 'nodes') compact(nodes.nodes);
          wf.value.namespace = intern(wf.value.namespace);
          wf.value.instanceId = intern(wf.value.instanceId);
          return wf.value;
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
    // Due pods are run by a timer set for the earliest of them (schedule); this slow tick is only a
    // safety net (and what refreshes the gauges).
    this.timer = setInterval(() => this.tick(), 1000);
    this.timer.unref();
    await this.workflows.start();
    await this.pods.start();
    this.enqueueAll();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.wake);
    for (const waiters of this.goneWaiters.values()) for (const resolve of waiters) resolve(false);
    this.goneWaiters.clear();
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

  private forgetPod(k: string, last: PodState | undefined, gone: boolean): void {
    this.due.delete(k);
    if (this.reapQueue.delete(k)) {
      this.inFlight.delete(k);
      this.pendingVerdict.delete(k);
    }
    this.failures.delete(k);
    this.lastVerdict.delete(k);
    this.stuck.delete(k);
    this.o.metrics.stuck.set(this.stuck.size);
    if (last) {
      for (const resolve of this.goneWaiters.get(last.uid) ?? []) resolve(gone);
      this.goneWaiters.delete(last.uid);
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
    this.schedule(now);
  }

  private enqueue(k: string, at: number): void {
    const current = this.due.get(k);
    if (current === undefined || at < current) {
      this.due.set(k, at);
      this.schedule(at);
    }
  }

  /** Makes sure the due pods are run at `at` (a burst of events due now is run in one pass). */
  private schedule(at: number): void {
    if (this.stopped) return;
    const now = Date.now();
    if (at <= now) {
      if (this.runScheduled) return;
      this.runScheduled = true;
      setImmediate(() => {
        this.runScheduled = false;
        this.runDue();
      });
      return;
    }
    if (at >= this.wakeAt) return;
    clearTimeout(this.wake);
    this.wakeAt = at;
    this.wake = setTimeout(() => {
      this.wakeAt = Infinity;
      this.wake = undefined;
      this.runDue();
    }, at - now);
    this.wake.unref();
  }

  private tick(): void {
    this.runDue();
    if (this.ready()) this.updateGauges();
  }

  /**
   * Decides every pod that is due (decisions read only the caches: no worker, no API call), queues the
   * reaps, hands them to free workers, and sets the timer for the next pod due.
   */
  private runDue(): void {
    if (this.stopped || !this.ready()) return;
    if (!this.synced) {
      this.synced = true;
      this.log.info({ pods: this.pods.size, workflows: this.workflows.size }, 'caches synced');
    }
    const now = Date.now();
    let next = Infinity;
    for (const [k, at] of this.due) {
      if (at > now) {
        next = Math.min(next, at);
        continue;
      }
      // In flight: decided again when its reap ends (pump re-schedules it then).
      if (this.inFlight.has(k)) continue;
      this.due.delete(k);
      this.decideOne(k);
    }
    this.pump();
    if (next < Infinity) this.schedule(next);
  }

  /** Starts queued reaps while workers are free. */
  private pump(): void {
    const workers = this.workers();
    if (!this.leading) {
      // Leadership lost: queued reaps are dropped; the next leader decides them again.
      for (const k of this.reapQueue) {
        this.inFlight.delete(k);
        this.pendingVerdict.delete(k);
      }
      this.reapQueue.clear();
      if (this.active === 0) this.drainEvents();
      return;
    }
    for (const k of this.reapQueue) {
      if (this.active >= workers || this.stopped) break;
      this.reapQueue.delete(k);
      const verdict = this.pendingVerdict.get(k);
      this.pendingVerdict.delete(k);
      if (!verdict) {
        this.inFlight.delete(k);
        continue;
      }
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
        const at = this.due.get(k);
        if (at !== undefined) this.schedule(at);
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
    this.o.metrics.cached.set({ informer: 'pods' }, this.pods.size);
    this.o.metrics.cached.set({ informer: 'workflows' }, this.workflows.size);
  }

  private firstSeenOf(uid: string) {
    return (reason: Reason) => this.firstSeen.get(uid)?.get(reason);
  }

  /** One decision on the caches; a reap verdict (on the leader) is queued for a worker. */
  private decideOne(k: string): void {
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
    this.inFlight.add(k);
    this.pendingVerdict.set(k, verdict);
    this.reapQueue.add(k);
  }

  /** Carries out one reap verdict; `release` frees its worker (once the delete is accepted, or at the end). */
  private async reap(k: string, verdict: Verdict, release: () => void): Promise<void> {
    const pod = this.pods.get(k);
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
        this.enqueue(k, result.retryAt ?? Date.now() + 1000);
        break;
      case 'error': {
        const n = (this.failures.get(k) ?? 0) + 1;
        this.failures.set(k, n);
        this.enqueue(k, Date.now() + Math.min(300_000, 1000 * 2 ** Math.min(n, 8)));
        break;
      }
      case 'would-reap':
        this.reportedWouldReap.add(verdict.uid);
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

  /**
   * A fresh read of a Workflow. Pods of one Workflow due together share one read, but only a read issued
   * at or after `since` (when the caller's reap started, after its cached decision): never an older one.
   */
  private readWorkflowShared(namespace: string, name: string, since: number): Promise<unknown | undefined> {
    const wk = key(namespace, name);
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
    if (this.stopped || this.pods.get(key(pod.namespace, pod.name))?.uid !== pod.uid) return Promise.resolve(false);
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

  private inDryRun(pod: PodState, config: ReaperConfig): boolean {
    return this.o.reap.dryRunFlag || isDryRun(config, pod.namespace) || this.o.reap.breaker.tripped;
  }
}
