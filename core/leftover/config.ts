// The one definition of the reaper's configuration: its JSON Schema (used by the
// loader here and by the chart), its TypeScript shape, and its defaults. The reaper reloads the file
// at run time (dry-run can be switched without a restart), and `explain --config` reads the same file
// so its notBefore matches what the reaper would do.
import { ConfigFileError, configLoader, durationSchema, durationSeconds, namespaceMatches } from '../config-file.ts';

/** As written in the file (durations as Go-style text or seconds), before defaults. */
export interface ReaperConfigFile {
  dryRun?: boolean;
  dryRunNamespaces?: string[];
  namespaces?: string[];
  instanceId?: string | null;
  graceMargin?: string | number;
  nodeMissingGrace?: string | number;
  nodeMissing?: 'report' | 'reap';
  rateLimit?: { perMinute?: number };
  circuitBreaker?: { maxReaps?: number; window?: string | number };
  stuck?: 'report' | 'force';
  resync?: string | number;
}

/** Loaded, defaults applied, every duration in seconds. */
export interface ReaperConfig {
  dryRun: boolean;
  dryRunNamespaces: string[];
  namespaces: string[];
  instanceId: string | undefined;
  graceMarginSeconds: number;
  nodeMissingGraceSeconds: number;
  nodeMissing: 'report' | 'reap';
  rateLimit: { perMinute: number };
  circuitBreaker: { maxReaps: number; windowSeconds: number };
  stuck: 'report' | 'force';
  resyncSeconds: number;
}

export const defaultReaperConfigFile = {
  dryRun: false,
  dryRunNamespaces: [],
  namespaces: [],
  instanceId: null,
  graceMargin: '30s',
  nodeMissingGrace: '5m',
  nodeMissing: 'report',
  rateLimit: { perMinute: 60 },
  circuitBreaker: { maxReaps: 100, window: '10m' },
  stuck: 'report',
  resync: '10m',
} as const satisfies Required<ReaperConfigFile>;


const namespaceList = (description: string) => ({
  type: 'array',
  description: `${description}; a trailing * matches a prefix`,
  items: { type: 'string', minLength: 1, pattern: '^(\\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?|[a-z0-9][-a-z0-9]*\\*)$' },
});

export const reaperConfigSchema = {
  $id: 'https://argo-daemon-guard.io/schemas/reaper-config.json',
  title: 'argo-daemon-guard reaper configuration',
  type: 'object',
  additionalProperties: false,
  properties: {
    dryRun: {
      type: 'boolean',
      description: 'Decide and report (log, DaemonWouldReap Event, metric) but delete nothing, everywhere. Re-read at run time. Default false',
    },
    dryRunNamespaces: namespaceList('Namespaces in dry-run even when dryRun is false. Default none'),
    namespaces: namespaceList('Namespaces the reaper watches and acts in; empty means all. Default all'),
    instanceId: {
      type: ['string', 'null'],
      minLength: 1,
      description:
        "Argo controller instance id: when set, only pods labeled workflows.argoproj.io/controller-instanceid with this value are considered; when unset, every workflow pod (any or no instance id). Default unset",
    },
    graceMargin: durationSchema(
      "Extra wait after a daemon's scope ended, on top of the pod's terminationGracePeriodSeconds (default 30), so Argo's own SIGTERM/SIGKILL gets its chance first; also how long past its grace a deleted pod may linger before it is reported stuck. Default 30s",
    ),
    nodeMissingGrace: durationSchema(
      "How long a pod's node id may be absent from its (readable) Workflow's node map before node-missing counts: covers the controller writing the status after creating the pod. Default 5m",
    ),
    nodeMissing: {
      type: 'string',
      enum: ['report', 'reap'],
      description:
        "What a node missing past nodeMissingGrace from a live Workflow leads to: report (decision unknown: log, Event, metric; the pod is reaped once the Workflow completes, is deleted or disappears) or reap. Default report",
    },
    rateLimit: {
      type: 'object',
      additionalProperties: false,
      description: 'Deletion rate limit',
      properties: {
        perMinute: { type: 'integer', minimum: 1, description: 'At most this many pod deletions per minute; the rest wait their turn. Default 60' },
      },
    },
    circuitBreaker: {
      type: 'object',
      additionalProperties: false,
      description:
        'When more than maxReaps reaps happen within window, the reaper turns itself to dry-run and says so (Event on its own objects, metric, log) until restarted or the config changes',
      properties: {
        maxReaps: { type: 'integer', minimum: 1, description: 'Reaps allowed within one window before the breaker opens. Default 100' },
        window: durationSchema('The sliding window the breaker counts reaps in. Default 10m', 1),
      },
    },
    stuck: {
      type: 'string',
      enum: ['report', 'force'],
      description:
        'A reaped pod still present past its terminationGracePeriodSeconds plus graceMargin is stuck: report it (Event, metric, log), or also force-delete it (grace period 0). Default report',
    },
    resync: durationSchema('How often every watched pod is decided again even without an event (catches notBefore passing and missed events). Default 10m', 1),
  },
} as const;

/** A reaper config file that failed the schema; `problems` name each bad field. */
export class ReaperConfigError extends ConfigFileError {
  constructor(source: string, problems: string[]) {
    super('reaper config', source, problems);
  }
}

const loadReaperConfigDocument = configLoader('reaper config', reaperConfigSchema);

/** Parses the reaper config file's text; unknown fields and bad values are errors that name the field. */
export function parseReaperConfig(source: string, yamlText: string): ReaperConfig {
  try {
    return reaperConfig(loadReaperConfigDocument(source, yamlText) as ReaperConfigFile);
  } catch (err) {
    throw err instanceof ConfigFileError ? new ReaperConfigError(source, err.problems) : err;
  }
}

/** Applies defaults and converts durations; the input must already satisfy the schema. */
export function reaperConfig(file: ReaperConfigFile = {}): ReaperConfig {
  const d = defaultReaperConfigFile;
  return {
    dryRun: file.dryRun ?? d.dryRun,
    dryRunNamespaces: file.dryRunNamespaces ?? [...d.dryRunNamespaces],
    namespaces: file.namespaces ?? [...d.namespaces],
    instanceId: file.instanceId ?? undefined,
    graceMarginSeconds: durationSeconds(file.graceMargin ?? d.graceMargin),
    nodeMissingGraceSeconds: durationSeconds(file.nodeMissingGrace ?? d.nodeMissingGrace),
    nodeMissing: file.nodeMissing ?? d.nodeMissing,
    rateLimit: { perMinute: file.rateLimit?.perMinute ?? d.rateLimit.perMinute },
    circuitBreaker: {
      maxReaps: file.circuitBreaker?.maxReaps ?? d.circuitBreaker.maxReaps,
      windowSeconds: durationSeconds(file.circuitBreaker?.window ?? d.circuitBreaker.window),
    },
    stuck: file.stuck ?? d.stuck,
    resyncSeconds: durationSeconds(file.resync ?? d.resync),
  };
}

export const defaultReaperConfig: ReaperConfig = reaperConfig();

/** Namespace patterns as in the policy: exact names, a trailing * matches a prefix, "*" matches all. */
export { namespaceMatches };

/** Whether the reaper watches and acts in this namespace. */
export function watchesNamespace(config: ReaperConfig, namespace: string): boolean {
  return config.namespaces.length === 0 || namespaceMatches(config.namespaces, namespace);
}

/** Whether a reap in this namespace is only reported (global dry-run or a dry-run namespace). */
export function isDryRun(config: ReaperConfig, namespace: string): boolean {
  return config.dryRun || namespaceMatches(config.dryRunNamespaces, namespace);
}
