// The reaper's decisions and the closed set of reasons behind them. Defined once here;
// logs, Events, metric labels, `explain` and the README use these tokens unchanged.

export const decisions = ['keep', 'wait', 'reap', 'unknown'] as const;
/**
 * keep: nothing to do (live daemon, not ours, not running).
 * wait: leftover (or possibly leftover), but Argo's own grace has not passed: decide again at notBefore.
 * reap: leftover and past grace: delete the pod (uid precondition).
 * unknown: the facts needed are not available; never delete, report.
 */
export type Decision = (typeof decisions)[number];

interface ReasonInfo {
  /** One line for the README, `explain` and Event messages. */
  description: string;
  /** The decisions this reason can come with. */
  decisions: readonly Decision[];
}

export const reasons = {
  // Leftover: the daemon's scope is over. `wait` until Argo's grace has passed, then `reap`.
  'boundary-fulfilled': {
    description: "the daemon's scope (its boundary Steps/DAG node) is fulfilled, yet the pod still runs",
    decisions: ['wait', 'reap'],
  },
  'node-stopped': {
    description: "Argo fulfilled the daemon's node and cleared daemoned (it tried to stop it), yet the pod still runs",
    decisions: ['wait', 'reap'],
  },
  'workflow-complete': {
    description: 'the Workflow is Succeeded, Failed or Error, yet this daemon pod still runs',
    decisions: ['wait', 'reap'],
  },
  'workflow-deleting': {
    description: 'the Workflow is being deleted (deletionTimestamp set), yet this daemon pod still runs',
    decisions: ['wait', 'reap'],
  },
  'owner-gone': {
    description: 'no Workflow with the uid this pod belongs to exists (deleted, orphaned, or its name reused by another run)',
    decisions: ['wait', 'reap'],
  },
  'node-missing': {
    description: "the pod's node id is absent from the Workflow's (readable) node map of its own run, past the grace",
    decisions: ['wait', 'reap', 'unknown'],
  },

  // Keep: nothing to do.
  'scope-live': {
    description: "the daemon's scope is still running: Argo will stop it when the scope ends",
    decisions: ['keep'],
  },
  'not-a-daemon': {
    description: "the pod's template is not a daemon: the reaper never touches it",
    decisions: ['keep'],
  },
  'not-a-workflow-pod': {
    description: "not one of Argo's workload pods (no workflow label or node-id annotation, or an agent/artifact-GC pod)",
    decisions: ['keep'],
  },
  'pod-not-running': {
    description: 'the pod is not Running (Pending, Succeeded, Failed, Unknown): no daemon process to stop',
    decisions: ['keep'],
  },
  'pod-terminating': {
    description: 'the pod is already being deleted (deletionTimestamp set)',
    decisions: ['keep'],
  },
  'pod-uid-changed': {
    description: 'the pod now under this name is a different object than the one queued: decided again on its own',
    decisions: ['keep'],
  },
  'out-of-scope': {
    description: "the pod is outside the reaper's namespaces or controller instance id",
    decisions: ['keep'],
  },

  // Unknown: a fact a safe decision needs is not available. Never reaped for these.
  'status-offloaded': {
    description: "the Workflow's nodes are offloaded to Argo's database (offloadNodeStatusVersion): the scope cannot be known",
    decisions: ['unknown'],
  },
  'status-unreadable': {
    description: "the Workflow's node map cannot be decoded (compressedNodes neither gzip, zstd nor brotli, or not JSON)",
    decisions: ['unknown'],
  },
  'template-unknown': {
    description: "the pod's template cannot be read (offloaded and unread, missing, not JSON) and the pod has no guard daemon label",
    decisions: ['unknown'],
  },
  'workflow-uid-unknown': {
    description: 'the pod has no Workflow owner, guard uid label or ARGO_WORKFLOW_UID, and a Workflow of its name exists: which run it belongs to cannot be known',
    decisions: ['unknown'],
  },
  'boundary-missing': {
    description: "the daemon's boundary node is absent from the Workflow's node map: its scope cannot be known",
    decisions: ['unknown'],
  },

  // Reaper outcome, not a decision: reported after a delete.
  'pod-stuck': {
    description: 'a reaped pod is still present past its termination grace plus the margin (force-deleted only with stuck: force)',
    decisions: [],
  },
} as const satisfies Record<string, ReasonInfo>;

export type Reason = keyof typeof reasons;

export const reasonNames = Object.keys(reasons) as Reason[];

export function isReason(value: unknown): value is Reason {
  return typeof value === 'string' && Object.hasOwn(reasons, value);
}

export function describeReason(reason: Reason): string {
  return reasons[reason].description;
}

/** The README table: `| reason | decisions | meaning |`, one row per reason. */
export function reasonsMarkdown(): string {
  const rows = reasonNames.map((r) => `| \`${r}\` | ${reasons[r].decisions.join(', ') || '(reaper outcome)'} | ${reasons[r].description} |`);
  return ['| reason | decisions | meaning |', '|---|---|---|', ...rows].join('\n');
}
