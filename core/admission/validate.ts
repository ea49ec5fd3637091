// The policy applied to daemon templates at submission (Workflow, WorkflowTemplate,
// ClusterWorkflowTemplate, CronWorkflow) and again to daemon pods at creation, as a backstop.
import { at, bool, list, stringMap, text } from '../data.ts';
import { isArgoContainer } from '../argo/pod.ts';
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

/** metadata.name, else metadata.generateName (a create with generateName has no name yet), when strings. */
function objectName(obj: unknown): string {
  return text(at(obj, 'metadata', 'name')) ?? text(at(obj, 'metadata', 'generateName')) ?? '(unnamed)';
}

export function validateWorkflowObject(obj: unknown, namespace: string, p: Policy): Validation {
  const read = readWorkflowObject(obj);
  // Only strings are read: anything else in kind or name (an object whose toString is not a function
  // makes String() throw) reads as absent.
  const subject = `${text(at(obj, 'kind')) ?? 'object'} ${namespace ? `${namespace}/` : ''}${objectName(obj)}`;
  if (!read.ok) return unknownVerdict(subject, read.reason);
  const wf = read.value;
  const scope: Scope = { namespace: namespace || wf.namespace, labels: wf.labels };
  const { findings, daemons } = submissionFindings(wf, p);
  return { ...verdictOf(findings, scope, p, subject), subject, daemonTemplates: daemons };
}

/** The daemon as the pod will run it: the pod's own containers and settings, not the template's. */
export function podSubject(pod: unknown, d: Extract<PodDaemon, { kind: 'daemon' }>): DaemonSubject {
  const services = new Set(serviceContainerNames(d));
  const declared = new Set(d.template.containers.map((c) => c.name));
  const containers: ContainerView[] = [];
  for (const [field, role] of [['containers', 'sidecar'], ['initContainers', 'init']] as const) {
    for (const raw of list(at(pod, 'spec', field))) {
      const name = text(at(raw, 'name')) ?? '';
      if (isArgoContainer(name, declared)) continue;
      // A container without a (string) name is still checked, named by its role in messages.
      containers.push(containerView(raw, field === 'containers' && services.has(name) ? 'service' : role, name || role));
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
  const subject = `pod ${namespace}/${objectName(pod)}`;
  if (daemon.kind === 'unknown') return unknownVerdict(subject, daemon.reason);
  if (daemon.kind !== 'daemon') return { allowed: true, message: '', warnings: [], findings: [], subject, daemonTemplates: [] };
  const scope: Scope = { namespace, labels: stringMap(at(pod, 'metadata', 'labels')) };
  return { ...verdictOf(checkDaemon(podSubject(pod, daemon), p), scope, p, subject), subject, daemonTemplates: [daemon.template.name] };
}
