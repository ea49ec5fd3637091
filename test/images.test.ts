// The pure parts of the cluster's image builds: how names map to containerd's full names and to the
// loopback registry's paths, and what goes into a content key (so a changed input never reuses a
// cached image and an unchanged one never rebuilds).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { argoLdflags, argoModule, argoVersions, binaryPath } from './cluster/binaries.ts';
import { contextDigest, contextFiles, dockerignorePatterns, dockerignored, guardImageRef, imageKey, imageRecipes } from './cluster/images/build.ts';
import { archiveFileName, contentKey, fullName, parseImageName, pulledAlways, registryPath } from './cluster/images/names.ts';
import type { BuildContext, RootfsRecipe } from './cluster/images/recipes.ts';
import { registryConfigYaml } from './cluster/images/registry.ts';
import { repoRoot } from './cluster/state.ts';

describe('image names', () => {
  test.each([
    ['alpine', 'docker.io/library/alpine:latest', 'library/alpine:latest'],
    ['busybox', 'docker.io/library/busybox:latest', 'library/busybox:latest'],
    ['redis:alpine', 'docker.io/library/redis:alpine', 'library/redis:alpine'],
    ['influxdb:1.2', 'docker.io/library/influxdb:1.2', 'library/influxdb:1.2'],
    ['appropriate/curl:latest', 'docker.io/appropriate/curl:latest', 'appropriate/curl:latest'],
    ['nginx:1.13', 'docker.io/library/nginx:1.13', 'library/nginx:1.13'],
    ['registry.k8s.io/pause:3.10', 'registry.k8s.io/pause:3.10', 'pause:3.10'],
    ['quay.io/argoproj/argoexec:v3.7.18', 'quay.io/argoproj/argoexec:v3.7.18', 'argoproj/argoexec:v3.7.18'],
    ['ghcr.io/argo-daemon-guard/argo-daemon-guard:0.1.0', 'ghcr.io/argo-daemon-guard/argo-daemon-guard:0.1.0', 'argo-daemon-guard/argo-daemon-guard:0.1.0'],
  ])('%s is %s, served at %s', (ref, full, path) => {
    expect(fullName(ref)).toBe(full);
    expect(registryPath(ref)).toBe(path);
  });

  test('a host with a port is a host; the tag is after the last colon of the last component', () => {
    expect(parseImageName('localhost:5000/team/app')).toEqual({ host: 'localhost:5000', repository: 'team/app', tag: 'latest' });
    expect(parseImageName('team/app:1.0')).toEqual({ host: 'docker.io', repository: 'team/app', tag: '1.0' });
  });

  test('a host the registry does not mirror, a digest, or a malformed name is refused with the name in the error', () => {
    expect(() => registryPath('localhost:5000/app:1')).toThrow(/localhost:5000\/app:1.*not one the loopback registry mirrors/);
    expect(() => parseImageName('redis@sha256:abc')).toThrow(/redis@sha256:abc.*digest/);
    expect(() => parseImageName('Redis:alpine')).toThrow(/"Redis" is not a valid repository/);
  });

  test('latest or no tag is what the kubelet pulls Always', () => {
    expect(['alpine', 'busybox', 'nginx:latest', 'appropriate/curl:latest', 'redis:alpine', 'nginx:1.13'].map(pulledAlways)).toEqual([true, true, true, true, false, false]);
  });

  test('archive names are file-safe and carry the key', () => {
    expect(archiveFileName('quay.io/argoproj/argoexec:v4.0.5', 'abc')).toBe('quay.io_argoproj_argoexec_v4.0.5-abc.oci.tar');
  });
});

describe('content keys', () => {
  test('order of parts does not matter; any changed value does', () => {
    const k = contentKey({ a: 1, b: { c: [1, 2], d: 'x' } });
    expect(contentKey({ b: { d: 'x', c: [1, 2] }, a: 1 })).toBe(k);
    expect(contentKey({ a: 1, b: { c: [2, 1], d: 'x' } })).not.toBe(k);
    expect(contentKey({ a: 2, b: { c: [1, 2], d: 'x' } })).not.toBe(k);
    expect(contentKey({ a: 1, b: { c: [1, 2], d: 'y' } })).not.toBe(k);
  });

  const ctx: BuildContext = { log: () => {}, tmp: tmpdir(), logFile: '/dev/null' };
  const recipe = (over: Partial<RootfsRecipe> = {}, inputs: Record<string, string> = { binary: 'aaa' }): RootfsRecipe => ({
    kind: 'rootfs',
    ref: 'busybox',
    revision: 1,
    packages: [],
    inputs: async () => inputs,
    fill: async () => {},
    config: { cmd: ['sh'] },
    ...over,
  });

  test("a recipe's key covers its name, revision, config and inputs (a Go binary's hash)", async () => {
    const k = await imageKey(recipe(), ctx);
    expect(await imageKey(recipe(), ctx)).toBe(k);
    const changed = [
      await imageKey(recipe({ revision: 2 }), ctx),
      await imageKey(recipe({ config: { cmd: ['/bin/sh'] } }), ctx),
      await imageKey(recipe({}, { binary: 'bbb' }), ctx),
      await imageKey(recipe({ ref: 'alpine' }), ctx),
    ];
    for (const c of changed) expect(c).not.toBe(k);
    expect(new Set(changed).size).toBe(changed.length);
  });
});

describe("the guard image's build context", () => {
  const patterns = dockerignorePatterns(readFileSync(join(repoRoot, '.dockerignore'), 'utf8'));

  test.each([
    ['node_modules/x/index.js', true],
    ['webhook/node_modules/x.js', true],
    ['charts/argo-daemon-guard/values.yaml', true],
    ['Dockerfile', true],
    ['npm-debug.log', true],
    ['dist/cli/bin.js', true],
    ['logs/a.log', false],
    ['core/keys.ts', false],
    ['package.json', false],
  ])('%s left out: %s', (path, ignored) => {
    expect(dockerignored(path, patterns)).toBe(ignored);
  });

  test('a later ! pattern takes a file back in', () => {
    expect(dockerignored('docs/keep.md', ['docs', '!docs/keep.md'])).toBe(false);
    expect(dockerignored('docs/other.md', ['docs', '!docs/keep.md'])).toBe(true);
  });

  const dir = mkdtempSync(join(tmpdir(), 'adg-context-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('its digest changes with a file the image copies, not with one .dockerignore leaves out', async () => {
    const git = (...args: string[]) => execFileSync('git', args, { cwd: dir, stdio: 'ignore' });
    git('init', '-q');
    writeFileSync(join(dir, '.dockerignore'), 'charts\n*.log\n');
    writeFileSync(join(dir, '.gitignore'), 'secret\n');
    writeFileSync(join(dir, 'a.ts'), 'one');
    writeFileSync(join(dir, 'x.log'), 'log');
    writeFileSync(join(dir, 'secret'), 'untracked and ignored by git');
    git('add', 'a.ts', '.dockerignore', '.gitignore');
    expect(await contextFiles(dir)).toEqual(['.dockerignore', '.gitignore', 'a.ts']);
    const before = await contextDigest(dir);
    writeFileSync(join(dir, 'x.log'), 'other log');
    expect(await contextDigest(dir)).toBe(before);
    writeFileSync(join(dir, 'a.ts'), 'two');
    expect(await contextDigest(dir)).not.toBe(before);
    writeFileSync(join(dir, 'a.ts'), 'one');
    writeFileSync(join(dir, 'new.ts'), 'untracked, not ignored: docker would copy it');
    expect(await contextDigest(dir)).not.toBe(before);
  });
});

describe('what the harness provides', () => {
  test('every image the issue names, for both Argo versions, bases before the images built on them', () => {
    const refs = imageRecipes({ argo: argoVersions, guard: true }).map((r) => r.ref);
    expect(refs).toEqual([
      'registry.k8s.io/pause:3.10',
      'busybox',
      'alpine',
      'redis:alpine',
      'influxdb:1.2',
      'appropriate/curl:latest',
      'nginx:1.13',
      'nginx:latest',
      'quay.io/argoproj/argoexec:v3.7.18',
      'quay.io/argoproj/workflow-controller:v3.7.18',
      'quay.io/argoproj/argoexec:v4.0.5',
      'quay.io/argoproj/workflow-controller:v4.0.5',
      'node:26-slim',
      guardImageRef(),
    ]);
  });

  test("the guard image is tagged where the chart's defaults look for it", () => {
    const values = parse(readFileSync(join(repoRoot, 'charts/argo-daemon-guard/values.yaml'), 'utf8')) as { image: { repository: string; tag: string } };
    const chart = parse(readFileSync(join(repoRoot, 'charts/argo-daemon-guard/Chart.yaml'), 'utf8')) as { appVersion: string };
    expect(guardImageRef()).toBe(`${values.image.repository}:${values.image.tag || chart.appVersion}`);
  });

  test('Argo binaries are cached per version, from the module of their major, with the version stamped in', () => {
    expect(binaryPath('workflow-controller')).toBe(binaryPath('workflow-controller', 'v3.7.18'));
    expect(binaryPath('argoexec', 'v4.0.5')).toMatch(/bin\/argoexec-v4\.0\.5\/argoexec$/);
    expect(argoModule('v4.0.5')).toBe('github.com/argoproj/argo-workflows/v4');
    const flags = argoLdflags('v4.0.5', { Time: '2026-04-23T08:52:02Z' });
    expect(flags).toContain('-X github.com/argoproj/argo-workflows/v4.version=v4.0.5');
    expect(flags).toContain('-X github.com/argoproj/argo-workflows/v4.buildDate=2026-04-23T08:52:02Z');
  });

  test('the registry listens on loopback only and keeps its storage where it is told', () => {
    const c = parse(registryConfigYaml(5123, '/cache/images/registry')) as { http: { addr: string }; storage: { filesystem: { rootdirectory: string } } };
    expect(c.http.addr).toBe('127.0.0.1:5123');
    expect(c.storage.filesystem.rootdirectory).toBe('/cache/images/registry');
  });
});
