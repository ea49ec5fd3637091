// The reaper's safety valves: a rate limit on deletions and a circuit breaker that turns the reaper
// to dry-run when deletions come faster than any real cleanup should.
// Time is passed in, so the same code runs under the controller's clock and the tests'.

/** At most `perMinute` deletions in any rolling minute. */
export class RateLimit {
  private readonly stamps: number[] = [];
  private readonly perMinute: number;

  constructor(perMinute: number) {
    this.perMinute = perMinute;
  }

  private prune(now: number): void {
    while (this.stamps.length && this.stamps[0]! <= now - 60_000) this.stamps.shift();
  }

  /** Whether a slot is free now, without taking it; otherwise when the next one frees up. */
  peek(now: number): { ok: true } | { ok: false; retryAt: number } {
    this.prune(now);
    return this.stamps.length < this.perMinute ? { ok: true } : { ok: false, retryAt: this.stamps[0]! + 60_000 };
  }

  /** Takes a slot if one is free; otherwise says when the next one frees up. */
  take(now: number): { ok: true } | { ok: false; retryAt: number } {
    this.prune(now);
    if (this.stamps.length < this.perMinute) {
      this.stamps.push(now);
      return { ok: true };
    }
    return { ok: false, retryAt: this.stamps[0]! + 60_000 };
  }
}

/**
 * Trips when more than `maxReaps` deletions fall inside `windowMs`. Once tripped it stays tripped
 * (the reaper runs in dry-run): a restart or a change of the config file replaces it with a new one,
 * so a person looks at what happened before deletions resume.
 */
export class CircuitBreaker {
  private readonly stamps: number[] = [];
  private trippedAt: number | undefined;
  private readonly maxReaps: number;
  private readonly windowMs: number;

  constructor(maxReaps: number, windowMs: number) {
    this.maxReaps = maxReaps;
    this.windowMs = windowMs;
  }

  get tripped(): boolean {
    return this.trippedAt !== undefined;
  }

  /** May one more deletion happen now? Counting it is part of asking, so the check is race-free. */
  admit(now: number): boolean {
    if (this.trippedAt !== undefined) return false;
    while (this.stamps.length && this.stamps[0]! <= now - this.windowMs) this.stamps.shift();
    if (this.stamps.length >= this.maxReaps) {
      this.trippedAt = now;
      return false;
    }
    this.stamps.push(now);
    return true;
  }
}
