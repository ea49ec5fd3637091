import { describe, expect, it } from 'vitest';
import { containerView, hostPathVolumes, parseTemplateJson, templateView } from './template.ts';
import { argoTemplateJson, influxdbClientTemplate, influxdbTemplate, redisTemplate } from '../../test/fixtures/pods.ts';

describe('parseTemplateJson: ARGO_TEMPLATE text → daemon template', () => {
  it('the redis seed daemon as Argo serialized it', () => {
    const parsed = parseTemplateJson(argoTemplateJson(redisTemplate));
    expect(parsed).toEqual({
      ok: true,
      value: {
        name: 'mock-database',
        daemon: true,
        body: 'container',
        containers: [{ name: 'main', role: 'service', image: 'redis:alpine', hasReadinessProbe: true, requests: {}, limits: {}, privileged: false }],
        hostPathVolumes: [],
        activeDeadlineSeconds: undefined,
      },
    });
  });

  it('the influxdb seed daemon with its retryStrategy is a daemon with a readiness probe', () => {
    const parsed = parseTemplateJson(argoTemplateJson(influxdbTemplate));
    expect(parsed.ok && parsed.value).toMatchObject({ name: 'influxdb', daemon: true, body: 'container', containers: [{ image: 'influxdb:1.2', hasReadinessProbe: true }] });
  });

  it('the influxdb client step is no daemon (Argo omits "daemon" when false) and keeps its requests', () => {
    const parsed = parseTemplateJson(argoTemplateJson(influxdbClientTemplate));
    expect(parsed.ok && parsed.value).toMatchObject({ name: 'influxdb-client', daemon: false, containers: [{ requests: { memory: '32Mi', cpu: '100m' } }] });
  });

  const bad: [string, string, string][] = [
    ['not JSON', '{"name":"mock-database",', 'ARGO_TEMPLATE is not JSON'],
    ['empty', '', 'ARGO_TEMPLATE is not JSON'],
    ['the literal offloaded', 'offloaded', 'ARGO_TEMPLATE is not JSON'],
    ['a JSON array', '[{"daemon":true}]', 'ARGO_TEMPLATE is not a JSON object'],
    ['JSON null', 'null', 'ARGO_TEMPLATE is not a JSON object'],
    ['a JSON string', '"daemon"', 'ARGO_TEMPLATE is not a JSON object'],
  ];
  for (const [what, json, reason] of bad) {
    it(`${what} → not ok with the reason "${reason}"`, () => {
      const parsed = parseTemplateJson(json);
      expect(parsed.ok).toBe(false);
      expect(!parsed.ok && parsed.reason).toContain(reason);
    });
  }

  it('"daemon" must be the boolean true: "true" as a string is not a daemon', () => {
    const parsed = parseTemplateJson('{"name":"x","daemon":"true","container":{"image":"redis"}}');
    expect(parsed.ok && parsed.value.daemon).toBe(false);
  });
});

describe('templateView', () => {
  it('a containerSet daemon: every container of the set is a service container', () => {
    const view = templateView({
      name: 'kafka',
      daemon: true,
      containerSet: { containers: [{ name: 'zookeeper', image: 'zk:3' }, { name: 'broker', image: 'kafka:3', readinessProbe: { tcpSocket: { port: 9092 } } }] },
    });
    expect(view.body).toBe('containerSet');
    expect(view.containers.map((c) => [c.name, c.role, c.hasReadinessProbe])).toEqual([
      ['zookeeper', 'service', false],
      ['broker', 'service', true],
    ]);
  });

  it('a script daemon: the script runs as the main service container', () => {
    const view = templateView({ name: 'py', daemon: true, script: { image: 'python:3.12', source: 'print(1)' } });
    expect(view.body).toBe('script');
    expect(view.containers).toMatchObject([{ name: 'main', role: 'service', image: 'python:3.12' }]);
  });

  it('sidecars and init containers are listed with their roles', () => {
    const view = templateView({
      name: 'svc',
      daemon: true,
      container: { image: 'nginx:1.27' },
      sidecars: [{ name: 'proxy', image: 'envoyproxy/envoy:v1.31', securityContext: { privileged: true } }],
      initContainers: [{ name: 'seed', image: 'busybox:1.36' }],
    });
    expect(view.containers.map((c) => [c.name, c.role, c.privileged])).toEqual([
      ['main', 'service', false],
      ['proxy', 'sidecar', true],
      ['seed', 'init', false],
    ]);
  });

  it('template-level hostPath volumes are listed as name:path; other volumes are not', () => {
    const view = templateView({
      name: 'x',
      volumes: [{ name: 'sock', hostPath: { path: '/var/run/docker.sock' } }, { name: 'scratch', emptyDir: {} }, { name: 'odd', hostPath: {} }],
    });
    expect(view.hostPathVolumes).toEqual(['sock:/var/run/docker.sock', 'odd:?']);
  });

  it('activeDeadlineSeconds: a number or a numeric string is known; an expression is not', () => {
    expect(templateView({ activeDeadlineSeconds: 600 }).activeDeadlineSeconds).toBe(600);
    expect(templateView({ activeDeadlineSeconds: '600' }).activeDeadlineSeconds).toBe(600);
    expect(templateView({ activeDeadlineSeconds: '{{inputs.parameters.t}}' }).activeDeadlineSeconds).toBeUndefined();
    expect(templateView({ activeDeadlineSeconds: 1.5 }).activeDeadlineSeconds).toBeUndefined();
  });

  it('quantities written as numbers (cpu: 1) are kept as text; other types are dropped', () => {
    const c = containerView({ resources: { requests: { cpu: 1, memory: '64Mi', bogus: true }, limits: 'lots' } }, 'service', 'main');
    expect(c.requests).toEqual({ cpu: '1', memory: '64Mi' });
    expect(c.limits).toEqual({});
  });

  it('a container without a name takes the fallback name; an empty name does too', () => {
    expect(containerView({ image: 'redis' }, 'service', 'main').name).toBe('main');
    expect(containerView({ name: '', image: 'redis' }, 'service', 'main').name).toBe('main');
  });

  it('never throws on wrong types: anything not an object is a template with no name and no body', () => {
    for (const raw of [undefined, null, 3, 'x', [], { container: 'redis' }, { containerSet: { containers: 'a' } }, { sidecars: {}, volumes: 'v' }]) {
      const view = templateView(raw);
      expect(view.daemon).toBe(false);
      expect(Array.isArray(view.containers)).toBe(true);
    }
    expect(templateView({ container: 'redis' }).body).toBe('none');
    expect(hostPathVolumes('x')).toEqual([]);
  });
});

describe('parseTemplateJson: recently read texts', () => {
  it('the same text gives the same (frozen) view; another text its own', () => {
    const text = JSON.stringify({ name: 'cached', daemon: true, container: { image: 'redis', resources: { requests: { cpu: 1 } } } });
    const a = parseTemplateJson(text);
    const b = parseTemplateJson(`${text}`);
    expect(a.ok && b.ok).toBe(true);
    if (!a.ok || !b.ok) return;
    expect(b.value).toBe(a.value);
    expect(Object.isFrozen(a.value) && Object.isFrozen(a.value.containers[0]) && Object.isFrozen(a.value.containers[0]!.requests)).toBe(true);
    expect(a.value.containers[0]!.requests).toEqual({ cpu: '1' });
    const c = parseTemplateJson(text.replace('cached', 'other'));
    expect(c.ok && c.value.name).toBe('other');
  });

  it('malformed text is never remembered as a view', () => {
    expect(parseTemplateJson('{"daemon":true').ok).toBe(false);
    expect(parseTemplateJson('{"daemon":true').ok).toBe(false);
  });
});
