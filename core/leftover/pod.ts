// A pod reduced to what the reaper's decision reads; the reaper keeps only this in memory.
import { argo, guard, kube } from '../keys.ts';
import { at, integer, record, stringMap, text } from '../data.ts';
import { podDaemon, type OffloadedTemplate } from '../admission/daemon.ts';
import { parseTime } from '../argo/status.ts';

/** Is the pod a daemon, and how do we know. */
export type DaemonSignal =
  /** From the template (ARGO_TEMPLATE or its ConfigMap), or — only when that cannot be read — the guard's label. */
  | { kind: 'daemon'; template: string; source: 'template' | 'label' }
  | { kind: 'not-daemon'; reason: string }
  /** Not an Argo workload pod: no workflow label, no node-id annotation, or an agent / artifact-GC pod. */
  | { kind: 'not-workload'; reason: string }
  | { kind: 'unknown'; reason: string };

export type WorkflowUidSource = 'owner' | 'label' | 'env';

export interface PodState {
  namespace: string;
  name: string;
  uid: string;
  /** metadata.resourceVersion: a delete preconditioned on it succeeds only on exactly this version. */
  resourceVersion?: string;
  /** status.phase: Pending, Running, Succeeded, Failed, Unknown; '' when missing. */
  phase: string;
  /** metadata.deletionTimestamp, ms since the epoch: the pod is already being deleted. */
  deletionTimestamp: number | undefined;
  /** spec.terminationGracePeriodSeconds, Kubernetes' default (30) when unset. */
  terminationGracePeriodSeconds: number;
  /** The workflows.argoproj.io/node-id annotation: the ONLY join from pod to node. */
  nodeId: string | undefined;
  /** The workflows.argoproj.io/node-name annotation, for messages. */
  nodeName: string | undefined;
  /** The workflows.argoproj.io/workflow label. */
  workflowName: string | undefined;
  /** The uid of the Workflow run the pod belongs to, and where it was read from. */
  workflowUid: string | undefined;
  workflowUidSource: WorkflowUidSource | undefined;
  /** The workflows.argoproj.io/controller-instanceid label. */
  instanceId: string | undefined;
  daemon: DaemonSignal;
}

/**
 * A raw pod → its reduced state. An offloaded template is passed in as read from the ConfigMap named
 * like the pod, as for admission. Daemon-ness comes from the template; the guard's daemon label is used
 * only when the template cannot be read (e.g. its ConfigMap is gone after the Workflow was deleted),
 * because the label is a pod label a user could also set, while the template is what Argo runs.
 */
export function readPod(raw: unknown, offloaded?: OffloadedTemplate): PodState {
  const meta = record(at(raw, 'metadata')) ?? {};
  const labels = stringMap(meta.labels);
  const annotations = stringMap(meta.annotations);
  const grace = integer(at(raw, 'spec', 'terminationGracePeriodSeconds'));
  const base: PodState = {
    namespace: text(meta.namespace) ?? '',
    name: text(meta.name) ?? '',
    uid: text(meta.uid) ?? '',
    resourceVersion: text(meta.resourceVersion),
    phase: text(at(raw, 'status', 'phase')) ?? '',
    deletionTimestamp: parseTime(meta.deletionTimestamp),
    terminationGracePeriodSeconds: grace !== undefined && grace >= 0 ? grace : kube.defaultTerminationGracePeriodSeconds,
    nodeId: annotations[argo.nodeIdAnnotation],
    nodeName: annotations[argo.nodeNameAnnotation],
    workflowName: labels[argo.workflowLabel],
    workflowUid: undefined,
    workflowUidSource: undefined,
    instanceId: labels[argo.controllerInstanceIdLabel],
    daemon: { kind: 'not-workload', reason: '' },
  };
  const d = podDaemon(raw, offloaded);
  if (d.kind === 'not-argo') return { ...base, daemon: { kind: 'not-workload', reason: d.reason } };
  const facts = d.pod;
  if (facts) {
    const ownerUid = facts.workflowOwner?.uid;
    const labelUid = facts.labels[guard.workflowUidLabel];
    if (ownerUid) ((base.workflowUid = ownerUid), (base.workflowUidSource = 'owner'));
    else if (labelUid) ((base.workflowUid = labelUid), (base.workflowUidSource = 'label'));
    else if (facts.workflowUidFromEnv) ((base.workflowUid = facts.workflowUidFromEnv), (base.workflowUidSource = 'env'));
  }
  if (d.kind === 'daemon') return { ...base, daemon: { kind: 'daemon', template: d.template.name, source: 'template' } };
  if (d.kind === 'not-daemon') return { ...base, daemon: { kind: 'not-daemon', reason: d.reason } };
  if (labels[guard.daemonLabel] === 'true') {
    return { ...base, daemon: { kind: 'daemon', template: annotations[guard.templateAnnotation] ?? '', source: 'label' } };
  }
  return { ...base, daemon: { kind: 'unknown', reason: d.reason } };
}
