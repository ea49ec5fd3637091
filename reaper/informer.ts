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
  resyncSeconds: number;
  /** With bookmarks the API server speaks at least about once a minute; longer silence is a stall. */
  silenceSeconds: number;
  pageSize?: number;
}

async function kubeFetch(kc: KubeConfig, path: string, query: Record<string, string>, signal?: AbortSignal, o: { method?: 'GET' | 'DELETE'; body?: unknown } = {}) {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const url = new URL(cluster.server + path);
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
  const method = o.method ?? 'GET';
  const ctx = new RequestContext(url.toString(), method === 'GET' ? HttpMethod.GET : HttpMethod.DELETE);
  await kc.applySecurityAuthentication(ctx);
  const headers: Record<string, string> = { ...ctx.getHeaders(), accept: 'application/json' };
  if (o.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(url, {
    method,
    headers,
    dispatcher: ctx.getDispatcher() as never,
    signal: signal ?? null,
    ...(o.body !== undefined ? { body: JSON.stringify(o.body) } : {}),
  });
  if (!res.ok) {
    const err = new Error(`${method} ${path}: HTTP ${res.status} ${(await res.text()).slice(0, 200)}`) as Error & { statusCode: number };
    err.statusCode = res.status;
    throw err;
  }
  return res;
}

/** A call that is not a list or a watch: its JSON answer, or undefined for a 404. */
export async function kubeCall(kc: KubeConfig, method: 'GET' | 'DELETE', path: string, body?: unknown): Promise<unknown | undefined> {
  try {
    return JSON.parse(await (await kubeFetch(kc, path, {}, undefined, { method, body })).text());
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return undefined;
    throw err;
  }
}

/** The HTTP status of a failed kubeCall or kubeGetJson. */
export function httpStatus(err: unknown): number | undefined {
  return (err as { statusCode?: number } | undefined)?.statusCode;
}

export async function kubeGetJson(kc: KubeConfig, path: string, query: Record<string, string>, signal?: AbortSignal): Promise<unknown> {
  return JSON.parse(await (await kubeFetch(kc, path, query, signal)).text());
}

const quote = 0x22;
const backslash = 0x5c;
const openBrace = 0x7b;
const closeBrace = 0x7d;
const openBracket = 0x5b;
const closeBracket = 0x5d;

/** A map inside each item whose members are handed over as text, e.g. ['status', 'nodes']. */
export type MemberPath = readonly [string, string];

/**
 * Splits a JSON list (`{"metadata":{…},"items":[{…},{…}]}`) as it streams in: each item of the
 * top-level `items` array goes to onItem, parsed on its own, as soon as its last byte is in; what is not
 * an item (kind, metadata with continue and resourceVersion) is parsed at the end. Only the bytes of one
 * item (and one chunk) are held at a time. Structural bytes are ASCII, so scanning the UTF-8 bytes is
 * exact; strings are skipped with indexOf.
 *
 * Two parts of an item are never parsed as objects: metadata.managedFields (left as []) and, when
 * `members` is given, that map (left as {}; its object members go to onItem as [key, JSON text] pairs).
 * Both are maps keyed by names unique to the object (node ids, "f:<node id>"): V8 builds a hidden class
 * per key it has not seen, and those outlive the object, so parsing 10,000 Workflows whole grows the
 * heap by far more than what is kept of them.
 */
export class ListSplitter {
  private depth = 0;
  private inString = false;
  /** A backslash inside a string was the last byte of the previous chunk. */
  private escaped = false;
  private inItems = false;
  /** Bytes of the top level other than the items (parsed at the end), and of the open item so far. */
  private readonly skeleton: Buffer[] = [];
  private readonly item: Buffer[] = [];
  private itemOpen = false;
  /** Inside a part of the item left out of its text (managedFields, the member map). */
  private cutting = false;
  /** The key of the member being read, by depth (kept for depths 1, 3, 4 and 5 only). */
  private readonly keys: string[] = [];
  private pendingKey = '';
  private inKey = false;
  private readonly keyParts: Buffer[] = [];
  private inMembers = false;
  private memberOpen = false;
  private readonly member: Buffer[] = [];
  private members: [string, string][] | undefined;
  private readonly onItem: (raw: unknown, members: [string, string][] | undefined) => void;
  private readonly path: MemberPath | undefined;

  constructor(onItem: (raw: unknown, members: [string, string][] | undefined) => void, members?: MemberPath) {
    this.onItem = onItem;
    this.path = members;
  }

  private captures(depth: number): boolean {
    return depth === 1 || depth === 3 || depth === 4 || (depth === 5 && this.inMembers);
  }

  push(chunk: Buffer): void {
    const n = chunk.length;
    let i = 0;
    let itemFrom = this.itemOpen && !this.cutting ? 0 : -1;
    let memberFrom = this.memberOpen ? 0 : -1;
    let keyFrom = this.inKey ? 0 : -1;
    let skeletonFrom = this.inItems ? -1 : 0;
    if (this.escaped && n > 0) {
      this.escaped = false;
      i = 1;
    }
    while (i < n) {
      if (this.inString) {
        const q = chunk.indexOf(quote, i);
        const bs = q === -1 ? chunk.indexOf(backslash, i) : chunk.subarray(i, q).indexOf(backslash);
        if (bs !== -1) {
          const at = q === -1 ? bs : i + bs;
          // An escape: skip the escaped byte, which may be the first of the next chunk.
          if (at + 1 >= n) {
            this.escaped = true;
            i = n;
          } else i = at + 2;
          continue;
        }
        if (q === -1) {
          i = n;
          continue;
        }
        this.inString = false;
        if (keyFrom !== -1) {
          this.keyParts.push(chunk.subarray(keyFrom, q));
          const raw = this.keyParts.length === 1 ? this.keyParts[0]!.toString('utf8') : Buffer.concat(this.keyParts).toString('utf8');
          // As written between the quotes: escapes (rare in keys) are decoded by JSON itself.
          this.pendingKey = raw.includes('\\') ? (JSON.parse(`"${raw}"`) as string) : raw;
          this.keyParts.length = 0;
          this.inKey = false;
          keyFrom = -1;
        }
        i = q + 1;
        continue;
      }
      const c = chunk[i]!;
      if (c === quote) {
        this.inString = true;
        if (this.captures(this.depth)) {
          this.inKey = true;
          keyFrom = i + 1;
        }
      } else if (c === 0x3a) {
        // ':' — the string just read was a key.
        this.keys[this.depth] = this.pendingKey;
      } else if (c === openBrace || c === openBracket) {
        this.depth++;
        this.keys[this.depth] = '';
        if (this.inItems && this.depth === 3) {
          this.itemOpen = true;
          itemFrom = i;
          this.members = undefined;
        } else if (this.depth === 2 && c === openBracket && this.keys[1] === 'items') {
          // The skeleton keeps "items":[ and the closing ], never an item.
          this.inItems = true;
          this.skeleton.push(chunk.subarray(skeletonFrom, i + 1));
          skeletonFrom = -1;
        } else if (this.itemOpen && this.depth === 5 && !this.cutting) {
          const isMembers = c === openBrace && this.path !== undefined && this.keys[3] === this.path[0] && this.keys[4] === this.path[1];
          if (isMembers || (c === openBracket && this.keys[3] === 'metadata' && this.keys[4] === 'managedFields')) {
            this.item.push(chunk.subarray(itemFrom, i + 1));
            itemFrom = -1;
            this.cutting = true;
            if (isMembers) {
              this.inMembers = true;
              this.members = [];
            }
          }
        } else if (this.inMembers && this.depth === 6 && c === openBrace) {
          this.memberOpen = true;
          memberFrom = i;
        }
      } else if (c === closeBrace || c === closeBracket) {
        if (this.memberOpen && this.depth === 6) {
          this.member.push(chunk.subarray(memberFrom, i + 1));
          const text = this.member.length === 1 ? this.member[0]!.toString('utf8') : Buffer.concat(this.member).toString('utf8');
          this.member.length = 0;
          this.memberOpen = false;
          memberFrom = -1;
          this.members!.push([this.keys[5] ?? '', text]);
        } else if (this.cutting && this.depth === 5) {
          this.cutting = false;
          this.inMembers = false;
          itemFrom = i;
        } else if (this.itemOpen && this.depth === 3) {
          this.item.push(chunk.subarray(itemFrom, i + 1));
          const text = this.item.length === 1 ? this.item[0]!.toString('utf8') : Buffer.concat(this.item).toString('utf8');
          this.item.length = 0;
          this.itemOpen = false;
          itemFrom = -1;
          const members = this.members;
          this.members = undefined;
          this.onItem(JSON.parse(text), members);
        } else if (this.inItems && this.depth === 2) {
          this.inItems = false;
          skeletonFrom = i;
        }
        this.depth--;
      }
      i++;
    }
    if (this.itemOpen && itemFrom !== -1) this.item.push(chunk.subarray(itemFrom));
    if (this.memberOpen) this.member.push(chunk.subarray(memberFrom));
    if (this.inKey && keyFrom !== -1) this.keyParts.push(chunk.subarray(keyFrom));
    if (skeletonFrom !== -1) this.skeleton.push(chunk.subarray(skeletonFrom));
  }

  /** The list without its items, parsed. */
  end(): { metadata?: { resourceVersion?: string; continue?: string } } {
    if (this.depth !== 0 || this.inString || this.itemOpen) throw new Error('the list response ended in the middle of its JSON');
    return JSON.parse(Buffer.concat(this.skeleton).toString('utf8')) as { metadata?: { resourceVersion?: string; continue?: string } };
  }
}

/** One page of a list, item by item (see ListSplitter); returns the list's metadata. */
export async function listPage(
  kc: KubeConfig,
  path: string,
  query: Record<string, string>,
  onItem: (raw: unknown, members: [string, string][] | undefined) => void,
  members?: MemberPath,
): Promise<{ resourceVersion?: string; continue?: string } | undefined> {
  const res = await kubeFetch(kc, path, query);
  const splitter = new ListSplitter(onItem, members);
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    splitter.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  }
  return splitter.end().metadata;
}

export interface WatchEvent {
  type: string;
  object: unknown;
  /** With `members`: that map of the object, member by member (the object has it empty). */
  members?: [string, string][];
}

/**
 * One watch line → its event. With `members`, the object's map at that path is taken apart as a listed
 * item's is (ListSplitter), so events keep no more garbage than lists. The API server writes each
 * event as {"type":…,"object":{…}}; a line of another shape is parsed whole.
 */
export function parseWatchLine(line: string, members?: MemberPath): WatchEvent {
  const head = '{"type":"';
  const mid = '","object":';
  if (members && line.startsWith(head) && line.endsWith('}')) {
    const typeEnd = line.indexOf('"', head.length);
    if (typeEnd > 0 && line.startsWith(mid, typeEnd) && line[typeEnd + mid.length] === '{') {
      const type = line.slice(head.length, typeEnd);
      let event: WatchEvent | undefined;
      const splitter = new ListSplitter((object, m) => (event = m ? { type, object, members: m } : { type, object }), members);
      splitter.push(Buffer.from(`{"items":[${line.slice(typeEnd + mid.length, -1)}]}`, 'utf8'));
      splitter.end();
      if (event) return event;
    }
  }
  return JSON.parse(line) as WatchEvent;
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
  members?: MemberPath,
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
        event = parseWatchLine(line, members);
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
    const run = watchOnce(this.kc, this.o.path, query, this.o.silenceSeconds * 1000, (e) => this.onEvent(e), abort, this.o.members);
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

  private onEvent({ type, object, members }: WatchEvent): void {
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
