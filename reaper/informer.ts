// A list/watch cache that keeps only what the decision reads. client-node's makeInformer keeps whole
// objects, has no resync and stops on the first error (contracts §8); this one trims each object as it
// arrives, relists periodically, restarts with backoff on any error, and restarts a watch that has
// been silent too long (a stalled watch looks exactly like an idle cluster otherwise).
import type { KubeConfig } from '@kubernetes/client-node';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { RequestContext, HttpMethod } from '@kubernetes/client-node/dist/gen/http/http.js';
import { fetch } from 'undici';
import type { Logger } from 'pino';

export interface InformerOptions<T> {
  name: string;
  /** e.g. /api/v1/pods or /apis/argoproj.io/v1alpha1/workflows (or a namespaced path). */
  path: string;
  labelSelector?: string;
  /** Reduce a raw object to what is kept, or undefined to not keep it at all. */
  trim: (raw: unknown) => T | undefined;
  key: (raw: unknown) => string;
  onUpsert: (key: string, value: T) => void;
  onDelete: (key: string, last: T | undefined) => void;
  /** Called after every full list, with the keys seen, so the owner can drop what vanished. */
  onSynced?: () => void;
  resyncSeconds: number;
  /** With bookmarks the API server speaks at least about once a minute; longer silence is a stall. */
  silenceSeconds: number;
  pageSize?: number;
}

interface ListPage {
  metadata?: { resourceVersion?: string; continue?: string };
  items?: unknown[];
}

async function kubeFetch(kc: KubeConfig, path: string, query: Record<string, string>, signal?: AbortSignal) {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const url = new URL(cluster.server + path);
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
  const ctx = new RequestContext(url.toString(), HttpMethod.GET);
  await kc.applySecurityAuthentication(ctx);
  const res = await fetch(url, { headers: ctx.getHeaders(), dispatcher: ctx.getDispatcher() as never, signal: signal ?? null });
  if (!res.ok) {
    const err = new Error(`GET ${path}: HTTP ${res.status} ${(await res.text()).slice(0, 200)}`) as Error & { statusCode: number };
    err.statusCode = res.status;
    throw err;
  }
  return res;
}

export async function kubeGetJson(kc: KubeConfig, path: string, query: Record<string, string>, signal?: AbortSignal): Promise<unknown> {
  return JSON.parse(await (await kubeFetch(kc, path, query, signal)).text());
}

export interface WatchEvent {
  type: string;
  object: unknown;
}

/**
 * One watch request: events go to onEvent until the server ends it (resolve), or it fails or
 * stays silent past silenceMs (reject). The caller decides what comes next.
 */
export async function watchOnce(
  kc: KubeConfig,
  path: string,
  query: Record<string, string>,
  silenceMs: number,
  onEvent: (e: WatchEvent) => void,
  abort: AbortController,
): Promise<void> {
  let silent: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(silent);
    silent = setTimeout(() => abort.abort(new Error(`watch silent for ${silenceMs} ms`)), silenceMs);
    silent.unref();
  };
  arm();
  try {
    const res = await kubeFetch(kc, path, { ...query, watch: 'true' }, abort.signal);
    const lines = createInterface(Readable.fromWeb(res.body as never));
    for await (const line of lines) {
      arm();
      if (!line.trim()) continue;
      let event: WatchEvent;
      try {
        event = JSON.parse(line) as WatchEvent;
      } catch {
        throw new Error(`watch sent a line that is not JSON: ${line.slice(0, 80)}`);
      }
      onEvent(event);
    }
  } catch (err) {
    throw abort.signal.aborted && abort.signal.reason instanceof Error ? abort.signal.reason : err;
  } finally {
    clearTimeout(silent);
  }
}

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
  /** Counts for /metrics and the watchdog: lists, watch restarts, errors. */
  readonly stats = { lists: 0, watchStarts: 0, errors: 0, stalls: 0 };
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
    this.timers.push(setInterval(() => void this.restart('resync'), this.o.resyncSeconds * 1000));
    for (const t of this.timers) t.unref();
    try {
      await this.listAndWatch();
    } catch (err) {
      this.stats.errors++;
      void this.restart(`first list failed: ${(err as Error).message}`, true);
    }
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.abortWatch?.();
  }

  private async list(): Promise<void> {
    const seen = new Set<string>();
    let cont = '';
    let rv = '';
    do {
      const query: Record<string, string> = { limit: String(this.o.pageSize ?? 500) };
      if (this.o.labelSelector) query.labelSelector = this.o.labelSelector;
      if (cont) query.continue = cont;
      const page = (await kubeGetJson(this.kc, this.o.path, query)) as ListPage;
      for (const raw of page.items ?? []) {
        const key = this.o.key(raw);
        const value = this.o.trim(raw);
        if (value === undefined) continue;
        seen.add(key);
        this.store.set(key, value);
        this.o.onUpsert(key, value);
      }
      cont = page.metadata?.continue ?? '';
      rv = page.metadata?.resourceVersion ?? rv;
    } while (cont);
    for (const [key, last] of this.store) {
      if (!seen.has(key)) {
        this.store.delete(key);
        this.o.onDelete(key, last);
      }
    }
    this.resourceVersion = rv;
    this.stats.lists++;
    this.synced = true;
    this.lastHeardAt = Date.now();
    this.o.onSynced?.();
  }

  /** Watches until the server ends the request (then resumes) or it fails (then relists). */
  private async watch(): Promise<void> {
    this.stats.watchStarts++;
    const abort = new AbortController();
    this.abortWatch = () => abort.abort(new Error('stopped'));
    const query: Record<string, string> = {
      resourceVersion: this.resourceVersion,
      allowWatchBookmarks: 'true',
      // The server ends a quiet watch before the silence limit, so silence past it means a stall.
      timeoutSeconds: String(Math.max(30, this.o.silenceSeconds - 15)),
    };
    if (this.o.labelSelector) query.labelSelector = this.o.labelSelector;
    const run = watchOnce(this.kc, this.o.path, query, this.o.silenceSeconds * 1000, (e) => this.onEvent(e), abort);
    run.then(
      () => {
        if (!this.stopped && !this.restarting) void this.resumeWatch();
      },
      (err: Error) => {
        if (this.stopped || this.restarting) return;
        this.stats.errors++;
        if (/silent/.test(err.message)) this.stats.stalls++;
        void this.restart(`watch ended: ${err.message}`, true);
      },
    );
  }

  private onEvent({ type, object }: WatchEvent): void {
    this.lastHeardAt = Date.now();
    const rv = (object as { metadata?: { resourceVersion?: string } })?.metadata?.resourceVersion;
    if (type === 'BOOKMARK') {
      if (rv) this.resourceVersion = rv;
      return;
    }
    if (type === 'ERROR') {
      const code = (object as { code?: number })?.code;
      void this.restart(code === 410 ? 'resourceVersion expired' : `watch error ${code ?? ''}`, code !== 410);
      return;
    }
    if (rv) this.resourceVersion = rv;
    const key = this.o.key(object);
    const value = type === 'DELETED' ? undefined : this.o.trim(object);
    if (value === undefined) {
      if (this.store.has(key) || type === 'DELETED') {
        const last = this.store.get(key);
        this.store.delete(key);
        this.o.onDelete(key, last);
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
      await this.restart(`watch failed: ${(err as Error).message}`, true);
    }
  }

  private async listAndWatch(): Promise<void> {
    await this.list();
    await this.watch();
    this.failures = 0;
  }

  /** Relist and rewatch; after an error, back off exponentially (1 s … 60 s) first. */
  async restart(why: string, isError = false): Promise<void> {
    if (this.stopped || this.restarting) return;
    this.restarting = true;
    this.abortWatch?.();
    if (isError) this.failures++;
    try {
      while (!this.stopped) {
        const delay = isError || this.failures > 0 ? Math.min(60_000, 1000 * 2 ** Math.min(this.failures, 6)) : 0;
        if (why !== 'resync') this.log.warn({ why, delayMs: delay, failures: this.failures }, 'restarting list/watch');
        if (delay) await new Promise((r) => setTimeout(r, delay).unref());
        try {
          await this.listAndWatch();
          return;
        } catch (err) {
          this.stats.errors++;
          this.failures++;
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

  get stats() {
    return this.members.map((m) => ({ informer: m.informer, namespace: m.namespace }));
  }

  async start(): Promise<void> {
    for (const m of this.members) await m.informer.start();
  }

  stop(): void {
    for (const m of this.members) m.informer.stop();
  }

  async restart(why: string, isError = false): Promise<void> {
    for (const m of this.members) await m.informer.restart(why, isError);
  }
}
