// What the reaper does about one pod, given its verdict: delete it, only record that it would (dry-run),
// verify a delete it made, report it stuck, force it, or nothing. Dry-run, the stuck rule and the backoff
// after a failed attempt are decided here and nowhere else; the reaper's shell only carries them out.
import { isDryRun, type ReaperConfig } from './config.ts';
import { stuckAt, type Verdict } from './decide.ts';

/** Why a reap is only recorded: --dry-run, the config (global or the pod's namespace), the open circuit breaker. */
export type DryRunCause = 'flag' | 'config' | 'namespace' | 'circuit-open';

export interface Valves {
  /** --dry-run on the command line: nothing is ever deleted, whatever the config says. */
  dryRunFlag: boolean;
  /** The circuit breaker tripped: the reaper is in dry-run until its config changes or it restarts. */
  circuitOpen: boolean;
  /** Whether the deletion rate limit has a slot free now; otherwise when the next one frees up. */
  rate: { ok: true } | { ok: false; retryAt: number };
}

/** What is known of the reaper's earlier attempts on this pod (by uid). */
export interface Earlier {
  /** A "would reap" was already recorded for it in dry-run: one record each, not one per resync. */
  reportedWouldReap?: boolean;
  /** The reaper's delete of it was accepted at `at` (ms), with this grace period. */
  deleted?: { at: number; gracePeriodSeconds: number };
  /** What the verification after that delete found: gone, or still present when it gave up. */
  verified?: 'gone' | 'still-present';
  /** It was already force-deleted (grace period 0). */
  forced?: boolean;
}

export interface ActInput {
  verdict: Verdict;
  config: ReaperConfig;
  valves: Valves;
  earlier: Earlier;
}

/** After the reaper's delete of a pod: what its verification, and a pod that stays, lead to. */
export type AfterDelete =
  /** Wait for the pod to go until `until` (ms): past it, a pod still present is stuck. */
  | { kind: 'verify'; until: number }
  /** Still present `lingerSeconds` after the delete: report it, or first force it (stuck: force). */
  | { kind: 'force'; lingerSeconds: number }
  | { kind: 'report-stuck'; lingerSeconds: number }
  | { kind: 'nothing'; why: 'gone'; retryAt?: undefined };

export type Action =
  | { kind: 'delete' }
  | { kind: 'would-reap'; cause: DryRunCause }
  | AfterDelete
  /** Nothing now; `retryAt` (ms) when to look again, if sooner than the next resync. */
  | { kind: 'nothing'; why: 'not-a-leftover' | 'already-reported' | 'rate-limited'; retryAt?: number };

/** Why a reap of a pod in this namespace would only be recorded, or undefined when it may delete. */
export function dryRunCause(config: ReaperConfig, namespace: string, valves: Pick<Valves, 'dryRunFlag' | 'circuitOpen'>): DryRunCause | undefined {
  if (valves.dryRunFlag) return 'flag';
  if (config.dryRun) return 'config';
  if (isDryRun(config, namespace)) return 'namespace';
  return valves.circuitOpen ? 'circuit-open' : undefined;
}

/** Whether the reaper is in dry-run everywhere (what its dry-run gauge shows). */
export function globalDryRun(config: ReaperConfig, valves: Pick<Valves, 'dryRunFlag' | 'circuitOpen'>): boolean {
  return valves.dryRunFlag || config.dryRun || valves.circuitOpen;
}

/**
 * The moment a pod the reaper deleted counts as stuck if it is still present: the core's stuckAt rule
 * (its deletionTimestamp, the delete plus its grace period, plus graceMargin) for the delete it made.
 */
export function verifyUntil(deleted: NonNullable<Earlier['deleted']>, config: ReaperConfig): number {
  return stuckAt({ deletionTimestamp: deleted.at + deleted.gracePeriodSeconds * 1000 }, config)!.getTime();
}

/** After `failures` failed attempts in a row, wait this long before the next: 2 s, 4 s … 256 s, at most 5 min. */
export function backoffMs(failures: number): number {
  return Math.min(300_000, 1000 * 2 ** Math.min(failures, 8));
}

export function afterDelete(deleted: NonNullable<Earlier['deleted']>, earlier: Pick<Earlier, 'verified' | 'forced'>, config: ReaperConfig): AfterDelete {
  if (earlier.verified === undefined) return { kind: 'verify', until: verifyUntil(deleted, config) };
  if (earlier.verified === 'gone') return { kind: 'nothing', why: 'gone' };
  const lingerSeconds = deleted.gracePeriodSeconds + config.graceMarginSeconds;
  return config.stuck === 'force' && !earlier.forced ? { kind: 'force', lingerSeconds } : { kind: 'report-stuck', lingerSeconds };
}

/** The one thing to do about this pod now, from its latest verdict and the reaper's earlier attempts. */
export function act({ verdict, config, valves, earlier }: ActInput): Action {
  if (earlier.deleted) return afterDelete(earlier.deleted, earlier, config);
  if (verdict.decision !== 'reap') {
    const retryAt = verdict.decision === 'wait' ? verdict.notBefore?.getTime() : undefined;
    return retryAt === undefined ? { kind: 'nothing', why: 'not-a-leftover' } : { kind: 'nothing', why: 'not-a-leftover', retryAt };
  }
  const cause = dryRunCause(config, verdict.namespace, valves);
  if (cause) return earlier.reportedWouldReap ? { kind: 'nothing', why: 'already-reported' } : { kind: 'would-reap', cause };
  if (!valves.rate.ok) return { kind: 'nothing', why: 'rate-limited', retryAt: valves.rate.retryAt };
  return { kind: 'delete' };
}
