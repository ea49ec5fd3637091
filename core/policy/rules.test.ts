import { describe, expect, it } from 'vitest';
import { checkDaemon, checkDaemonCount, normalizedImage, registryAllowed, type DaemonSubject, type Finding } from './rules.ts';
import type { ContainerView } from '../argo/template.ts';
import type { Policy, RuleName } from './schema.ts';
import { policyWith } from '../../test/fixtures/policies.ts';

function service(over: Partial<ContainerView> = {}): ContainerView {
  return { name: 'main', role: 'service', image: 'redis:alpine', hasReadinessProbe: true, requests: { cpu: '100m', memory: '64Mi' }, limits: {}, privileged: false, ...over };
}

/** The redis seed daemon with requests added: satisfies the default policy with no finding. */
function subject(over: Partial<DaemonSubject> = {}): DaemonSubject {
  return { template: 'mock-database', containers: [service()], hostNetwork: false, hostPathVolumes: [], activeDeadlineSeconds: undefined, ...over };
}

const findingsOf = (rule: RuleName, d: DaemonSubject, p: Policy = policyWith()): Finding[] => checkDaemon(d, p).filter((f) => f.rule === rule);

describe('a clean daemon has no finding under any rule', () => {
  it('the redis daemon with requests, probe, no host access', () => {
    expect(checkDaemon(subject(), policyWith())).toEqual([]);
  });
});

describe('rule readinessProbe', () => {
  const table: [string, ContainerView[], number][] = [
    ['service container with a probe', [service()], 0],
    ['service container without a probe', [service({ hasReadinessProbe: false })], 1],
    ['containerSet: one of the service containers has a probe', [service({ name: 'zookeeper', hasReadinessProbe: false }), service({ name: 'broker' })], 0],
    ['containerSet: none has a probe (one finding for the daemon)', [service({ name: 'zookeeper', hasReadinessProbe: false }), service({ name: 'broker', hasReadinessProbe: false })], 1],
    ['only a sidecar has a probe', [service({ hasReadinessProbe: false }), service({ name: 'proxy', role: 'sidecar' })], 1],
    ['no service container at all (nothing to probe)', [service({ name: 'proxy', role: 'sidecar', hasReadinessProbe: false })], 0],
  ];
  for (const [what, containers, n] of table) {
    it(`${what} → ${n} finding(s)`, () => expect(findingsOf('readinessProbe', subject({ containers }))).toHaveLength(n));
  }
  it('the finding names the template and says how to fix it', () => {
    expect(findingsOf('readinessProbe', subject({ containers: [service({ hasReadinessProbe: false })] }))).toEqual([
      { rule: 'readinessProbe', template: 'mock-database', message: expect.stringContaining('no readinessProbe'), fix: 'add a readinessProbe to the daemon container' },
    ]);
  });
});

describe('rule resources (default: requests cpu and memory)', () => {
  const table: [string, Partial<ContainerView>, (p: Policy) => void, string[]][] = [
    ['requests cpu and memory set', {}, () => {}, []],
    ['no requests at all (the redis seed)', { requests: {} }, () => {}, ['requests.cpu, requests.memory']],
    ['memory request missing', { requests: { cpu: '1' } }, () => {}, ['requests.memory']],
    ['a limit alone does not satisfy a required request... unless the request is defaulted', { requests: {}, limits: { cpu: '1', memory: '1Gi' } }, () => {}, ['requests.cpu, requests.memory']],
    ['policy defaults satisfy missing requests (the mutating webhook fills them in)', { requests: {} }, (p) => (p.defaults.requests = { cpu: '100m', memory: '128Mi' }), []],
    ['a default for cpu only leaves memory missing', { requests: {} }, (p) => (p.defaults.requests = { cpu: '100m' }), ['requests.memory']],
    ['required limits missing', {}, (p) => (p.rules.resources.limits = ['memory']), ['limits.memory']],
    ['required limits set', { limits: { memory: '1Gi' } }, (p) => (p.rules.resources.limits = ['memory']), []],
    ['a default limit satisfies a missing limit when the container requests none of it', { requests: { cpu: '100m' } }, (p) => {
      p.rules.resources = { mode: 'warn', requests: ['cpu'], limits: ['memory'] };
      p.defaults.limits = { memory: '512Mi' };
    }, []],
    ['a default limit is not applied over a request the container sets (request > limit guard), so the limit is missing', { requests: { cpu: '100m', memory: '1Gi' } }, (p) => {
      p.rules.resources.limits = ['memory'];
      p.defaults.limits = { memory: '512Mi' };
    }, ['limits.memory']],
    ['no requirement: nothing to check', { requests: {} }, (p) => (p.rules.resources.requests = []), []],
  ];
  for (const [what, container, edit, missing] of table) {
    it(`${what} → ${missing.length ? missing.join(' / ') : 'no finding'}`, () => {
      const found = findingsOf('resources', subject({ containers: [service(container)] }), policyWith(edit));
      expect(found.map((f) => f.message.replace('container main sets no ', ''))).toEqual(missing);
    });
  }

  it('only service containers are checked: sidecars and init containers are not', () => {
    const containers = [service(), service({ name: 'proxy', role: 'sidecar', requests: {} }), service({ name: 'seed', role: 'init', requests: {} })];
    expect(findingsOf('resources', subject({ containers }))).toEqual([]);
  });

  it('a containerSet: one finding per service container that misses requests, naming it', () => {
    const containers = [service({ name: 'zookeeper', requests: {} }), service({ name: 'broker' })];
    expect(findingsOf('resources', subject({ containers }))).toEqual([
      { rule: 'resources', template: 'mock-database', message: 'container zookeeper sets no requests.cpu, requests.memory', fix: 'set resources.requests.cpu, resources.requests.memory on container zookeeper' },
    ]);
  });
});

describe('rule registries', () => {
  const table: [string, string[], boolean][] = [
    ['redis:alpine', ['docker.io/library'], true],
    ['redis:alpine', ['docker.io'], true],
    ['redis:alpine', ['docker.io/library/redis'], true],
    ['redis', ['docker.io/library/redis'], true],
    ['redis@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef', ['docker.io/library/redis'], true],
    ['docker.io/redis:7', ['docker.io/library'], true],
    ['docker.io/library/redis:7', ['docker.io/library'], true],
    ['index.docker.io/library/redis:7', ['docker.io/library'], true],
    ['appropriate/curl:latest', ['docker.io/library'], false],
    ['appropriate/curl:latest', ['docker.io/appropriate'], true],
    ['redis:alpine', ['docker.io/library/redis-stack'], false],
    ['redis-stack:7', ['docker.io/library/redis'], false],
    ['ghcr.io/acme/mock-api:2.3.1', ['ghcr.io/acme'], true],
    ['ghcr.io/acme/mock-api:2.3.1', ['ghcr.io/acme/'], true],
    ['ghcr.io/acme-evil/mock-api:2.3.1', ['ghcr.io/acme'], false],
    ['ghcr.io.evil.example/acme/x:1', ['ghcr.io'], false],
    ['ghcr.io/acme/mock-api:2.3.1', ['quay.io', 'ghcr.io'], true],
    ['quay.io/argoproj/argoexec:v3.7.18', ['docker.io'], false],
    ['localhost/cache:dev', ['localhost'], true],
    ['registry.internal:5000/team/svc:1', ['registry.internal:5000'], true],
    ['registry.internal:5000/team/svc:1', ['registry.internal'], false],
  ];
  for (const [image, allow, ok] of table) {
    it(`${image} with allow [${allow.join(', ')}] → ${ok ? 'allowed' : 'refused'}`, () => {
      expect(registryAllowed(image, allow)).toBe(ok);
      const found = findingsOf('registries', subject({ containers: [service({ image })] }), policyWith((p) => (p.rules.registries.allow = allow)));
      expect(found).toHaveLength(ok ? 0 : 1);
    });
  }

  it('Docker Hub normalization: bare names get docker.io/library, user repos docker.io', () => {
    expect(normalizedImage('redis:alpine')).toBe('docker.io/library/redis:alpine');
    expect(normalizedImage('appropriate/curl:latest')).toBe('docker.io/appropriate/curl:latest');
    expect(normalizedImage('docker.io/redis:7')).toBe('docker.io/library/redis:7');
    expect(normalizedImage('index.docker.io/redis:7')).toBe('docker.io/library/redis:7');
    expect(normalizedImage('index.docker.io/bitnami/redis:7')).toBe('docker.io/bitnami/redis:7');
    expect(normalizedImage('ghcr.io/acme/x')).toBe('ghcr.io/acme/x');
    expect(normalizedImage('localhost:5000/x')).toBe('localhost:5000/x');
  });

  it('an empty allow-list allows any registry', () => {
    expect(findingsOf('registries', subject({ containers: [service({ image: 'evil.example/x:1' })] }))).toEqual([]);
  });

  it('every container is checked, sidecars and init containers included; a container without an image is not', () => {
    const containers = [
      service({ image: 'ghcr.io/acme/svc:1' }),
      service({ name: 'proxy', role: 'sidecar', image: 'envoyproxy/envoy:v1.31' }),
      service({ name: 'seed', role: 'init', image: 'busybox:1.36' }),
      service({ name: 'empty', role: 'sidecar', image: undefined }),
    ];
    const found = findingsOf('registries', subject({ containers }), policyWith((p) => (p.rules.registries.allow = ['ghcr.io/acme'])));
    expect(found.map((f) => f.message)).toEqual([
      'container proxy image envoyproxy/envoy:v1.31 is not from an allowed registry',
      'container seed image busybox:1.36 is not from an allowed registry',
    ]);
    expect(found[0]?.fix).toBe('use an image from ghcr.io/acme');
  });
});

describe('rule privileged', () => {
  it('a privileged service container → finding naming it', () => {
    expect(findingsOf('privileged', subject({ containers: [service({ privileged: true })] }))).toEqual([
      { rule: 'privileged', template: 'mock-database', message: 'container main is privileged', fix: 'remove securityContext.privileged from container main' },
    ]);
  });
  it('a privileged sidecar counts too', () => {
    expect(findingsOf('privileged', subject({ containers: [service(), service({ name: 'dind', role: 'sidecar', privileged: true })] }))).toHaveLength(1);
  });
  it('no privileged container → no finding', () => expect(findingsOf('privileged', subject())).toEqual([]));
});

describe('rule hostNetwork', () => {
  it('hostNetwork → finding', () => expect(findingsOf('hostNetwork', subject({ hostNetwork: true }))).toMatchObject([{ message: 'daemon runs in the host network', fix: 'remove hostNetwork: true' }]));
  it('no hostNetwork → no finding', () => expect(findingsOf('hostNetwork', subject())).toEqual([]));
});

describe('rule hostPath', () => {
  it('hostPath volumes → one finding listing them', () => {
    expect(findingsOf('hostPath', subject({ hostPathVolumes: ['sock:/var/run/docker.sock', 'logs:/var/log'] }))).toMatchObject([
      { message: 'daemon mounts hostPath volumes sock:/var/run/docker.sock, logs:/var/log', fix: expect.stringContaining('emptyDir') },
    ]);
  });
  it('no hostPath → no finding', () => expect(findingsOf('hostPath', subject())).toEqual([]));
});

describe('rule maxLifetime', () => {
  const table: [string, string | number, number | undefined, boolean][] = [
    ['no deadline (the cap will be applied)', '24h', undefined, false],
    ['deadline below the cap', '24h', 3600, false],
    ['deadline equal to the cap', '1h', 3600, false],
    ['deadline above the cap', '1h', 7200, true],
    ['deadline above a cap in seconds', 600, 601, true],
    ['cap turned off (0)', 0, 10_000_000, false],
    ['cap turned off ("0")', '0', 10_000_000, false],
  ];
  for (const [what, cap, deadline, found] of table) {
    it(`${what} → ${found ? 'finding' : 'no finding'}`, () => {
      expect(findingsOf('maxLifetime', subject({ activeDeadlineSeconds: deadline }), policyWith((p) => (p.maxLifetime = cap)))).toHaveLength(found ? 1 : 0);
    });
  }
  it('the finding says the deadline will be lowered and to what', () => {
    expect(findingsOf('maxLifetime', subject({ activeDeadlineSeconds: 7200 }), policyWith((p) => (p.maxLifetime = '1h')))).toEqual([
      { rule: 'maxLifetime', template: 'mock-database', message: 'activeDeadlineSeconds 7200 exceeds the daemon lifetime cap of 3600s and will be lowered', fix: 'set activeDeadlineSeconds to at most 3600' },
    ]);
  });
});

describe('rule daemonsPerWorkflow', () => {
  const table: [number, boolean, number, string | undefined][] = [
    [1, false, 5, undefined],
    [5, false, 5, undefined],
    [6, false, 5, 'a run starts 6 daemons, more than the limit of 5'],
    [3, true, 2, 'a run starts at least 3 daemons, more than the limit of 2'],
    [1, false, 0, 'a run starts 1 daemons, more than the limit of 0'],
    [0, false, 0, undefined],
  ];
  for (const [count, atLeast, max, message] of table) {
    it(`${atLeast ? 'at least ' : ''}${count} daemons, max ${max} → ${message ? 'finding' : 'no finding'}`, () => {
      const found = checkDaemonCount('daemon-step-', count, atLeast, policyWith((p) => (p.rules.daemonsPerWorkflow.max = max)));
      expect(found.map((f) => f.message)).toEqual(message ? [message] : []);
      if (message) expect(found[0]).toMatchObject({ rule: 'daemonsPerWorkflow', template: 'daemon-step-', fix: expect.stringContaining(`at most ${max}`) });
    });
  }
});
