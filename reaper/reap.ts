// Scope ended → pod reaped: carry out one "reap" verdict. Re-decide first on a fresh read of the Workflow
// (the cache may lag) and on a pod the delete's preconditions pin (uid, and resourceVersion when the
// cached copy is used), pass the safety valves, delete, verify the pod is gone, and leave
// the audit trail: one log record, Events on the Workflow and the pod, counters.
import type { Logger } from 'pino';
import { argo, guard } from '../core/keys.ts';
import { readWorkflow } from '../core/argo/status.ts';
import { act, afterDelete, verifyUntil, type Valves } from '../core/leftover/act.ts';
import type { ReaperConfig } from '../core/leftover/config.ts';
import { decide, type FirstSeen, type Verdict } from '../core/leftover/decide.ts';
import { readPod, type PodState } from '../core/leftover/pod.ts';
import { apiErrorMessage } from '../runtime/kube.ts';
import type { EventTarget, ReaperCluster } from './cluster.ts';
import type { ReaperMetrics } from './metrics.ts';
import type { CircuitBreaker, RateLimit } from './valves.ts';

export type ReapOutcome =
  | 'deleted'
  | 'would-reap'
  | 'stuck'
  | 'forced'
  | 'gone'
  | 'uid-changed'
  | 'not-leftover'
  | 'rate-limited'
  | 'error';

export interface ReapDeps {
  cluster: ReaperCluster;
  log: Logger;
  metrics: ReaperMetrics;
  rate: RateLimit;
  breaker: CircuitBreaker;
  config: () => ReaperConfig;
  /** --dry-run on the command line: nothing is ever deleted, whatever the config says. */
  dryRunFlag: boolean;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  /** Called once when the breaker trips, to put an Event on the reaper's own object. */
  onBreakerTripped: (detail: string) => void;
  /** How often to look whether a deleted pod is gone. */
  verifyIntervalMs?: number;
  /** Called once the API server accepted the delete: verification follows (the caller may free its worker). */
  onDeleteAccepted?: () => void;
  /**
   * Resolves when the caller's watch says the pod is gone, or at `deadline` (ms) at the latest; the
   * verification reads the pod only then, instead of polling it from the start. Resolving true means
   * the watch saw this pod (by uid) deleted: that is the proof, no read follows.
   */
  awaitGone?: (pod: PodState, deadline: number) => Promise<boolean | void>;
  /**
   * The pod as the caller's cache holds it now. When it is the queued pod (same uid), the Workflow it
   * names is read at once, beside any read of the pod (read again if a fresh pod names another); when it
   * also carries a resourceVersion, it replaces the fresh read of the pod: the delete is preconditioned
   * on that version.
   */
  cachedPod?: PodState;
}

export interface ReapResult {
  outcome: ReapOutcome;
  /** rate-limited: when to try again. */
  retryAt?: number;
  verdict: Verdict;
}

function podTarget(pod: PodState): EventTarget {
  return { apiVersion: 'v1', kind: 'Pod', namespace: pod.namespace, name: pod.name, uid: pod.uid };
}

function workflowTarget(v: Verdict): EventTarget | undefined {
  return v.workflow ? { apiVersion: argo.apiVersion, kind: argo.kinds.workflow, namespace: v.namespace, name: v.workflow.name, uid: v.workflow.uid } : undefined;
}

/** Gone means: no pod by that name, or one with another uid (a new pod reusing the name). */
async function waitGone(deps: ReapDeps, pod: PodState, deadline: number): Promise<boolean> {
  if (deps.awaitGone && (await deps.awaitGone(pod, deadline)) === true) return true;
  for (;;) {
    const raw = (await deps.cluster.getPod(pod.namespace, pod.name)) as { metadata?: { uid?: string } } | undefined;
    if (!raw || raw.metadata?.uid !== pod.uid) return true;
    if (deps.now() >= deadline) return false;
    await deps.sleep(deps.verifyIntervalMs ?? 250);
  }
}

export async function reapLeftover(cached: Verdict, firstSeen: FirstSeen, deps: ReapDeps): Promise<ReapResult> {
  const started = deps.now();
  const config = deps.config();
  let verdict = cached;
  let pod: PodState | undefined;

  const audit = (outcome: ReapOutcome, action: string, extra: Record<string, unknown> = {}) => {
    deps.metrics.reaps.inc({ reason: verdict.reason, outcome });
    const record = {
      event: 'reap',
      workflow: verdict.workflow?.name ?? pod?.workflowName ?? null,
      workflowUid: verdict.workflow?.uid ?? pod?.workflowUid ?? null,
      namespace: verdict.namespace,
      nodeId: verdict.nodeId,
      pod: verdict.pod,
      podUid: verdict.uid,
      reason: verdict.reason,
      scopeEndedAt: verdict.scopeEndedAt?.toISOString() ?? null,
      action,
      outcome,
      latencyMs: deps.now() - started,
      detail: verdict.detail,
      ...extra,
    };
    if (outcome === 'stuck' || outcome === 'error') deps.log.warn(record, `daemon ${outcome}`);
    else deps.log.info(record, outcome === 'would-reap' ? 'daemon would be reaped (dry-run)' : `daemon ${outcome}`);
  };
  const events = async (type: 'Normal' | 'Warning', reason: string, message: string) => {
    const targets = [workflowTarget(verdict), pod && podTarget(pod)].filter((t): t is EventTarget => t !== undefined);
    for (const t of targets) {
      try {
        await deps.cluster.event(t, type, reason, message);
      } catch (err) {
        // The Workflow may be gone (owner-gone); the log record is the lasting trail anyway.
        deps.log.debug({ err: apiErrorMessage(err), target: `${t.kind}/${t.name}` }, 'event not recorded');
      }
    }
  };

  const valves = (rate: Valves['rate']): Valves => ({ dryRunFlag: deps.dryRunFlag, circuitOpen: deps.breaker.tripped, rate });
  const free = (): Valves['rate'] => deps.rate.peek?.(deps.now()) ?? { ok: true };
  const next = (rate: Valves['rate']) => act({ verdict, config, valves: valves(rate), earlier: {} });

  try {
    // No slot free, and this would be a real delete: wait for one before reading anything, so pods held
    // back by the rate limit cost the API server nothing until their turn (the slot is taken below).
    const first = next(free());
    if (first.kind === 'nothing' && first.why === 'rate-limited') return { outcome: 'rate-limited', retryAt: first.retryAt!, verdict };
    // Act on what the API server says now, not on what the caches said. The Workflow is always read
    // fresh. The pod is the cache's copy when the caller has one: the delete then carries its
    // resourceVersion, so it succeeds only on exactly the pod decided on, and a pod that changed since
    // is read fresh and decided again. Without a cached copy, the pod is read beside the Workflow.
    const queued = deps.cachedPod?.uid === cached.uid ? deps.cachedPod : undefined;
    const hinted = queued?.workflowName;
    const early = hinted ? deps.cluster.getWorkflow(cached.namespace, hinted) : undefined;
    // A failure of the early read surfaces where it is awaited, or not at all if it is not used.
    early?.catch(() => {});
    const workflowOf = (p: PodState) => (!p.workflowName ? undefined : early && p.workflowName === hinted ? early : deps.cluster.getWorkflow(p.namespace, p.workflowName));
    const usable = queued?.resourceVersion ? queued : undefined;
    let slotTaken = false;
    for (let fromCache = usable !== undefined; ; fromCache = false) {
      let current = fromCache ? usable : undefined;
      if (!current) {
        const rawPod = await deps.cluster.getPod(cached.namespace, cached.pod);
        if (!rawPod) {
          audit('gone', 'none');
          return { outcome: 'gone', verdict };
        }
        current = readPod(rawPod);
      }
      pod = current;
      const rawWorkflow = await workflowOf(current);
      const wf = rawWorkflow ? readWorkflow(rawWorkflow) : undefined;
      verdict = decide({ pod: current, workflow: wf?.ok ? wf.value : undefined, now: new Date(deps.now()), firstSeen, config, queuedUid: cached.uid });
      if (verdict.decision !== 'reap') {
        deps.log.info({ event: 'reap-cancelled', namespace: current.namespace, pod: current.name, podUid: current.uid, decision: verdict.decision, reason: verdict.reason, detail: verdict.detail }, 'fresh state says not a leftover; nothing done');
        return { outcome: verdict.reason === 'pod-uid-changed' ? 'uid-changed' : 'not-leftover', verdict };
      }

      const message = `${guard.name}: ${verdict.detail}`;
      const step = next(slotTaken ? { ok: true } : free());
      if (step.kind === 'would-reap') {
        audit('would-reap', 'none', { dryRun: true, circuitOpen: deps.breaker.tripped });
        await events('Normal', guard.eventReason.wouldReap, `would delete leftover daemon pod ${current.name} (dry-run): ${message}`);
        return { outcome: 'would-reap', verdict };
      }
      if (step.kind === 'nothing' && step.why === 'rate-limited') return { outcome: 'rate-limited', retryAt: step.retryAt!, verdict };
      if (!slotTaken) {
        const slot = deps.rate.take(deps.now());
        if (!slot.ok) return { outcome: 'rate-limited', retryAt: slot.retryAt, verdict };
        if (!deps.breaker.admit(deps.now())) {
          const { maxReaps, windowSeconds } = config.circuitBreaker;
          deps.onBreakerTripped(`more than ${maxReaps} reaps within ${windowSeconds}s: the reaper is in dry-run until its config changes or it restarts`);
          audit('would-reap', 'none', { dryRun: true, circuitOpen: true });
          await events('Normal', guard.eventReason.wouldReap, `would delete leftover daemon pod ${current.name} (circuit breaker open): ${message}`);
          return { outcome: 'would-reap', verdict };
        }
        slotTaken = true;
      }

      const result = await deps.cluster.deletePod(current.namespace, current.name, current.uid, current.terminationGracePeriodSeconds, fromCache ? current.resourceVersion : undefined);
      if (result === 'accepted') break;
      if (result === 'conflict' && fromCache) {
        deps.log.debug({ namespace: current.namespace, pod: current.name, podUid: current.uid, resourceVersion: current.resourceVersion }, 'pod changed since it was cached; reading it and deciding again');
        continue;
      }
      const outcome = result === 'conflict' ? 'uid-changed' : 'gone';
      audit(outcome, 'delete');
      return { outcome, verdict };
    }
    const message = `${guard.name}: ${verdict.detail}`;
    const grace = pod.terminationGracePeriodSeconds;
    deps.onDeleteAccepted?.();
    const deleted = { at: deps.now(), gracePeriodSeconds: grace };
    const until = verifyUntil(deleted, config);
    const after = afterDelete(deleted, { verified: (await waitGone(deps, pod, until)) ? 'gone' : 'still-present' }, config);
    if (after.kind === 'nothing') {
      const eligibleAt = verdict.notBefore?.getTime();
      if (eligibleAt !== undefined) deps.metrics.reapLatency.observe(Math.max(0, deps.now() - eligibleAt) / 1000);
      audit('deleted', 'delete', { gracePeriodSeconds: grace });
      await events('Normal', guard.eventReason.reaped, `deleted leftover daemon pod ${pod.name}: ${message}`);
      return { outcome: 'deleted', verdict };
    }

    if (after.kind === 'verify') throw new Error('a verified delete cannot need verifying again');
    await events('Warning', guard.eventReason.stuck, `daemon pod ${pod.name} is still present ${after.lingerSeconds}s after its delete (finalizers, or an unreachable node)`);
    if (after.kind === 'force') {
      const forced = await deps.cluster.deletePod(pod.namespace, pod.name, pod.uid, 0);
      if (forced !== 'accepted' || (await waitGone(deps, pod, deps.now() + 10_000))) {
        audit('forced', 'force-delete');
        return { outcome: 'forced', verdict };
      }
    }
    audit('stuck', after.kind === 'force' ? 'force-delete' : 'delete', { gracePeriodSeconds: grace });
    return { outcome: 'stuck', verdict };
  } catch (err) {
    audit('error', 'delete', { err: apiErrorMessage(err) });
    return { outcome: 'error', verdict };
  }
}
