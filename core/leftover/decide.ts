// Is this daemon pod a leftover, and may it be deleted now?
//
// A daemon pod is leftover when it is still Running and any of these holds:
//   - its boundary node (node.boundaryID) is fulfilled: Succeeded, Failed, Error, Skipped, Omitted;
//   - its own node is fulfilled and not daemoned (Argo marked it stopped and sent the kill);
//   - the Workflow is complete (Argo never completes a Workflow while a node is daemoned), which is
//     also what a boundaryID of "" (root node, workflow-level onExit) comes down to;
//   - the Workflow is being deleted;
//   - no Workflow with the pod's workflow uid exists: deleted, the pod orphaned by --cascade=orphan
//     (no ownerReference; uid from the guard's label or ARGO_WORKFLOW_UID), or the name reused by a
//     new run with another uid.
// The pod is joined to its node ONLY through the node-id annotation: recomputing the join from
// names has leaked daemons in Argo itself (argoproj/argo-workflows#8692, #11734, #12533).
// Argo gets its own chance first: a leftover is reaped only once the pod's terminationGracePeriodSeconds
// plus graceMargin have passed since its scope ended; until then the decision is `wait` until notBefore.
// When the scope ended is read from the status (the boundary's or the Workflow's finishedAt, the
// Workflow's deletionTimestamp) when it is there and not in the future; otherwise it is when the
// reaper first saw that state (firstSeen). A daemon node's own finishedAt is never used: it is set
// when the daemon became ready.
//
// Never reaped: a pod whose template is not a daemon (or cannot be read and carries no guard label); a
// daemon whose node is not fulfilled or still daemoned while its scope and Workflow are live; a pod that
// is not Running or already terminating; a pod that is no longer the object queued (uid changed); any
// pod for its age (the lifetime cap is the webhook's business); a pod whose scope depends on a node
// map that is offloaded or undecodable — workflow-level facts (complete, deleting, gone) still count
// then, because they do not need the nodes.
import type { NodeState, WorkflowState } from '../argo/status.ts';
import { fulfilled } from '../argo/status.ts';
import { watchesNamespace, type ReaperConfig } from './config.ts';
import type { PodState } from './pod.ts';
import type { Decision, Reason } from './reasons.ts';

/** When the reaper first saw the pod in the state a reason names; a Date applies to every reason. */
export type FirstSeen = Date | ((reason: Reason) => Date | undefined);

export interface DecideInput {
  pod: PodState;
  /**
   * The Workflow whose namespace and name match the pod's namespace and workflow label, as the reaper
   * last saw it; undefined when no such Workflow exists.
   */
  workflow: WorkflowState | undefined;
  now: Date;
  /** Missing (or missing for the reason in question): now. */
  firstSeen?: FirstSeen;
  config: ReaperConfig;
  /** The pod uid the reaper queued; when the pod now under that name has another uid, it is kept. */
  queuedUid?: string;
}

export interface Verdict {
  decision: Decision;
  reason: Reason;
  /** wait: when to decide again; reap: since when the pod could be reaped; otherwise null. */
  notBefore: Date | null;
  /** When the pod's scope ended, as the decision counted it (leftover reasons only). */
  scopeEndedAt: Date | null;
  /**
   * Where scopeEndedAt (or, for node-missing, the start of its grace) came from: the Workflow's status,
   * or firstSeen. When 'first-seen', the reaper must remember the moment it first saw this pod with
   * this reason and pass it back as firstSeen, or the wait never ends.
   */
  timeFrom: 'status' | 'first-seen' | null;
  namespace: string;
  pod: string;
  uid: string;
  nodeId: string | null;
  workflow: { name: string; uid: string; phase: string } | null;
  /** One human sentence: what was seen and why this decision. */
  detail: string;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** Which leftover reason wins when several hold at the same moment: the most specific first. */
const precedence: readonly Reason[] = ['boundary-fulfilled', 'node-stopped', 'workflow-complete', 'workflow-deleting', 'owner-gone', 'node-missing'];

interface Candidate {
  reason: Reason;
  /** The moment the scope ended, from the status, if it has one. */
  statusTime: number | undefined;
  what: string;
}

export function decide(input: DecideInput): Verdict {
  const { pod, workflow, config } = input;
  const now = input.now.getTime();
  const wfRef = workflow ? { name: workflow.name, uid: workflow.uid, phase: workflow.phase } : null;
  const verdict = (decision: Decision, reason: Reason, detail: string, extra: Partial<Verdict> = {}): Verdict => ({
    decision,
    reason,
    notBefore: null,
    scopeEndedAt: null,
    timeFrom: null,
    namespace: pod.namespace,
    pod: pod.name,
    uid: pod.uid,
    nodeId: pod.nodeId ?? null,
    workflow: wfRef,
    detail,
    ...extra,
  });
  const firstSeenFor = (reason: Reason): number => {
    const fs = input.firstSeen;
    const at = fs instanceof Date ? fs : fs?.(reason);
    // A first sighting in the future is a caller's clock error: count it as now.
    return at === undefined ? now : Math.min(at.getTime(), now);
  };

  // --- Is this pod the reaper's business at all? ---
  if (input.queuedUid !== undefined && input.queuedUid !== pod.uid) {
    return verdict('keep', 'pod-uid-changed', `queued pod uid ${input.queuedUid}, but the pod named ${pod.name} now has uid ${pod.uid || '(none)'}`);
  }
  if (pod.daemon.kind === 'not-workload') return verdict('keep', 'not-a-workflow-pod', pod.daemon.reason);
  if (!watchesNamespace(config, pod.namespace)) {
    return verdict('keep', 'out-of-scope', `namespace ${pod.namespace} is not among the reaper's namespaces (${config.namespaces.join(', ')})`);
  }
  if (config.instanceId !== undefined && pod.instanceId !== config.instanceId) {
    return verdict('keep', 'out-of-scope', `controller instance id ${pod.instanceId ?? '(none)'} is not the reaper's ${config.instanceId}`);
  }
  if (pod.daemon.kind === 'not-daemon') return verdict('keep', 'not-a-daemon', pod.daemon.reason);
  if (pod.deletionTimestamp !== undefined) {
    return verdict('keep', 'pod-terminating', `pod is already being deleted (deletionTimestamp ${iso(pod.deletionTimestamp)})`);
  }
  if (pod.phase !== 'Running') return verdict('keep', 'pod-not-running', `pod phase is ${pod.phase || '(unset)'}: no daemon process to stop`);
  if (pod.daemon.kind === 'unknown') return verdict('unknown', 'template-unknown', pod.daemon.reason);
  const daemonDesc = `daemon ${pod.daemon.template || '(unnamed template)'}${pod.daemon.source === 'label' ? ' (by the guard label)' : ''}`;

  // --- Which run does it belong to, and does that run still exist? ---
  const candidates: Candidate[] = [];
  const graceSeconds = pod.terminationGracePeriodSeconds + config.graceMarginSeconds;
  const timed = (): Verdict => leftoverVerdict(candidates, graceSeconds);

  if (!workflow) {
    candidates.push({
      reason: 'owner-gone',
      statusTime: undefined,
      what: `no Workflow ${pod.workflowName ?? '(unnamed)'} exists${pod.workflowUid ? ` (the pod belongs to uid ${pod.workflowUid}, read from its ${uidSourceText(pod)})` : ''}`,
    });
    return timed();
  }
  if (!pod.workflowUid) {
    return verdict(
      'unknown',
      'workflow-uid-unknown',
      `pod has no Workflow ownerReference, guard uid label or ARGO_WORKFLOW_UID, and Workflow ${workflow.name} (uid ${workflow.uid}) exists: it may be another run of that name`,
    );
  }
  if (workflow.uid !== pod.workflowUid) {
    candidates.push({
      reason: 'owner-gone',
      statusTime: undefined,
      what: `the pod belongs to Workflow uid ${pod.workflowUid} (from its ${uidSourceText(pod)}), but Workflow ${workflow.name} is now uid ${workflow.uid}: another run reused the name`,
    });
    return timed();
  }

  // --- The run exists: workflow-level facts first (they need no node map) ---
  if (workflow.deletionTimestamp !== undefined) {
    candidates.push({ reason: 'workflow-deleting', statusTime: workflow.deletionTimestamp, what: `Workflow ${workflow.name} is being deleted` });
  }
  if (workflow.completed) {
    candidates.push({ reason: 'workflow-complete', statusTime: workflow.finishedAt, what: `Workflow ${workflow.name} is ${workflow.phase}` });
  }

  // --- Then the scope, from the node map ---
  const nodes = workflow.nodes;
  if (nodes.kind !== 'nodes') {
    if (candidates.length) return timed();
    return nodes.kind === 'offloaded'
      ? verdict('unknown', 'status-offloaded', `Workflow ${workflow.name} keeps its nodes in Argo's database (offloadNodeStatusVersion ${nodes.version}): the daemon's scope cannot be known`)
      : verdict('unknown', 'status-unreadable', `Workflow ${workflow.name}'s node map cannot be read: ${nodes.reason}`);
  }
  const node = pod.nodeId === undefined ? undefined : nodes.nodes.get(pod.nodeId);
  if (!node) {
    if (candidates.length) return timed();
    return nodeMissing(pod.nodeId ?? '(none)');
  }
  let boundaryMissing = false;
  if (node.boundaryID !== '') {
    const boundary = nodes.nodes.get(node.boundaryID);
    if (!boundary) boundaryMissing = true;
    else if (fulfilled(boundary.phase)) {
      candidates.push({ reason: 'boundary-fulfilled', statusTime: boundary.finishedAt, what: `its scope ${describeNode(boundary)} is ${boundary.phase}` });
    }
  }
  // boundaryID "": the scope is the Workflow itself, whose completion is already a candidate above.
  if (fulfilled(node.phase) && !node.daemoned) {
    candidates.push({ reason: 'node-stopped', statusTime: undefined, what: `its node ${node.id} is ${node.phase} and no longer daemoned: Argo already tried to stop it` });
  }
  if (candidates.length) return timed();
  if (boundaryMissing) {
    return verdict('unknown', 'boundary-missing', `the boundary node ${node.boundaryID} of node ${node.id} is not in Workflow ${workflow.name}'s node map: the daemon's scope cannot be known`);
  }
  const state = node.daemoned ? 'daemoned' : `${node.phase || 'not yet started'} (not yet ready)`;
  const scope = node.boundaryID === '' ? `the Workflow (${workflow.phase || 'not started'})` : `scope ${node.boundaryID}`;
  return verdict('keep', 'scope-live', `${daemonDesc}: node ${node.id} is ${state} and ${scope} is live`);

  function leftoverVerdict(cands: Candidate[], grace: number): Verdict {
    let best: { c: Candidate; end: number; from: 'status' | 'first-seen' } | undefined;
    for (const c of cands) {
      const trusted = c.statusTime !== undefined && c.statusTime <= now;
      const end = trusted ? c.statusTime! : firstSeenFor(c.reason);
      const from = trusted ? 'status' : 'first-seen';
      if (!best || end < best.end || (end === best.end && precedence.indexOf(c.reason) < precedence.indexOf(best.c.reason))) best = { c, end, from };
    }
    const { c, end, from } = best!;
    const notBefore = end + grace * 1000;
    const when = from === 'status' ? `ended ${iso(end)}` : `first seen ${iso(end)}`;
    const graceText = `grace ${pod.terminationGracePeriodSeconds}s + margin ${config.graceMarginSeconds}s`;
    const detail = `${daemonDesc}: ${c.what} (${when}); ${graceText}`;
    return verdict(now >= notBefore ? 'reap' : 'wait', c.reason, now >= notBefore ? `${detail} passed` : `${detail} until ${iso(notBefore)}`, {
      notBefore: new Date(notBefore),
      scopeEndedAt: new Date(end),
      timeFrom: from,
    });
  }

  // Why node-missing never reaps on a first sighting, and by default never reaps at all: the only
  // evidence is an absence. The controller creates a pod before it persists the node that names it,
  // a status write may conflict and be redone, and the reaper's Workflow cache can lag its pod cache —
  // each looks exactly like a missing node for a while. Deleting a pod whose node then appears makes
  // Argo mark the node Error ("pod deleted") and fail a live scope, the one harm the reaper must never
  // do. Reaching this branch also means the Workflow is live (not complete, not deleting — those are
  // leftover reasons that need no node). So: `wait` for nodeMissingGrace from the first sighting, then
  // by default `unknown` (reported); the pod is reaped once its Workflow completes, is deleted or
  // disappears. `nodeMissing: reap` opts into reaping after the grace.
  function nodeMissing(nodeId: string): Verdict {
    const start = firstSeenFor('node-missing');
    const until = start + config.nodeMissingGraceSeconds * 1000;
    const base = `node ${nodeId} is not in the node map of Workflow ${workflow!.name} (${workflow!.phase || 'not started'}), first seen ${iso(start)}`;
    const extra = { scopeEndedAt: null, timeFrom: 'first-seen' as const };
    if (now < until) return verdict('wait', 'node-missing', `${base}; waiting out the ${config.nodeMissingGraceSeconds}s grace until ${iso(until)}`, { ...extra, notBefore: new Date(until) });
    if (config.nodeMissing === 'reap') return verdict('reap', 'node-missing', `${base}; the ${config.nodeMissingGraceSeconds}s grace passed`, { ...extra, notBefore: new Date(until) });
    return verdict('unknown', 'node-missing', `${base}; the ${config.nodeMissingGraceSeconds}s grace passed (nodeMissing: report, so not deleted)`, extra);
  }
}

function uidSourceText(pod: PodState): string {
  switch (pod.workflowUidSource) {
    case 'owner':
      return 'ownerReference';
    case 'label':
      return 'argo-daemon-guard.io/workflow-uid label';
    case 'env':
      return 'ARGO_WORKFLOW_UID env var';
    default:
      return 'pod';
  }
}

function describeNode(node: NodeState): string {
  return `${node.type || 'node'} ${node.id}`;
}

/**
 * When a pod being deleted counts as stuck: its deletionTimestamp — which the API server
 * sets to the moment of the delete plus the grace period — plus graceMargin. Null when not being deleted.
 * The reaper reports a daemon pod it deleted that is still present at this moment (DaemonStuck, reason
 * pod-stuck), and force-deletes it only with `stuck: force`.
 */
export function stuckAt(pod: Pick<PodState, 'deletionTimestamp'>, config: ReaperConfig): Date | null {
  return pod.deletionTimestamp === undefined ? null : new Date(pod.deletionTimestamp + config.graceMarginSeconds * 1000);
}
