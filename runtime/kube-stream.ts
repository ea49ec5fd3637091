// Lists and watches read as they stream in: a list's items one by one, a watch's events line by line,
// each parsed on its own, so a list of 10,000 Workflows is never held whole, as text or as objects.
import type { KubeConfig } from '@kubernetes/client-node';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { kubeFetch } from './kube.ts';

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

