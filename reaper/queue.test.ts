// The due-time queue on its own: each key once at its earliest time, busy keys held, one wake-up.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DueQueue } from './queue.ts';

describe('DueQueue', () => {
  let now = 1_000_000;
  const clock = () => now;

  it('keeps each key once, at the earliest time asked for', () => {
    const q = new DueQueue<string>(() => {}, clock);
    q.add('a', now + 5000);
    q.add('a', now + 1000);
    q.add('a', now + 9000);
    expect(q.size).toBe(1);
    expect(q.dueAt('a')).toBe(now + 1000);
    q.stop();
  });

  it('takes what is due, in queue order, and leaves the rest', () => {
    const q = new DueQueue<string>(() => {}, clock);
    q.add('later', now + 60_000);
    q.add('b', now - 10);
    q.add('a', now);
    expect(q.take()).toEqual(['b', 'a']);
    expect(q.take()).toEqual([]);
    expect([...q.keys()]).toEqual(['later']);
    now += 60_000;
    expect(q.take()).toEqual(['later']);
    q.stop();
  });

  it('holds a busy key until it is not busy', () => {
    const q = new DueQueue<string>(() => {}, clock);
    q.add('x', now);
    q.add('y', now);
    const busy = new Set(['x']);
    expect(q.take((k) => busy.has(k))).toEqual(['y']);
    busy.clear();
    expect(q.take((k) => busy.has(k))).toEqual(['x']);
    q.stop();
  });

  it('forgets a removed key', () => {
    const q = new DueQueue<string>(() => {}, clock);
    q.add('x', now);
    q.remove('x');
    expect(q.take()).toEqual([]);
    expect(q.dueAt('x')).toBeUndefined();
    q.stop();
  });
});

describe('DueQueue wake-ups', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('runs its owner once on the next turn for any number of keys due now', async () => {
    const run = vi.fn();
    const q = new DueQueue<string>(run);
    for (let i = 0; i < 100; i++) q.add(`k${i}`, Date.now());
    expect(run).not.toHaveBeenCalled();
    await vi.advanceTimersToNextTimerAsync();
    expect(run).toHaveBeenCalledTimes(1);
    q.stop();
  });

  it('wakes its owner when the earliest key not yet due comes due, and not before', () => {
    const run = vi.fn();
    const q = new DueQueue<string>(run);
    q.add('late', Date.now() + 5000);
    q.add('soon', Date.now() + 1000);
    vi.advanceTimersByTime(999);
    expect(run).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(run).toHaveBeenCalledTimes(1);
    expect(q.take()).toEqual(['soon']);
    vi.advanceTimersByTime(4000);
    expect(run).toHaveBeenCalledTimes(2);
    expect(q.take()).toEqual(['late']);
    q.stop();
  });

  it('stops waking its owner once stopped', () => {
    const run = vi.fn();
    const q = new DueQueue<string>(run);
    q.add('k', Date.now() + 1000);
    q.stop();
    vi.advanceTimersByTime(5000);
    expect(run).not.toHaveBeenCalled();
  });
});
