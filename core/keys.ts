// Every label, annotation, env name and Kubernetes key the project reads or writes: one place.

/** The guard's own names: users' scripts, the chart and the alerts depend on them, so they never change. */
export const guard = {
  name: 'argo-daemon-guard',
  daemonLabel: 'argo-daemon-guard.io/daemon',
  workflowUidLabel: 'argo-daemon-guard.io/workflow-uid',
  templateAnnotation: 'argo-daemon-guard.io/template',
  lifetimeCapAnnotation: 'argo-daemon-guard.io/lifetime-cap',
  /** Audit annotation keys are prefixed by the API server with the webhook's name. */
  auditDecisionKey: 'decision',
  metricPrefix: 'argo_daemon_guard_',
  eventReason: {
    reaped: 'DaemonReaped',
    wouldReap: 'DaemonWouldReap',
    stuck: 'DaemonStuck',
    circuitOpen: 'DaemonReaperCircuitOpen',
  },
} as const;

/** Argo Workflows' names, as its controller writes them. The webhook must never change these. */
export const argo = {
  group: 'argoproj.io',
  version: 'v1alpha1',
  apiVersion: 'argoproj.io/v1alpha1',
  workflowLabel: 'workflows.argoproj.io/workflow',
  completedLabel: 'workflows.argoproj.io/completed',
  onExitLabel: 'workflows.argoproj.io/on-exit',
  controllerInstanceIdLabel: 'workflows.argoproj.io/controller-instanceid',
  componentLabel: 'workflows.argoproj.io/component',
  nodeIdAnnotation: 'workflows.argoproj.io/node-id',
  nodeNameAnnotation: 'workflows.argoproj.io/node-name',
  templateEnv: 'ARGO_TEMPLATE',
  workflowUidEnv: 'ARGO_WORKFLOW_UID',
  offloadedTemplateValue: 'offloaded',
  supervisorContainer: 'supervisor',
  mainContainer: 'main',
  /** Argo's own executor containers in a workload pod; the user's containers are the rest. */
  executorContainers: ['init', 'wait', 'supervisor'],
  /**
   * v4.0+: Argo's artifact-plugin containers, each named by a prefix and the plugin's name: an init
   * container per input-artifact plugin, a sidecar per output-artifact plugin (log archiving included).
   * Their images come from the controller's configuration, not from the template.
   */
  artifactPluginInitPrefix: 'init-artifact-',
  artifactPluginSidecarPrefix: 'artifact-plugin-',
  /** Components that share the workflow label but run no template (agent, artifact GC). */
  nonWorkloadComponents: ['agent', 'artifact-gc'],
  kinds: {
    workflow: 'Workflow',
    workflowTemplate: 'WorkflowTemplate',
    clusterWorkflowTemplate: 'ClusterWorkflowTemplate',
    cronWorkflow: 'CronWorkflow',
  },
  resources: {
    workflows: 'workflows',
    workflowTemplates: 'workflowtemplates',
    clusterWorkflowTemplates: 'clusterworkflowtemplates',
    cronWorkflows: 'cronworkflows',
  },
} as const;

/**
 * Test cluster only: kwok makes pods with this label Running and Ready and never completes or deletes
 * them, so tests can stage a daemon the webhook missed or a pod stuck behind a finalizer.
 */
export const testing = {
  holdLabel: 'argo-daemon-guard.io/test-hold',
} as const;

/** Kubernetes defaults the decisions depend on. */
export const kube = {
  defaultTerminationGracePeriodSeconds: 30,
} as const;

/** Labels the Helm chart puts on every object it creates (the standard app.kubernetes.io set). */
export const chart = {
  partOfLabel: 'app.kubernetes.io/part-of',
  instanceLabel: 'app.kubernetes.io/instance',
  partOf: guard.name,
} as const;
