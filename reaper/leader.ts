// Leader election on a coordination.k8s.io Lease, so two reaper replicas never act at once.
// @kubernetes/client-node 2 has no election helper. This follows client-go's scheme:
// a candidate judges expiry by when IT last saw the record change (its own clock), never by the
// holder's renewTime, so clock skew between replicas cannot hand the lease to two at once.
import { CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import type { Logger } from 'pino';

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  /** How long a lease holds without renewal before others may take it. */
  leaseDurationSeconds: number;
  /** A leader that cannot renew within this long stops acting (must be < leaseDuration). */
  renewDeadlineSeconds: number;
  retryPeriodSeconds: number;
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
}

export const defaultElection = { leaseDurationSeconds: 15, renewDeadlineSeconds: 10, retryPeriodSeconds: 2 } as const;

/** The Lease calls the elector makes; a stand-in in unit tests, the API server in the cluster tests. */
export interface LeaseStore {
  get(namespace: string, name: string): Promise<V1Lease | undefined>;
  create(namespace: string, lease: V1Lease): Promise<V1Lease>;
  /** Replaces with the lease's resourceVersion as precondition; throws ConflictError on a lost race. */
  replace(namespace: string, lease: V1Lease): Promise<V1Lease>;
}

export class ConflictError extends Error {}

function statusOf(err: unknown): number | undefined {
  const e = err as { code?: unknown; statusCode?: unknown };
  return typeof e?.code === 'number' ? e.code : typeof e?.statusCode === 'number' ? e.statusCode : undefined;
}

export function apiLeaseStore(kc: KubeConfig): LeaseStore {
  const api = kc.makeApiClient(CoordinationV1Api);
  return {
    async get(namespace, name) {
      try {
        return await api.readNamespacedLease({ namespace, name });
      } catch (err) {
        if (statusOf(err) === 404) return undefined;
        throw err;
      }
    },
    async create(namespace, body) {
      try {
        return await api.createNamespacedLease({ namespace, body });
      } catch (err) {
        if (statusOf(err) === 409) throw new ConflictError('lease created by another candidate');
        throw err;
      }
    },
    async replace(namespace, body) {
      try {
        return await api.replaceNamespacedLease({ namespace, name: body.metadata!.name!, body });
      } catch (err) {
        if (statusOf(err) === 409) throw new ConflictError('lease changed by another candidate');
        throw err;
      }
    },
  };
}

export class LeaderElector {
  private leading = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private observed: { holder: string; renewTime: string; resourceVersion: string } | undefined;
  private observedAt = 0;
  private lastRenewed = 0;
  private uid: string | undefined;
  private readonly o: LeaderElectionOptions;
  private readonly store: LeaseStore;
  private readonly log: Logger;
  private readonly now: () => number;

  constructor(o: LeaderElectionOptions, store: LeaseStore, log: Logger, now: () => number = Date.now) {
    if (o.renewDeadlineSeconds >= o.leaseDurationSeconds) throw new Error('leader election: renewDeadlineSeconds must be below leaseDurationSeconds');
    this.o = o;
    this.store = store;
    this.log = log.child({ component: 'leader-election', lease: `${o.namespace}/${o.name}`, identity: o.identity });
    this.now = now;
  }

  /** The Lease's uid once seen: the reaper's own object, where it records Events about itself. */
  leaseUid(): string | undefined {
    return this.uid;
  }

  isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    const loop = async () => {
      if (this.stopped) return;
      await this.tryAcquireOrRenew();
      if (!this.stopped) this.timer = setTimeout(loop, this.o.retryPeriodSeconds * 1000);
    };
    void loop();
  }

  /** One round: take or renew the lease; a leader past its renew deadline steps down. */
  async tryAcquireOrRenew(): Promise<void> {
    try {
      const acted = await this.attempt();
      if (acted) this.lastRenewed = this.now();
      if (acted && !this.leading) this.setLeading(true);
      if (!acted && this.leading) this.setLeading(false);
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'lease update failed');
    }
    if (this.leading && this.now() - this.lastRenewed > this.o.renewDeadlineSeconds * 1000) {
      this.log.warn('could not renew the lease within the renew deadline; stepping down');
      this.setLeading(false);
    }
  }

  private async attempt(): Promise<boolean> {
    const { namespace, name, identity, leaseDurationSeconds } = this.o;
    const now = new V1MicroTime(this.now());
    const current = await this.store.get(namespace, name);
    if (!current) {
      try {
        const created = await this.store.create(namespace, {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name, namespace },
          spec: { holderIdentity: identity, leaseDurationSeconds, acquireTime: now, renewTime: now, leaseTransitions: 0 },
        });
        this.observe(created);
        return true;
      } catch (err) {
        if (err instanceof ConflictError) return false;
        throw err;
      }
    }
    this.observe(current);
    const holder = current.spec?.holderIdentity ?? '';
    const heldByOther = holder !== '' && holder !== identity;
    const duration = (current.spec?.leaseDurationSeconds ?? leaseDurationSeconds) * 1000;
    if (heldByOther && this.observedAt + duration > this.now()) return false;
    const spec = current.spec ?? {};
    const next: V1Lease = {
      ...current,
      spec: {
        ...spec,
        holderIdentity: identity,
        leaseDurationSeconds,
        renewTime: now,
        acquireTime: holder === identity && spec.acquireTime ? new V1MicroTime(new Date(spec.acquireTime).getTime()) : now,
        leaseTransitions: (spec.leaseTransitions ?? 0) + (holder === identity ? 0 : 1),
      },
    };
    try {
      this.observe(await this.store.replace(namespace, next));
      return true;
    } catch (err) {
      if (err instanceof ConflictError) return false;
      throw err;
    }
  }

  private observe(lease: V1Lease): void {
    this.uid = lease.metadata?.uid ?? this.uid;
    const record = {
      holder: lease.spec?.holderIdentity ?? '',
      renewTime: lease.spec?.renewTime ? new Date(lease.spec.renewTime).toISOString() : '',
      resourceVersion: lease.metadata?.resourceVersion ?? '',
    };
    const o = this.observed;
    if (!o || o.holder !== record.holder || o.renewTime !== record.renewTime) this.observedAt = this.now();
    this.observed = record;
  }

  private setLeading(leading: boolean): void {
    this.leading = leading;
    this.log.info({ leading }, leading ? 'became leader' : 'stopped leading');
    if (leading) this.o.onStartedLeading();
    else this.o.onStoppedLeading();
  }

  /** On SIGTERM: stop acting first, then give the lease up so the other replica takes over at once. */
  async release(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (!this.leading) return;
    this.setLeading(false);
    try {
      const current = await this.store.get(this.o.namespace, this.o.name);
      if (current?.spec?.holderIdentity !== this.o.identity) return;
      await this.store.replace(this.o.namespace, { ...current, spec: { ...current.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: new V1MicroTime(this.now()) } });
      this.log.info('released the lease');
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'could not release the lease; it expires on its own');
    }
  }
}
