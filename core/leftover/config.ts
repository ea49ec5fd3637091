// The one definition of the reaper's configuration (contracts §4, §5): its JSON Schema (used by the
// loader here and by the chart), its TypeScript shape, and its defaults. The reaper reloads the file
// at run time (dry-run can be switched without a restart), and `explain --config` reads the same file
// so its notBefore matches what the reaper would do.
import { Ajv, type ErrorObject } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { durationSeconds } from '../policy/schema.ts';

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

const duration = (description: string, minimum = 0) => ({
  description: `${description} (Go-style duration like "30s", "5m", "1h30m", or a number of seconds)`,
  oneOf: [
    { type: 'string', pattern: '^(0|(\\d+h)?(\\d+m)?(\\d+s)?)$', minLength: 1 },
    { type: 'integer', minimum },
  ],
});
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
    graceMargin: duration(
      "Extra wait after a daemon's scope ended, on top of the pod's terminationGracePeriodSeconds (default 30), so Argo's own SIGTERM/SIGKILL gets its chance first; also how long past its grace a deleted pod may linger before it is reported stuck. Default 30s",
    ),
    nodeMissingGrace: duration(
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
        window: duration('The sliding window the breaker counts reaps in. Default 10m', 1),
      },
    },
    stuck: {
      type: 'string',
      enum: ['report', 'force'],
      description:
        'A reaped pod still present past its terminationGracePeriodSeconds plus graceMargin is stuck: report it (Event, metric, log), or also force-delete it (grace period 0). Default report',
    },
    resync: duration('How often every watched pod is decided again even without an event (catches notBefore passing and missed events). Default 10m', 1),
  },
} as const;

const validator = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true }).compile(reaperConfigSchema);

function describe(err: ErrorObject): string {
  const field = err.instancePath ? err.instancePath.slice(1).replaceAll('/', '.') : '(top level)';
  if (err.keyword === 'additionalProperties') return `${field === '(top level)' ? '' : `${field}.`}${String(err.params.additionalProperty)}: unknown field`;
  if (err.keyword === 'enum') return `${field}: must be one of ${(err.params.allowedValues as string[]).join(', ')}`;
  if (err.keyword === 'pattern' && /^(graceMargin|nodeMissingGrace|resync|circuitBreaker\.window)$/.test(field)) {
    return `${field}: must be a duration like "30s", "5m", "1h30m" or a number of seconds`;
  }
  return `${field}: ${err.message ?? 'invalid'}`;
}

export class ReaperConfigError extends Error {
  readonly problems: string[];
  constructor(source: string, problems: string[]) {
    super(`reaper config ${source} is invalid: ${problems.join('; ')}`);
    this.problems = problems;
  }
}

/** Parses the reaper config file's text; unknown fields and bad values are errors that name the field. */
export function parseReaperConfig(source: string, yamlText: string): ReaperConfig {
  let doc: unknown;
  try {
    doc = parseYaml(yamlText);
  } catch (err) {
    throw new ReaperConfigError(source, [`not YAML: ${(err as Error).message.split('\n')[0]}`]);
  }
  if (doc === null || doc === undefined) doc = {};
  if (!validator(doc)) {
    const problems = [...new Set((validator.errors ?? []).filter((e) => e.keyword !== 'oneOf').map(describe))];
    throw new ReaperConfigError(source, problems.length ? problems : ['does not match the reaper config schema']);
  }
  return reaperConfig(doc as ReaperConfigFile);
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
export function namespaceMatches(patterns: readonly string[], namespace: string): boolean {
  return patterns.some((p) => (p.endsWith('*') ? namespace.startsWith(p.slice(0, -1)) : p === namespace));
}

/** Whether the reaper watches and acts in this namespace. */
export function watchesNamespace(config: ReaperConfig, namespace: string): boolean {
  return config.namespaces.length === 0 || namespaceMatches(config.namespaces, namespace);
}

/** Whether a reap in this namespace is only reported (global dry-run or a dry-run namespace). */
export function isDryRun(config: ReaperConfig, namespace: string): boolean {
  return config.dryRun || namespaceMatches(config.dryRunNamespaces, namespace);
}
