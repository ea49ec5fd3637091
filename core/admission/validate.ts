// The policy applied to daemon templates at submission (Workflow, WorkflowTemplate,
// ClusterWorkflowTemplate, CronWorkflow) and again to daemon pods at creation, as a backstop.
import { argo } from '../keys.ts';
import { at, bool, list, record } from '../data.ts';
import { containerView, hostPathVolumes, type ContainerView } from '../argo/template.ts';
import { readWorkflowObject, type WorkflowObjectView } from '../argo/workflow.ts';
import { checkDaemon, checkDaemonCount, type DaemonSubject, type Finding } from '../policy/rules.ts';
import { verdictOf, type Scope, type Verdict } from '../policy/evaluate.ts';
import type { Policy } from '../policy/schema.ts';
import type { PodDaemon } from './daemon.ts';
import { serviceContainerNames } from './mutate.ts';

export interface Validation extends Verdict {
  /** What was checked, for logs: e.g. "Workflow ci/daemon-step-" or "pod ci/wf-redis-123". */
  subject: string;
  /** Why nothing could be checked (malformed object, unreadable template): admitted, with a warning. */
  unknown?: string;
  daemonTemplates: string[];
}

function unknownVerdict(subject: string, reason: string): Validation {
  return { allowed: true, message: '', warnings: [`argo-daemon-guard: ${subject} not checked: ${reason}`], findings: [], subject, unknown: reason, daemonTemplates: [] };
}

function submissionFindings(wf: WorkflowObjectView, p: Policy): { findings: Finding[]; daemons: string[] } {
  const daemons = wf.templates.filter((t) => t.daemon);
  const findings = daemons.flatMap((t) =>
    checkDaemon(
      {
        template: t.name,
        containers: t.containers,
        hostNetwork: wf.hostNetwork,
        hostPathVolumes: [...t.hostPathVolumes, ...wf.hostPathVolumes],
        activeDeadlineSeconds: t.activeDeadlineSeconds,
      },
      p,
    ),
  );
  findings.push(...checkDaemonCount(wf.name, wf.daemons.count, wf.daemons.atLeast, p));
  return { findings, daemons: daemons.map((t) => t.name) };
}

export function validateWorkflowObject(obj: unknown, namespace: string, p: Policy): Validation {
  const read = readWorkflowObject(obj);
  const subject = `${String(at(obj, 'kind') ?? 'object')} ${namespace ? `${namespace}/` : ''}${String(at(obj, 'metadata', 'name') ?? at(obj, 'metadata', 'generateName') ?? '(unnamed)')}`;
  if (!read.ok) return unknownVerdict(subject, read.reason);
  const wf = read.value;
  const scope: Scope = { namespace: namespace || wf.namespace, labels: wf.labels };
  const { findings, daemons } = submissionFindings(wf, p);
  return { ...verdictOf(findings, scope, p, subject), subject, daemonTemplates: daemons };
}

/** The daemon as the pod will run it: the pod's own containers and settings, not the template's. */
export function podSubject(pod: unknown, d: Extract<PodDaemon, { kind: 'daemon' }>): DaemonSubject {
  const services = new Set(serviceContainerNames(d));
  const executor: readonly string[] = argo.executorContainers;
  const containers: ContainerView[] = [];
  for (const [field, role] of [['containers', 'sidecar'], ['initContainers', 'init']] as const) {
    for (const raw of list(at(pod, 'spec', field))) {
      const name = String(at(raw, 'name') ?? '');
      if (executor.includes(name)) continue;
      containers.push(containerView(raw, field === 'containers' && services.has(name) ? 'service' : role, name));
    }
  }
  const deadline = at(pod, 'spec', 'activeDeadlineSeconds');
  return {
    template: d.template.name,
    containers,
    hostNetwork: bool(at(pod, 'spec', 'hostNetwork')),
    hostPathVolumes: hostPathVolumes(at(pod, 'spec', 'volumes')),
    activeDeadlineSeconds: typeof deadline === 'number' ? deadline : undefined,
  };
}

export function validatePod(pod: unknown, namespace: string, daemon: PodDaemon, p: Policy): Validation {
  const name = String(at(pod, 'metadata', 'name') ?? at(pod, 'metadata', 'generateName') ?? '(unnamed)');
  const subject = `pod ${namespace}/${name}`;
  if (daemon.kind === 'unknown') return unknownVerdict(subject, daemon.reason);
  if (daemon.kind !== 'daemon') return { allowed: true, message: '', warnings: [], findings: [], subject, daemonTemplates: [] };
  const labels = record(at(pod, 'metadata', 'labels')) as Record<string, string> | undefined;
  const scope: Scope = { namespace, labels: labels ?? {} };
  return { ...verdictOf(checkDaemon(podSubject(pod, daemon), p), scope, p, subject), subject, daemonTemplates: [daemon.template.name] };
}
