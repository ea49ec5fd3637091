// Is this pod one of Argo's workload pods, and where does its template live?
// Argo's workflow label, its node-id annotation and the Workflow owner identify a workload pod.
// ARGO_TEMPLATE sits in every init container (v3.6 through v4.0: `init`, v4's `init-artifact-*` and the
// user's), in the `supervisor` container (the init-less layout of v4.1), or in every container (v3.5);
// it may say "offloaded", and then the JSON is in the ConfigMap named like the pod.
import { argo, guard } from '../keys.ts';
import { at, list, record, stringMap, text } from '../data.ts';

export type TemplateLayout = 'legacy' | 'init-less' | 'v3.5';

export type TemplateSource =
  | { kind: 'inline'; layout: TemplateLayout; container: string; json: string }
  | { kind: 'offloaded'; layout: TemplateLayout; container: string; configMap: string }
  | { kind: 'missing'; reason: string };

export interface OwnerRef {
  kind: string;
  name: string;
  uid: string;
}

/** The few facts about a pod that every decision reads; everything else is dropped at the edge. */
export interface PodFacts {
  name: string;
  namespace: string;
  uid: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  workflowName: string | undefined;
  nodeId: string | undefined;
  /** The Workflow ownerReference, if the pod still has one. */
  workflowOwner: OwnerRef | undefined;
  /** True when the pod has any ownerReference at all. */
  hasOwners: boolean;
  /** From ARGO_WORKFLOW_UID in any container: the link that survives an orphaning delete. */
  workflowUidFromEnv: string | undefined;
  component: string | undefined;
  template: TemplateSource;
}

export type PodClass =
  | { kind: 'workload'; pod: PodFacts }
  | { kind: 'not-argo'; reason: string }
  | { kind: 'not-workload'; reason: string };

interface ContainerEnv {
  name: string;
  env: Map<string, string>;
}

/** The only env vars any decision reads. */
const envRead: ReadonlySet<string> = new Set([argo.templateEnv, argo.workflowUidEnv]);

function containersOf(spec: unknown, field: 'initContainers' | 'containers'): ContainerEnv[] {
  return list(at(spec, field)).map((c) => {
    const env = new Map<string, string>();
    for (const e of list(at(c, 'env'))) {
      const name = text(at(e, 'name'));
      if (name === undefined || !envRead.has(name)) continue;
      const value = text(at(e, 'value'));
      if (value !== undefined) env.set(name, value);
    }
    return { name: text(at(c, 'name')) ?? '', env };
  });
}

export function locateTemplate(pod: unknown, podName: string): TemplateSource {
  const spec = at(pod, 'spec');
  return templateIn(containersOf(spec, 'initContainers'), containersOf(spec, 'containers'), podName);
}

function templateIn(inits: ContainerEnv[], mains: ContainerEnv[], podName: string): TemplateSource {
  const supervisor = mains.find((c) => c.name === argo.supervisorContainer && c.env.has(argo.templateEnv));
  // v3.5 also puts it in the init container, so a regular container carrying it decides v3.5 before
  // the init containers decide legacy.
  const candidates: [TemplateLayout, ContainerEnv | undefined][] = [
    ['init-less', supervisor],
    ['v3.5', mains.find((c) => c.name !== argo.supervisorContainer && c.env.has(argo.templateEnv))],
    ['legacy', inits.find((c) => c.env.has(argo.templateEnv))],
  ];
  for (const [layout, container] of candidates) {
    if (!container) continue;
    const value = container.env.get(argo.templateEnv)!;
    if (value === argo.offloadedTemplateValue) return { kind: 'offloaded', layout, container: container.name, configMap: podName };
    return { kind: 'inline', layout, container: container.name, json: value };
  }
  return { kind: 'missing', reason: `no container carries ${argo.templateEnv}` };
}

function workflowUidFromEnv(inits: ContainerEnv[], mains: ContainerEnv[]): string | undefined {
  for (const list of [inits, mains]) {
    for (const c of list) {
      const uid = c.env.get(argo.workflowUidEnv);
      if (uid) return uid;
    }
  }
  return undefined;
}

export function classifyPod(pod: unknown): PodClass {
  const meta = record(at(pod, 'metadata'));
  if (!meta) return { kind: 'not-argo', reason: 'pod has no metadata' };
  const labels = stringMap(meta.labels);
  const annotations = stringMap(meta.annotations);
  const workflowName = labels[argo.workflowLabel];
  if (workflowName === undefined) return { kind: 'not-argo', reason: `no ${argo.workflowLabel} label` };
  const component = labels[argo.componentLabel];
  if (component !== undefined && (argo.nonWorkloadComponents as readonly string[]).includes(component)) {
    return { kind: 'not-workload', reason: `Argo ${component} pod runs no template` };
  }
  const nodeId = annotations[argo.nodeIdAnnotation];
  if (nodeId === undefined) return { kind: 'not-workload', reason: `no ${argo.nodeIdAnnotation} annotation` };
  const owners = list(meta.ownerReferences);
  const wfOwner = owners.find((o) => text(at(o, 'kind')) === argo.kinds.workflow && text(at(o, 'apiVersion'))?.startsWith(`${argo.group}/`));
  const name = text(meta.name) ?? '';
  // Every container's env, read once for both the template and the workflow uid.
  const spec = at(pod, 'spec');
  const inits = containersOf(spec, 'initContainers');
  const mains = containersOf(spec, 'containers');
  return {
    kind: 'workload',
    pod: {
      name,
      namespace: text(meta.namespace) ?? '',
      uid: text(meta.uid) ?? '',
      labels,
      annotations,
      workflowName,
      nodeId,
      workflowOwner: wfOwner ? { kind: argo.kinds.workflow, name: text(at(wfOwner, 'name')) ?? '', uid: text(at(wfOwner, 'uid')) ?? '' } : undefined,
      hasOwners: owners.length > 0,
      workflowUidFromEnv: workflowUidFromEnv(inits, mains),
      component,
      template: templateIn(inits, mains, name),
    },
  };
}

/**
 * Is the pod's container `name` one Argo adds rather than one of the template's? The executor
 * containers always are. Artifact-plugin containers (v4.0+) are recognised by their prefix, but only
 * when the template declares no container of that name: a user's sidecar does not stop being checked
 * because its name looks like Argo's.
 */
export function isArgoContainer(name: string, declared: ReadonlySet<string>): boolean {
  if ((argo.executorContainers as readonly string[]).includes(name)) return true;
  if (declared.has(name)) return false;
  return name.startsWith(argo.artifactPluginInitPrefix) || name.startsWith(argo.artifactPluginSidecarPrefix);
}

/** The uid of the Workflow a pod belongs to: owner first, then the guard's label, then Argo's env var. */
export function workflowUidOf(pod: PodFacts): string | undefined {
  return pod.workflowOwner?.uid || pod.labels[guard.workflowUidLabel] || pod.workflowUidFromEnv;
}
