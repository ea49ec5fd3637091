import { describe, expect, it } from 'vitest';
import pino from 'pino';
import type { V1Lease } from '@kubernetes/client-node';
import { ConflictError, LeaderElector, type LeaseStore } from './leader.ts';

/** An in-memory Lease store with the API server's optimistic concurrency on resourceVersion. */
function memoryStore(): LeaseStore & { lease?: V1Lease; failing: boolean } {
  let version = 0;
  const s: LeaseStore & { lease?: V1Lease; failing: boolean } = {
    failing: false,
    async get() {
      if (s.failing) throw new Error('api server unreachable');
      return s.lease && structuredClone(s.lease);
    },
    async create(_ns, lease) {
      if (s.failing) throw new Error('api server unreachable');
      if (s.lease) throw new ConflictError('exists');
      s.lease = { ...structuredClone(lease), metadata: { ...lease.metadata, resourceVersion: String(++version) } };
      return structuredClone(s.lease);
    },
    async replace(_ns, lease) {
      if (s.failing) throw new Error('api server unreachable');
      if (lease.metadata?.resourceVersion !== s.lease?.metadata?.resourceVersion) throw new ConflictError('changed');
      s.lease = { ...structuredClone(lease), metadata: { ...lease.metadata, resourceVersion: String(++version) } };
      return structuredClone(s.lease);
    },
  };
  return s;
}

function candidate(store: LeaseStore, identity: string, clock: { t: number }) {
  const events: string[] = [];
  const elector = new LeaderElector(
    {
      namespace: 'guard',
      name: 'argo-daemon-guard-reaper',
      identity,
      leaseDurationSeconds: 15,
      renewDeadlineSeconds: 10,
      retryPeriodSeconds: 2,
      onStartedLeading: () => events.push('started'),
      onStoppedLeading: () => events.push('stopped'),
    },
    store,
    pino({ level: 'silent' }),
    () => clock.t,
  );
  return { elector, events };
}

describe('reaper leader election on a Lease', () => {
  it('gives the lease to exactly one of two candidates, and keeps it while it renews', async () => {
    const store = memoryStore();
    const clock = { t: 1_000_000 };
    const a = candidate(store, 'reaper-a', clock);
    const b = candidate(store, 'reaper-b', clock);
    for (let round = 0; round < 20; round++) {
      await a.elector.tryAcquireOrRenew();
      await b.elector.tryAcquireOrRenew();
      expect([a.elector.isLeader(), b.elector.isLeader()].filter(Boolean)).toHaveLength(1);
      clock.t += 2000;
    }
    expect(a.elector.isLeader()).toBe(true);
    expect(store.lease?.spec?.holderIdentity).toBe('reaper-a');
    expect(store.lease?.spec?.leaseTransitions).toBe(0);
  });

  it('hands over at once when the leader releases on SIGTERM', async () => {
    const store = memoryStore();
    const clock = { t: 1_000_000 };
    const a = candidate(store, 'reaper-a', clock);
    const b = candidate(store, 'reaper-b', clock);
    await a.elector.tryAcquireOrRenew();
    await b.elector.tryAcquireOrRenew();
    await a.elector.release();
    expect(a.events).toEqual(['started', 'stopped']);
    expect(store.lease?.spec?.holderIdentity).toBe('');
    clock.t += 2000;
    await b.elector.tryAcquireOrRenew();
    expect(b.elector.isLeader()).toBe(true);
    expect(store.lease?.spec?.leaseTransitions).toBe(1);
  });

  it('lets the other candidate take over only after the lease duration when the leader goes silent', async () => {
    const store = memoryStore();
    const clock = { t: 1_000_000 };
    const a = candidate(store, 'reaper-a', clock);
    const b = candidate(store, 'reaper-b', clock);
    await a.elector.tryAcquireOrRenew();
    await b.elector.tryAcquireOrRenew();
    clock.t += 14_000;
    await b.elector.tryAcquireOrRenew();
    expect(b.elector.isLeader()).toBe(false);
    clock.t += 2000;
    await b.elector.tryAcquireOrRenew();
    expect(b.elector.isLeader()).toBe(true);
  });

  it('makes a leader that cannot renew step down before its lease could pass to another', async () => {
    const store = memoryStore();
    const clock = { t: 1_000_000 };
    const a = candidate(store, 'reaper-a', clock);
    await a.elector.tryAcquireOrRenew();
    store.failing = true;
    for (let i = 0; i < 5; i++) {
      clock.t += 2000;
      await a.elector.tryAcquireOrRenew();
    }
    expect(a.elector.isLeader()).toBe(true);
    clock.t += 2000;
    await a.elector.tryAcquireOrRenew();
    expect(a.elector.isLeader()).toBe(false);
    expect(a.events).toEqual(['started', 'stopped']);
  });
});
