// A set of files turned into one parsed value that follows the files as they change, keeping the last
// good value when a new version does not parse. Shared by everything that reloads without a restart:
// the webhook's policy and serving certificate, the reaper's config.
//
// Kubernetes updates ConfigMap and Secret volumes by swapping a `..data` symlink in the mount
// directory, so the file we were given never changes itself: we watch its directory, and poll slowly
// in case a watch event is lost (or the filesystem has none).
import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export type LoadEvent<T> =
  | { ok: true; value: T; initial: boolean }
  | { ok: false; error: Error; initial: boolean; /** True when an earlier good value is still in use. */ keptLastGood: boolean };

export interface WatchedStatus {
  /** True once any version parsed. */
  loaded: boolean;
  /** Outcome of the latest version seen; a failure here while `loaded` means the last good is in use. */
  lastLoadOk: boolean;
  lastError: string | undefined;
  lastSuccessAt: Date | undefined;
  lastFailureAt: Date | undefined;
}

export interface WatchedFilesOptions<T> {
  paths: string[];
  /** Turns the files' contents (same order as `paths`) into a value; throw to reject this version. */
  parse(contents: Buffer[]): T;
  /** Called once per distinct version of the files (the first load included), never for a re-read of the same bytes. */
  onLoad?(event: LoadEvent<T>): void;
  /** Slow poll behind the directory watch. */
  pollMs?: number;
  /** A swap touches several names; wait for it to settle before reading. */
  debounceMs?: number;
}

export class WatchedFiles<T> {
  readonly paths: string[];
  #opts: WatchedFilesOptions<T>;
  #value: T | undefined;
  #status: WatchedStatus = { loaded: false, lastLoadOk: false, lastError: undefined, lastSuccessAt: undefined, lastFailureAt: undefined };
  #lastSeen: string | undefined;
  #watchers = new Map<string, FSWatcher>();
  #poll: NodeJS.Timeout | undefined;
  #debounce: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #closed = false;
  #initial = true;

  private constructor(opts: WatchedFilesOptions<T>) {
    this.#opts = opts;
    this.paths = opts.paths.map((p) => resolve(p));
  }

  /** Loads the files once and starts following them; check `current()` / `status()` for the outcome. */
  static async open<T>(opts: WatchedFilesOptions<T>): Promise<WatchedFiles<T>> {
    const w = new WatchedFiles(opts);
    await w.check();
    w.#watchDirs();
    w.#poll = setInterval(() => {
      w.#watchDirs();
      void w.check();
    }, opts.pollMs ?? 10_000);
    w.#poll.unref();
    return w;
  }

  current(): T | undefined {
    return this.#value;
  }

  status(): WatchedStatus {
    return { ...this.#status };
  }

  /** Reads the files now; concurrent calls share one read, and a call during a read causes another. */
  check(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = (async () => {
      try {
        do {
          this.#again = false;
          await this.#checkOnce();
        } while (this.#again && !this.#closed);
      } finally {
        this.#running = undefined;
      }
    })();
    return this.#running;
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#poll);
    clearTimeout(this.#debounce);
    for (const w of this.#watchers.values()) w.close();
    this.#watchers.clear();
  }

  #watchDirs(): void {
    if (this.#closed) return;
    for (const dir of new Set(this.paths.map((p) => dirname(p)))) {
      if (this.#watchers.has(dir)) continue;
      try {
        const w = watch(dir, { persistent: false }, () => this.#schedule());
        // A removed directory ends the watch; the poll re-creates it when the directory is back.
        w.on('error', () => {
          w.close();
          this.#watchers.delete(dir);
        });
        this.#watchers.set(dir, w);
      } catch {
        // Directory missing or not watchable: the poll still covers it.
      }
    }
  }

  #schedule(): void {
    if (this.#closed) return;
    clearTimeout(this.#debounce);
    this.#debounce = setTimeout(() => void this.check(), this.#opts.debounceMs ?? 100);
    this.#debounce.unref();
  }

  /**
   * Reads until two reads in a row agree, so a swap in the middle of reading (a new certificate with
   * the old key) is read again instead of being reported as a broken version.
   */
  async #stableRead(): Promise<{ contents: Buffer[]; digest: string } | { error: Error; digest: string }> {
    let previous: string | undefined;
    let result: { contents: Buffer[]; digest: string } | { error: Error; digest: string } | undefined;
    for (let attempt = 0; attempt < 6; attempt++) {
      try {
        const contents = await Promise.all(this.paths.map((p) => readFile(p)));
        const h = createHash('sha256');
        for (const c of contents) h.update(createHash('sha256').update(c).digest());
        result = { contents, digest: h.digest('hex') };
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        result = { error: new Error(e.code === 'ENOENT' ? `${e.path ?? 'file'}: no such file` : e.message), digest: `error:${e.message}` };
      }
      if (result.digest === previous) return result;
      previous = result.digest;
      await sleep(attempt === 0 ? 0 : 50);
    }
    return result!;
  }

  async #checkOnce(): Promise<void> {
    const read = await this.#stableRead();
    if (this.#closed || read.digest === this.#lastSeen) return;
    this.#lastSeen = read.digest;
    const initial = this.#initial;
    this.#initial = false;
    let event: LoadEvent<T>;
    try {
      if ('error' in read) throw read.error;
      const value = this.#opts.parse(read.contents);
      this.#value = value;
      this.#status = { ...this.#status, loaded: true, lastLoadOk: true, lastError: undefined, lastSuccessAt: new Date() };
      event = { ok: true, value, initial };
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      this.#status = { ...this.#status, lastLoadOk: false, lastError: error.message, lastFailureAt: new Date() };
      event = { ok: false, error, initial, keptLastGood: this.#status.loaded };
    }
    try {
      this.#opts.onLoad?.(event);
    } catch {
      // A listener's failure must not stop the files being followed.
    }
  }
}
