// The one loader for the project's YAML files (the daemon policy, the reaper config): YAML text →
// checked against its JSON Schema → a document, or problems that each name the field at fault.
import { Ajv, type ErrorObject } from 'ajv';
import { parse as parseYaml } from 'yaml';

/** A file that failed its schema; `problems` name each bad field. */
export class ConfigFileError extends Error {
  readonly problems: string[];
  constructor(what: string, source: string, problems: string[]) {
    super(`${what} ${source} is invalid: ${problems.join('; ')}`);
    this.problems = problems;
  }
}

/** Go-style durations ("24h", "1h30m", "30s") or whole seconds. */
export const durationPattern = '^(0|(\\d+h)?(\\d+m)?(\\d+s)?)$';

export function durationSchema(description: string, minimum = 0) {
  return {
    description: `${description} (Go-style duration like "30s", "5m", "1h30m", or a number of seconds)`,
    oneOf: [
      { type: 'string', pattern: durationPattern, minLength: 1 },
      { type: 'integer', minimum },
    ],
  };
}

/** "24h" / "1h30m" / 5400 → seconds; the schema has already checked the form. */
export function durationSeconds(value: string | number): number {
  if (typeof value === 'number') return value;
  let total = 0;
  for (const m of value.matchAll(/(\d+)([hms])/g)) total += Number(m[1]) * { h: 3600, m: 60, s: 1 }[m[2] as 'h' | 'm' | 's'];
  return total;
}

/** Namespace lists in both files: exact names, or a prefix ending in *. */
export function namespaceMatches(patterns: readonly string[], namespace: string): boolean {
  return patterns.some((p) => (p.endsWith('*') ? namespace.startsWith(p.slice(0, -1)) : p === namespace));
}

function describe(err: ErrorObject): string {
  const field = err.instancePath ? err.instancePath.slice(1).replaceAll('/', '.') : '(top level)';
  if (err.keyword === 'additionalProperties') return `${field === '(top level)' ? '' : `${field}.`}${String(err.params.additionalProperty)}: unknown field`;
  if (err.keyword === 'enum') return `${field}: must be one of ${(err.params.allowedValues as string[]).join(', ')}`;
  if (err.keyword === 'pattern' && err.params.pattern === durationPattern) return `${field}: must be a duration like "30s", "5m", "1h30m" or a number of seconds`;
  return `${field}: ${err.message ?? 'invalid'}`;
}

/** Compiles a schema once; the returned loader parses and checks one version of the file. */
export function configLoader(what: string, schema: object): (source: string, yamlText: string) => unknown {
  const validate = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true }).compile(schema);
  return (source, yamlText) => {
    let doc: unknown;
    try {
      doc = parseYaml(yamlText);
    } catch (err) {
      throw new ConfigFileError(what, source, [`not YAML: ${(err as Error).message.split('\n')[0]}`]);
    }
    if (doc === null || doc === undefined) doc = {};
    if (!validate(doc)) {
      // oneOf only repeats what its branches said.
      const problems = [...new Set((validate.errors ?? []).filter((e) => e.keyword !== 'oneOf').map(describe))];
      throw new ConfigFileError(what, source, problems.length ? problems : [`does not match the ${what} schema`]);
    }
    return doc;
  };
}
