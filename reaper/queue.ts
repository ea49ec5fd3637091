// Keys due for work at a time: each key once, at the earliest time asked for. One timer wakes the
// owner for the earliest key not yet due; keys due now are run in one pass on the next turn of the
// event loop, so a burst of changes costs one pass, not one each.

export class DueQueue<K> {
  private readonly due = new Map<K, number>();
  private readonly run: () => void;
  private readonly clock: () => number;
  private wake: NodeJS.Timeout | undefined;
  private wakeAt = Infinity;
  private runScheduled = false;
  private stopped = false;

  /** `run` is called when keys may be due; it takes them with `take`. */
  constructor(run: () => void, clock: () => number = Date.now) {
    this.run = run;
    this.clock = clock;
  }

  /** Due at `at` (ms), unless it is already due sooner. */
  add(key: K, at: number): void {
    const current = this.due.get(key);
    if (current === undefined || at < current) {
      this.due.set(key, at);
      this.schedule(at);
    }
  }

  remove(key: K): void {
    this.due.delete(key);
  }

  /** When the key is due, if it is queued. */
  dueAt(key: K): number | undefined {
    return this.due.get(key);
  }

  get size(): number {
    return this.due.size;
  }

  /** Every queued key, due now or later (to queue them all again, or count them). */
  keys(): IterableIterator<K> {
    return this.due.keys();
  }

  /**
   * Removes and returns the keys due by now, in the order they were queued; a key `busy` says is busy
   * stays queued (taken once it is not). Wakes the owner again for the earliest key left.
   */
  take(busy: (key: K) => boolean = () => false): K[] {
    const now = this.clock();
    const out: K[] = [];
    let next = Infinity;
    for (const [key, at] of this.due) {
      if (at > now) next = Math.min(next, at);
      else if (!busy(key)) {
        this.due.delete(key);
        out.push(key);
      }
    }
    if (next < Infinity) this.schedule(next);
    return out;
  }

  /** Makes sure the owner runs at `at` (ms) at the latest. */
  schedule(at: number): void {
    if (this.stopped) return;
    const now = this.clock();
    if (at <= now) {
      if (this.runScheduled) return;
      this.runScheduled = true;
      setImmediate(() => {
        this.runScheduled = false;
        if (!this.stopped) this.run();
      });
      return;
    }
    if (at >= this.wakeAt) return;
    clearTimeout(this.wake);
    this.wakeAt = at;
    this.wake = setTimeout(() => {
      this.wakeAt = Infinity;
      this.wake = undefined;
      if (!this.stopped) this.run();
    }, at - now);
    this.wake.unref();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.wake);
  }
}
