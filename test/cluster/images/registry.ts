// The loopback registry the node pulls every image from (Debian's docker-registry, distribution
// 2.8.2). Containerd uses it as the mirror of each upstream host, so `redis:alpine` is fetched as
// library/redis:alpine from it and nothing reaches the internet. Its storage lives in the cache, next
// to the image archives, so a warm start finds every image already pushed.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ensurePackages, type HostPackage } from '../host-packages.ts';
import { withLock } from '../lock.ts';
import { freePort } from '../ports.ts';
import { start, waitFor, type ProcessRecord, type ProcessSpec } from '../processes.ts';
import type { ArgoVersion } from '../binaries.ts';
import { ensureImages, imagesDir, type ImageRef } from './build.ts';
import { mirroredRegistries } from './names.ts';
import { run, type Log } from './tools.ts';

export const registryComponent = 'registry';

export const registryPackages: HostPackage[] = [
  { name: 'docker-registry', provides: '/usr/bin/docker-registry' },
  { name: 'skopeo', provides: '/usr/bin/skopeo' },
];

export function registryStorage(): string {
  return join(imagesDir(), 'registry');
}

/** What containerd's config needs: the registry to use as mirror, and the hosts it mirrors. */
export interface RegistryEndpoint {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** `127.0.0.1:PORT` (what skopeo and crictl take). */
  host: string;
  port: number;
  mirrors: readonly string[];
}

export function registryEndpoint(port: number): RegistryEndpoint {
  return { url: `http://127.0.0.1:${port}`, host: `127.0.0.1:${port}`, port, mirrors: mirroredRegistries };
}

export function registryConfigYaml(port: number, storage: string): string {
  return stringify({
    version: 0.1,
    log: { level: 'warn', accesslog: { disabled: true } },
    storage: { filesystem: { rootdirectory: storage }, delete: { enabled: true } },
    http: { addr: `127.0.0.1:${port}`, headers: { 'X-Content-Type-Options': ['nosniff'] } },
  });
}

/** The registry as a cluster component: config written into the state directory, loopback only. */
export function registrySpec(stateDir: string, port: number): ProcessSpec {
  const config = join(stateDir, 'registry.yml');
  mkdirSync(stateDir, { recursive: true });
  writeFileSync(config, registryConfigYaml(port, registryStorage()));
  return { name: registryComponent, command: '/usr/bin/docker-registry', args: ['serve', config] };
}

/** Starts the registry on a free loopback port and returns once it answers /v2/. */
export async function startRegistry(stateDir: string, log: Log, port?: number): Promise<{ endpoint: RegistryEndpoint; proc: ProcessRecord }> {
  await ensurePackages(registryPackages, 'the loopback image registry', log);
  mkdirSync(registryStorage(), { recursive: true });
  const p = port ?? (await freePort());
  const proc = start(stateDir, registrySpec(stateDir, p));
  const endpoint = registryEndpoint(p);
  await waitFor({ what: `registry on ${endpoint.url}`, timeoutMs: 30_000 }, async () => (await fetch(`${endpoint.url}/v2/`)).ok, proc);
  return { endpoint, proc };
}

/** What was pushed last, per registry path: the content key and the manifest digest the registry reported. */
type Pushed = Record<string, { key: string; digest: string }>;

function pushedFile(): string {
  return join(registryStorage(), 'pushed.json');
}

function readPushed(): Pushed {
  try {
    return JSON.parse(readFileSync(pushedFile(), 'utf8')) as Pushed;
  } catch {
    return {};
  }
}

const manifestTypes = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

/** The digest the registry serves for a path and tag, or undefined if it has none. */
export async function servedDigest(endpoint: RegistryEndpoint, path: string): Promise<string | undefined> {
  const colon = path.lastIndexOf(':');
  const res = await fetch(`${endpoint.url}/v2/${path.slice(0, colon)}/manifests/${path.slice(colon + 1)}`, { method: 'HEAD', headers: { Accept: manifestTypes } });
  return res.ok ? (res.headers.get('docker-content-digest') ?? undefined) : undefined;
}

/**
 * Pushes each image under the path users' names resolve to, unless the registry already serves the
 * push of that same content (same key, digest still there): a warm start pushes nothing.
 */
export async function pushImages(endpoint: RegistryEndpoint, images: ImageRef[], log: Log): Promise<void> {
  await withLock(join(imagesDir(), '.lock-push'), { what: 'push images', onWait: (h, s) => log(`waiting for pid ${h.pid}, which is pushing images (${s}s so far)`) }, async () => {
    const pushed = readPushed();
    for (const img of images) {
      const had = pushed[img.registryPath];
      if (had && had.key === img.key && (await servedDigest(endpoint, img.registryPath)) === had.digest) continue;
      const started = Date.now();
      await run('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci-archive:${img.archive}`, `docker://${endpoint.host}/${img.registryPath}`]);
      const digest = await servedDigest(endpoint, img.registryPath);
      if (!digest) throw new Error(`pushed ${img.ref} to ${endpoint.url}/${img.registryPath}, but the registry does not serve it`);
      pushed[img.registryPath] = { key: img.key, digest };
      const tmp = `${pushedFile()}.tmp-${process.pid}`;
      writeFileSync(tmp, JSON.stringify(pushed, null, 2));
      renameSync(tmp, pushedFile());
      log(`pushed ${img.ref} as ${endpoint.host}/${img.registryPath} (${Math.round((Date.now() - started) / 100) / 10}s)`);
    }
  });
}

/**
 * Everything the node needs to pull its images: builds what is missing, starts the registry as the
 * cluster component `registry` of `stateDir`, pushes what it does not serve yet, and returns what the
 * containerd config needs (the endpoint and the hosts it mirrors) with the images it serves.
 */
export async function serveImages(
  stateDir: string,
  o: { argo: readonly ArgoVersion[]; guard: boolean; log: Log; port?: number },
): Promise<{ endpoint: RegistryEndpoint; images: ImageRef[]; proc: ProcessRecord }> {
  const images = await ensureImages(o);
  const { endpoint, proc } = await startRegistry(stateDir, o.log, o.port);
  await pushImages(endpoint, images, o.log);
  return { endpoint, images, proc };
}
