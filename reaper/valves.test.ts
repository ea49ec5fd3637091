import { describe, expect, it } from 'vitest';
import { CircuitBreaker, RateLimit } from './valves.ts';

describe('deletion rate limit', () => {
  it('allows perMinute deletions in a rolling minute and says when the next slot frees', () => {
    const limit = new RateLimit(3);
    const t0 = 1_000_000;
    expect(limit.take(t0).ok).toBe(true);
    expect(limit.take(t0 + 10_000).ok).toBe(true);
    expect(limit.take(t0 + 20_000).ok).toBe(true);
    expect(limit.take(t0 + 30_000)).toEqual({ ok: false, retryAt: t0 + 60_000 });
    expect(limit.take(t0 + 60_000).ok).toBe(true);
    expect(limit.take(t0 + 60_001)).toEqual({ ok: false, retryAt: t0 + 70_000 });
  });

  it('peek says what take would, without taking a slot', () => {
    const limit = new RateLimit(1);
    const t0 = 2_000_000;
    expect(limit.peek(t0)).toEqual({ ok: true });
    expect(limit.peek(t0)).toEqual({ ok: true });
    expect(limit.take(t0).ok).toBe(true);
    expect(limit.peek(t0 + 1)).toEqual({ ok: false, retryAt: t0 + 60_000 });
    expect(limit.peek(t0 + 60_000)).toEqual({ ok: true });
  });
});

describe('circuit breaker', () => {
  it('trips on the reap past maxReaps inside the window and stays tripped until replaced', () => {
    const breaker = new CircuitBreaker(2, 60_000);
    const t0 = 5_000_000;
    expect(breaker.admit(t0)).toBe(true);
    expect(breaker.admit(t0 + 1000)).toBe(true);
    expect(breaker.tripped).toBe(false);
    expect(breaker.admit(t0 + 2000)).toBe(false);
    expect(breaker.tripped).toBe(true);
    expect(breaker.admit(t0 + 10 * 60_000)).toBe(false);
    // A config change (or a restart) puts a new breaker in its place, as reaper/main.ts does.
    const replaced = new CircuitBreaker(2, 60_000);
    expect(replaced.admit(t0 + 10 * 60_000)).toBe(true);
  });

  it('does not trip when reaps are spread wider than the window', () => {
    const breaker = new CircuitBreaker(2, 60_000);
    for (let i = 0; i < 10; i++) expect(breaker.admit(i * 31_000)).toBe(true);
    expect(breaker.tripped).toBe(false);
  });
});
