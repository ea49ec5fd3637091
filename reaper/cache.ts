// A list/watch cache that keeps only what the decision reads. client-node's makeInformer keeps whole
// objects, has no resync and stops on the first error; this one trims each object as it arrives,
// relists periodically, restarts with backoff on any error, and restarts a watch that has been silent
// too long (a stalled watch looks exactly like an idle cluster otherwise).
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { argo } from '../core/keys.ts';
import { nodePhases, readWorkflow, reduceNode, type NodePhase, type NodeState, type WorkflowState } from '../core/argo/status.ts';
import type { ReaperConfig } from '../core/leftover/config.ts';
import { readPod, type PodState } from '../core/leftover/pod.ts';
import { listPage, watchOnce, type MemberPath, type WatchEvent } from '../runtime/kube-stream.ts';

export interface InformerOptions<T> {
  name: string;
  /** e.g. /api/v1/pods or /apis/argoproj.io/v1alpha1/workflows (or a namespaced path). */
  path: string;
  labelSelector?: string;
  /**
   * Reduce a raw object to what is kept, or undefined to not keep it at all. From a list, the map at
   * `members` comes apart: `raw` has it empty and `members` holds its object members as JSON text.
   */
  trim: (raw: unknown, members?: [string, string][]) => T | undefined;
  /** A map of each listed object handed to trim member by member (see ListSplitter). */
  members?: MemberPath;
  key: (raw: unknown) => string;
  onUpsert: (key: string, value: T) => void;
  /**
   * The object left the cache: `gone` when the API server says it no longer exists (a DELETED event,
   * or a relist without it), false when it is still there but no longer kept (trim said undefined).
   */
  onDelete: (key: string, last: T | undefined, gone: boolean) => void;
  /** Called after every full list, with the keys seen, so the owner can drop what vanished. */
  onSynced?: () => void;
  /** Called on every relist that is not the first: why the list/watch starts over (each retry counts). */
  onRestart?: (informer: string, cause: RestartCause) => void;
  resyncSeconds: number;
  /** With bookmarks the API server speaks at least about once a minute; longer silence is a stall. */
  silenceSeconds: number;
  pageSize?: number;
}

/** Why a list/watch starts over: the periodic resync, an error, a silent watch, an expired resourceVersion. */
export type RestartCause = 'resync' | 'error' | 'silent' | 'expired';

export class TrimmedInformer<T> {
  private readonly store = new Map<string, T>();
  private readonly o: InformerOptions<T>;
  private readonly kc: KubeConfig;
  private readonly log: Logger;
  private resourceVersion = '';
  private stopped = false;
  private abortWatch: (() => void) | undefined;
  /** When the API server last spoke on this informer (list, event or bookmark): readiness reads it. */
  lastHeardAt = 0;
  private failures = 0;
  private timers: NodeJS.Timeout[] = [];
  private restarting = false;
  synced = false;

  constructor(kc: KubeConfig, o: InformerOptions<T>, log: Logger) {
    this.kc = kc;
    this.o = o;
    this.log = log.child({ component: 'informer', informer: o.name });
  }

  get(key: string): T | undefined {
    return this.store.get(key);
  }

  values(): IterableIterator<T> {
    return this.store.values();
  }

  get size(): number {
    return this.store.size;
  }

  /**
   * Lists and watches; resolves once the first list is in (synced) or has failed. A failed first list
   * is retried with backoff in the background, like any later failure: the informer never gives up.
   */
  async start(): Promise<void> {
    this.timers.push(setInterval(() => void this.restart('resync', 'resync'), this.o.resyncSeconds * 1000));
    for (const t of this.timers) t.unref();
    try {
      await this.listAndWatch();
    } catch (err) {
      void this.restart('error', `first list failed: ${(err as Error).message}`);
    }
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.abortWatch?.();
  }

  private async list(): Promise<void> {
    // Keys kept from this list, and keys listed at all: what is in the store but was not listed is
    // gone; what was listed but trimmed away is merely no longer kept.
    const seen = new Set<string>();
    const listed = new Set<string>();
    let cont = '';
    let rv = '';
    do {
      const query: Record<string, string> = { limit: String(this.o.pageSize ?? 500) };
      if (this.o.labelSelector) query.labelSelector = this.o.labelSelector;
      if (cont) query.continue = cont;
      // Item by item as the page streams in: the page is never held whole, as text or as objects, and
      // each raw item is garbage as soon as it is trimmed (it dies young instead of filling the heap).
      const meta = await listPage(this.kc, this.o.path, query, (raw, members) => {
        const key = this.o.key(raw);
        listed.add(key);
        const value = this.o.trim(raw, members);
        if (value === undefined) return;
        seen.add(key);
        this.store.set(key, value);
        this.o.onUpsert(key, value);
      }, this.o.members);
      cont = meta?.continue ?? '';
      rv = meta?.resourceVersion ?? rv;
    } while (cont);
    for (const [key, last] of this.store) {
      if (!seen.has(key)) {
        this.store.delete(key);
        this.o.onDelete(key, last, !listed.has(key));
      }
    }
    this.resourceVersion = rv;
    this.synced = true;
    this.lastHeardAt = Date.now();
    this.o.onSynced?.();
  }

  /** Watches until the server ends the request (then resumes) or it fails (then relists). */
  private async watch(): Promise<void> {
    const abort = new AbortController();
    this.abortWatch = () => abort.abort(new Error('stopped'));
    const query: Record<string, string> = {
      resourceVersion: this.resourceVersion,
      allowWatchBookmarks: 'true',
      // The server ends a quiet watch before the silence limit, so silence past it means a stall.
      timeoutSeconds: String(Math.max(30, this.o.silenceSeconds - 15)),
    };
    if (this.o.labelSelector) query.labelSelector = this.o.labelSelector;
    const run = watchOnce(this.kc, this.o.path, query, this.o.silenceSeconds * 1000, (e) => this.onEvent(e), abort, this.o.members);
    run.then(
      () => {
        if (!this.stopped && !this.restarting) void this.resumeWatch();
      },
      (err: Error) => {
        if (this.stopped || this.restarting) return;
        void this.restart(/silent/.test(err.message) ? 'silent' : 'error', `watch ended: ${err.message}`);
      },
    );
  }

  private onEvent({ type, object, members }: WatchEvent): void {
    this.lastHeardAt = Date.now();
    const rv = (object as { metadata?: { resourceVersion?: string } })?.metadata?.resourceVersion;
    if (type === 'BOOKMARK') {
      if (rv) this.resourceVersion = rv;
      return;
    }
    if (type === 'ERROR') {
      const code = (object as { code?: number })?.code;
      void this.restart(code === 410 ? 'expired' : 'error', code === 410 ? 'resourceVersion expired' : `watch error ${code ?? ''}`);
      return;
    }
    if (rv) this.resourceVersion = rv;
    const key = this.o.key(object);
    const value = type === 'DELETED' ? undefined : this.o.trim(object, members);
    if (value === undefined) {
      if (this.store.has(key) || type === 'DELETED') {
        const last = this.store.get(key);
        this.store.delete(key);
        this.o.onDelete(key, last, type === 'DELETED');
      }
      return;
    }
    this.store.set(key, value);
    this.o.onUpsert(key, value);
  }

  private async resumeWatch(): Promise<void> {
    try {
      await this.watch();
      this.failures = 0;
    } catch (err) {
      await this.restart('error', `watch failed: ${(err as Error).message}`);
    }
  }

  private async listAndWatch(): Promise<void> {
    await this.list();
    await this.watch();
    this.failures = 0;
  }

  /** Relist and rewatch; after an error, back off exponentially (1 s … 60 s) first. */
  private async restart(cause: RestartCause, why: string): Promise<void> {
    if (this.stopped || this.restarting) return;
    this.restarting = true;
    this.abortWatch?.();
    const isError = cause === 'error' || cause === 'silent';
    if (isError) this.failures++;
    try {
      while (!this.stopped) {
        const delay = isError || this.failures > 0 ? Math.min(60_000, 1000 * 2 ** Math.min(this.failures, 6)) : 0;
        if (why !== 'resync') this.log.warn({ why, delayMs: delay, failures: this.failures }, 'restarting list/watch');
        if (delay) await new Promise((r) => setTimeout(r, delay).unref());
        if (this.stopped) return;
        this.o.onRestart?.(this.o.name, cause);
        try {
          await this.listAndWatch();
          return;
        } catch (err) {
          this.failures++;
          cause = 'error';
          why = `list failed: ${(err as Error).message}`;
        }
      }
    } finally {
      this.restarting = false;
    }
  }
}

/**
 * One cache over several list/watch paths: cluster-wide, or one path per namespace when the reaper
 * is limited to named namespaces (so namespaced RBAC is enough). Keys are namespace/name.
 */
export class InformerGroup<T> {
  private readonly members: { namespace: string | undefined; informer: TrimmedInformer<T> }[];

  constructor(kc: KubeConfig, o: Omit<InformerOptions<T>, 'path'> & { path: (namespace: string | undefined) => string; namespaces: string[] | undefined }, log: Logger) {
    const scopes = o.namespaces?.length ? o.namespaces : [undefined];
    this.members = scopes.map((namespace) => ({
      namespace,
      informer: new TrimmedInformer<T>(kc, { ...o, name: namespace ? `${o.name}/${namespace}` : o.name, path: o.path(namespace) }, log),
    }));
  }

  private memberFor(key: string): TrimmedInformer<T> | undefined {
    const ns = key.slice(0, key.indexOf('/'));
    return (this.members.find((m) => m.namespace === ns) ?? this.members.find((m) => m.namespace === undefined))?.informer;
  }

  get(key: string): T | undefined {
    return this.memberFor(key)?.get(key);
  }

  *values(): IterableIterator<T> {
    for (const m of this.members) yield* m.informer.values();
  }

  get size(): number {
    return this.members.reduce((n, m) => n + m.informer.size, 0);
  }

  get synced(): boolean {
    return this.members.every((m) => m.informer.synced);
  }

  async start(): Promise<void> {
    for (const m of this.members) await m.informer.start();
  }

  stop(): void {
    for (const m of this.members) m.informer.stop();
  }
}

/** What the reconciler reads from a cache: the objects it holds by namespace/name, and whether its first list is in. */
export interface Cache<T> {
  get(key: string): T | undefined;
  values(): Iterable<T>;
  readonly size: number;
  readonly synced: boolean;
}

/** The reaper's two caches: daemon pods, and the Workflows they belong to. */
export interface ReaperCaches {
  pods: Cache<PodState>;
  workflows: Cache<WorkflowState>;
  start(): Promise<void>;
  stop(): void;
}

/** What the caches tell their owner as objects come, change and go. */
export interface CacheEvents {
  podChanged(key: string, pod: PodState): void;
  /** `last` is what the cache held; `gone` as in InformerOptions.onDelete. */
  podLeft(key: string, last: PodState | undefined, gone: boolean): void;
  podsListed(): void;
  /** A Workflow came, changed or went. */
  workflowChanged(key: string): void;
  workflowsListed(): void;
}

export interface ReaperCacheOptions {
  kc: KubeConfig;
  log: Logger;
  /** The config at start: namespaces, instance id and resync period are read once. */
  config: ReaperConfig;
  onRestart?: (informer: string, cause: RestartCause) => void;
}

export const podKey = (namespace: string, name: string) => `${namespace}/${name}`;
const objectKey = (raw: unknown) => {
  const m = (raw as { metadata?: { namespace?: string; name?: string } })?.metadata;
  return podKey(m?.namespace ?? '', m?.name ?? '');
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


/**
 * The pod and Workflow caches, trimmed to what decide reads. Named namespaces are watched one by one,
 * so Roles in those namespaces are all the reaper needs; a prefix pattern ("team-*") needs the
 * cluster-wide watch. Workflows are listed first: an empty Workflow cache would make every pod look orphaned.
 */
export function openReaperCaches(o: ReaperCacheOptions, events: CacheEvents): ReaperCaches {
  const { config } = o;
  // Silence on a watch longer than this is a stall: the API server bookmarks about once a minute.
  const silence = 150;
  const instanceSelector = config.instanceId ? `,${argo.controllerInstanceIdLabel}=${config.instanceId}` : '';
  const named = config.namespaces.length > 0 && config.namespaces.every((n) => !n.endsWith('*')) ? config.namespaces : undefined;
  const common = { namespaces: named, key: objectKey, resyncSeconds: config.resyncSeconds, silenceSeconds: silence, ...(o.onRestart ? { onRestart: o.onRestart } : {}) };
  const pods = new InformerGroup<PodState>(
    o.kc,
    {
      ...common,
      name: 'pods',
      path: (ns) => (ns ? `/api/v1/namespaces/${ns}/pods` : '/api/v1/pods'),
      // Every Argo pod, not only labeled ones: the back-fill for daemons the webhook missed. Pods that
      // are not daemons are dropped as they arrive, so only daemons stay in memory.
      labelSelector: `${argo.workflowLabel}${instanceSelector}`,
      trim: (raw) => {
        const pod = readPod(raw);
        return pod.daemon.kind === 'daemon' || pod.daemon.kind === 'unknown' ? pod : undefined;
      },
      onUpsert: (k, pod) => events.podChanged(k, pod),
      onDelete: (k, last, gone) => events.podLeft(k, last, gone),
      onSynced: () => events.podsListed(),
    },
    o.log,
  );
  const workflows = new InformerGroup<WorkflowState>(
    o.kc,
    {
      ...common,
      name: 'workflows',
      path: (ns) => `/apis/${argo.group}/${argo.version}/${ns ? `namespaces/${ns}/` : ''}${argo.resources.workflows}`,
      ...(config.instanceId ? { labelSelector: `${argo.controllerInstanceIdLabel}=${config.instanceId}` } : {}),
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
      onUpsert: (k) => events.workflowChanged(k),
      onDelete: (k) => events.workflowChanged(k),
      onSynced: () => events.workflowsListed(),
    },
    o.log,
  );
  return {
    pods,
    workflows,
    async start() {
      await workflows.start();
      await pods.start();
    },
    stop() {
      pods.stop();
      workflows.stop();
    },
  };
}
