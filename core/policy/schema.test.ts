import { describe, expect, it } from 'vitest';
import { defaultPolicy, durationSeconds, parsePolicy, PolicyError, policySchema, ruleNames } from './schema.ts';

function problemsOf(yamlText: string): string[] {
  try {
    parsePolicy('policy.yaml', yamlText);
  } catch (err) {
    if (err instanceof PolicyError) return err.problems;
    throw err;
  }
  throw new Error('expected the policy to be refused');
}

describe('the default policy', () => {
  it('enforces nothing: every rule warns', () => {
    for (const r of ruleNames) expect(defaultPolicy.rules[r].mode).toBe('warn');
  });
  it('caps daemon lifetime at 24h', () => {
    expect(defaultPolicy.maxLifetime).toBe('24h');
    expect(durationSeconds(defaultPolicy.maxLifetime)).toBe(86400);
  });
  it('has no exemptions, no namespace overrides and no registry allow-list', () => {
    expect(defaultPolicy.exemptions).toEqual([]);
    expect(defaultPolicy.namespaces).toEqual([]);
    expect(defaultPolicy.rules.registries.allow).toEqual([]);
  });
  it('the schema knows every rule the policy has', () => {
    expect(Object.keys(policySchema.properties.rules.properties).sort()).toEqual([...ruleNames].sort());
  });
});

describe('parsePolicy: valid files', () => {
  it('an empty file is the default policy', () => {
    expect(parsePolicy('policy.yaml', '')).toEqual(defaultPolicy);
  });
  it('a file of comments only is the default policy', () => {
    expect(parsePolicy('policy.yaml', '# nothing set yet\n')).toEqual(defaultPolicy);
  });
  it('an empty mapping is the default policy', () => {
    expect(parsePolicy('policy.yaml', '{}')).toEqual(defaultPolicy);
  });

  it('fills every field the file leaves out with its default', () => {
    const p = parsePolicy('policy.yaml', 'rules:\n  privileged:\n    mode: enforce\n  registries:\n    allow: [ghcr.io/acme]\n');
    expect(p.rules.privileged).toEqual({ mode: 'enforce' });
    expect(p.rules.registries).toEqual({ mode: 'warn', allow: ['ghcr.io/acme'] });
    expect(p.rules.resources).toEqual(defaultPolicy.rules.resources);
    expect(p.rules.daemonsPerWorkflow).toEqual({ mode: 'warn', max: 5 });
    expect(p.maxLifetime).toBe('24h');
    expect(p.defaults).toEqual({ requests: {}, limits: {} });
    expect(p.namespaces).toEqual([]);
    expect(p.exemptions).toEqual([]);
  });

  it('reads a full policy: maxLifetime, defaults, every rule, namespace overrides and exemptions', () => {
    const p = parsePolicy(
      'policy.yaml',
      `
maxLifetime: 1h30m
defaults:
  requests: {cpu: 100m, memory: 128Mi}
  limits: {memory: 512Mi}
rules:
  readinessProbe: {mode: enforce}
  resources: {mode: enforce, requests: [cpu, memory], limits: [memory]}
  registries: {mode: audit, allow: [docker.io/library, ghcr.io/acme]}
  privileged: {mode: enforce}
  hostNetwork: {mode: enforce}
  hostPath: {mode: warn}
  daemonsPerWorkflow: {mode: enforce, max: 3}
  maxLifetime: {mode: off}
namespaces:
- names: [sandbox-*]
  mode: warn
- names: [prod]
  rules: {registries: enforce}
exemptions:
- namespaces: [argo-system]
- selector:
    matchLabels: {team: platform}
    matchExpressions:
    - {key: tier, operator: In, values: [infra]}
  rules: [hostNetwork, privileged]
`,
    );
    expect(p.maxLifetime).toBe('1h30m');
    expect(durationSeconds(p.maxLifetime)).toBe(5400);
    expect(p.defaults).toEqual({ requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '512Mi' } });
    expect(p.rules.resources).toEqual({ mode: 'enforce', requests: ['cpu', 'memory'], limits: ['memory'] });
    expect(p.rules.maxLifetime.mode).toBe('off');
    expect(p.rules.daemonsPerWorkflow).toEqual({ mode: 'enforce', max: 3 });
    expect(p.namespaces).toEqual([{ names: ['sandbox-*'], mode: 'warn' }, { names: ['prod'], rules: { registries: 'enforce' } }]);
    expect(p.exemptions[1]?.selector?.matchExpressions).toEqual([{ key: 'tier', operator: 'In', values: ['infra'] }]);
  });

  it('maxLifetime may be seconds as an integer, or 0 to turn the cap off', () => {
    expect(parsePolicy('p', 'maxLifetime: 3600').maxLifetime).toBe(3600);
    expect(parsePolicy('p', 'maxLifetime: 0').maxLifetime).toBe(0);
    expect(parsePolicy('p', 'maxLifetime: "0"').maxLifetime).toBe('0');
    expect(durationSeconds(parsePolicy('p', 'maxLifetime: "0"').maxLifetime)).toBe(0);
  });

  it('does not share the default policy\'s objects with the parsed one', () => {
    const p = parsePolicy('p', '');
    p.rules.registries.allow.push('x');
    expect(defaultPolicy.rules.registries.allow).toEqual([]);
  });
});

describe('parsePolicy: every bad field is reported by name', () => {
  const table: [string, string, string][] = [
    ['unknown top-level key', 'maxLifetim: 24h', 'maxLifetim: unknown field'],
    ['unknown rule', 'rules:\n  seccomp: {mode: warn}', 'rules.seccomp: unknown field'],
    ['unknown key in a rule', 'rules:\n  privileged: {mode: warn, allow: true}', 'rules.privileged.allow: unknown field'],
    ['bad mode enum', 'rules:\n  privileged: {mode: block}', 'rules.privileged.mode: must be one of enforce, warn, audit, off'],
    ['bad mode in a namespace override', 'namespaces:\n- names: [ci]\n  mode: strict', 'namespaces.0.mode: must be one of enforce, warn, audit, off'],
    ['bad rule mode in a namespace override', 'namespaces:\n- names: [ci]\n  rules: {hostPath: deny}', 'namespaces.0.rules.hostPath: must be one of enforce, warn, audit, off'],
    ['unknown rule in a namespace override', 'namespaces:\n- names: [ci]\n  rules: {sudo: warn}', 'namespaces.0.rules.sudo: unknown field'],
    ['a namespace override without names', 'namespaces:\n- mode: warn', "namespaces.0: must have required property 'names'"],
    ['bad maxLifetime unit', 'maxLifetime: 1d', 'maxLifetime: must be a duration like "30s"'],
    ['maxLifetime negative', 'maxLifetime: -5', 'maxLifetime: must be >= 0'],
    ['maxLifetime a list', 'maxLifetime: [24h]', 'maxLifetime: must be string'],
    ['daemonsPerWorkflow max a string', 'rules:\n  daemonsPerWorkflow: {max: five}', 'rules.daemonsPerWorkflow.max: must be integer'],
    ['registries allow not a list', 'rules:\n  registries: {allow: ghcr.io}', 'rules.registries.allow: must be array'],
    ['a default quantity not a string', 'defaults:\n  requests: {cpu: {}}', 'defaults.requests.cpu: must be string'],
    ['an unknown exemption key', 'exemptions:\n- namespace: [ci]', 'exemptions.0.namespace: unknown field'],
    ['an unknown rule in an exemption', 'exemptions:\n- namespaces: [ci]\n  rules: [everything]', 'exemptions.0.rules.0: must be one of readinessProbe'],
    ['a bad selector operator', 'exemptions:\n- selector:\n    matchExpressions: [{key: team, operator: Equals}]', 'exemptions.0.selector.matchExpressions.0.operator: must be one of In, NotIn, Exists, DoesNotExist'],
    ['the top level a list', '- rules', '(top level): must be object'],
  ];
  for (const [what, text, problem] of table) {
    it(`${what} → "${problem}"`, () => {
      expect(problemsOf(text).some((p) => p.startsWith(problem))).toBe(true);
    });
  }

  it('reports every bad field at once, not only the first', () => {
    const problems = problemsOf('maxLifetime: 1d\nrules:\n  privileged: {mode: block}\n  hostNetwork: {mode: nope}\nextra: 1\n');
    expect(problems.some((p) => p.startsWith('maxLifetime:'))).toBe(true);
    expect(problems).toContain('rules.privileged.mode: must be one of enforce, warn, audit, off');
    expect(problems).toContain('rules.hostNetwork.mode: must be one of enforce, warn, audit, off');
    expect(problems).toContain('extra: unknown field');
  });

  it('the error message names the policy source and the problems', () => {
    expect(() => parsePolicy('/etc/argo-daemon-guard/policy.yaml', 'rules:\n  privileged: {mode: block}')).toThrow(
      /policy \/etc\/argo-daemon-guard\/policy.yaml is invalid: rules.privileged.mode: must be one of/,
    );
  });

  it('text that is not YAML is refused with a reason', () => {
    const problems = problemsOf('rules: {privileged: [}');
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^not YAML: /);
  });
});

describe('durationSeconds', () => {
  const table: [string | number, number][] = [
    ['24h', 86400],
    ['90m', 5400],
    ['1h30m', 5400],
    ['1h0m30s', 3630],
    ['45s', 45],
    ['0', 0],
    [7200, 7200],
    [0, 0],
  ];
  for (const [input, seconds] of table) {
    it(`${JSON.stringify(input)} → ${seconds}s`, () => expect(durationSeconds(input)).toBe(seconds));
  }
});
