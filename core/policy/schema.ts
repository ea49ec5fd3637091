// The one definition of the daemon policy: its JSON Schema (used by the loader here and rendered
// into the chart's values.schema.json), its TypeScript shape, and its defaults.
import { ConfigFileError, configLoader, durationPattern, durationSeconds } from '../config-file.ts';
import { record } from '../data.ts';

export const modes = ['enforce', 'warn', 'audit', 'off'] as const;
export type Mode = (typeof modes)[number];

export const ruleNames = [
  'readinessProbe',
  'resources',
  'registries',
  'privileged',
  'hostNetwork',
  'hostPath',
  'daemonsPerWorkflow',
  'maxLifetime',
] as const;
export type RuleName = (typeof ruleNames)[number];

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }[];
}

export interface Policy {
  /** Go-style duration ("24h", "90m") or seconds; 0 turns the cap off. */
  maxLifetime: string | number;
  defaults: { requests: Record<string, string>; limits: Record<string, string> };
  rules: {
    readinessProbe: { mode: Mode };
    resources: { mode: Mode; requests: string[]; limits: string[] };
    registries: { mode: Mode; allow: string[] };
    privileged: { mode: Mode };
    hostNetwork: { mode: Mode };
    hostPath: { mode: Mode };
    daemonsPerWorkflow: { mode: Mode; max: number };
    maxLifetime: { mode: Mode };
  };
  namespaces: { names: string[]; mode?: Mode; rules?: Partial<Record<RuleName, Mode>> }[];
  exemptions: { namespaces?: string[]; selector?: LabelSelector; rules?: RuleName[] }[];
}

/** Enforces nothing: every rule warns, daemons live at most a day (safe to install on a running cluster). */
export const defaultPolicy: Policy = {
  maxLifetime: '24h',
  defaults: { requests: {}, limits: {} },
  rules: {
    readinessProbe: { mode: 'warn' },
    resources: { mode: 'warn', requests: ['cpu', 'memory'], limits: [] },
    registries: { mode: 'warn', allow: [] },
    privileged: { mode: 'warn' },
    hostNetwork: { mode: 'warn' },
    hostPath: { mode: 'warn' },
    daemonsPerWorkflow: { mode: 'warn', max: 5 },
    maxLifetime: { mode: 'warn' },
  },
  namespaces: [],
  exemptions: [],
};

const mode = { type: 'string', enum: [...modes], description: 'enforce: deny; warn: admission warning; audit: log + metric only; off: not checked' };
const names = { type: 'array', items: { type: 'string', minLength: 1 } };
const quantityMap = { type: 'object', additionalProperties: { type: 'string', minLength: 1 } };
const ruleWith = (extra: Record<string, unknown> = {}, description = '') => ({
  type: 'object',
  additionalProperties: false,
  description,
  properties: { mode, ...extra },
});

export const policySchema = {
  $id: 'https://argo-daemon-guard.io/schemas/policy.json',
  title: 'argo-daemon-guard policy',
  type: 'object',
  additionalProperties: false,
  properties: {
    maxLifetime: {
      description: 'Cap on a daemon pod\'s activeDeadlineSeconds (Go duration like "24h" or seconds); 0 disables the cap',
      oneOf: [
        { type: 'string', pattern: durationPattern, minLength: 1 },
        { type: 'integer', minimum: 0 },
      ],
    },
    defaults: {
      type: 'object',
      additionalProperties: false,
      description: 'Filled in on daemon service containers by the mutating webhook where absent',
      properties: { requests: quantityMap, limits: quantityMap },
    },
    rules: {
      type: 'object',
      additionalProperties: false,
      properties: {
        readinessProbe: ruleWith({}, 'The service container has a readinessProbe (Argo treats a daemon as up when ready)'),
        resources: ruleWith(
          { requests: { ...names, description: 'Resource names every service container must request' }, limits: { ...names, description: 'Resource names every service container must limit' } },
          'Resource requests and limits on service containers',
        ),
        registries: ruleWith({ allow: { ...names, description: 'Allowed registries or repository prefixes; empty allows any' } }, 'Images come from allowed registries'),
        privileged: ruleWith({}, 'No privileged container'),
        hostNetwork: ruleWith({}, 'No hostNetwork'),
        hostPath: ruleWith({}, 'No hostPath volume'),
        daemonsPerWorkflow: ruleWith({ max: { type: 'integer', minimum: 0 } }, 'Daemons one run starts, counted statically at submission'),
        maxLifetime: ruleWith({}, 'Templates that declare a longer activeDeadlineSeconds than maxLifetime'),
      },
    },
    namespaces: {
      type: 'array',
      description: 'Per-namespace mode overrides; the first entry whose names match wins',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['names'],
        properties: {
          names: { ...names, minItems: 1, description: 'Namespace names; a trailing * matches a prefix' },
          mode,
          rules: { type: 'object', additionalProperties: false, properties: Object.fromEntries(ruleNames.map((r) => [r, mode])) },
        },
      },
    },
    exemptions: {
      type: 'array',
      description: 'Objects exempt from rules; set only here, never by an annotation users control',
      items: {
        type: 'object',
        additionalProperties: false,
        properties: {
          namespaces: names,
          selector: {
            type: 'object',
            additionalProperties: false,
            properties: {
              matchLabels: { type: 'object', additionalProperties: { type: 'string' } },
              matchExpressions: {
                type: 'array',
                items: {
                  type: 'object',
                  additionalProperties: false,
                  required: ['key', 'operator'],
                  properties: {
                    key: { type: 'string', minLength: 1 },
                    operator: { type: 'string', enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'] },
                    values: { type: 'array', items: { type: 'string' } },
                  },
                },
              },
            },
          },
          rules: { type: 'array', items: { type: 'string', enum: [...ruleNames] } },
        },
      },
    },
  },
} as const;

/** A policy file that failed the schema; `problems` name each bad field. */
export class PolicyError extends ConfigFileError {
  constructor(source: string, problems: string[]) {
    super('policy', source, problems);
  }
}

const loadPolicyDocument = configLoader('policy', policySchema);

/** Parses the policy file's text; unknown fields and bad values are errors that name the field. */
export function parsePolicy(source: string, yamlText: string): Policy {
  try {
    return withDefaults(loadPolicyDocument(source, yamlText) as Partial<Policy>);
  } catch (err) {
    throw err instanceof ConfigFileError ? new PolicyError(source, err.problems) : err;
  }
}

function withDefaults(p: Partial<Policy>): Policy {
  const rules = { ...defaultPolicy.rules } as Record<RuleName, Record<string, unknown>>;
  for (const name of ruleNames) rules[name] = { ...structuredClone(defaultPolicy.rules[name]), ...(record(p.rules?.[name]) ?? {}) };
  return {
    maxLifetime: p.maxLifetime ?? defaultPolicy.maxLifetime,
    defaults: { requests: p.defaults?.requests ?? {}, limits: p.defaults?.limits ?? {} },
    rules: rules as unknown as Policy['rules'],
    namespaces: p.namespaces ?? [],
    exemptions: p.exemptions ?? [],
  };
}

/** A policy duration (maxLifetime) in seconds; the policy's importers read it from here. */
export { durationSeconds };
