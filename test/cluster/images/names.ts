// Image names as users write them ("redis:alpine"), as containerd resolves them
// ("docker.io/library/redis:alpine"), and where the loopback registry keeps them ("library/redis:alpine").
// Containerd is configured to use the loopback registry as the mirror of every upstream host below, so
// one registry serves them all: a mirror request carries the repository path without the host.
import { createHash } from 'node:crypto';

/** The upstream registries the images come from; containerd mirrors each to the loopback registry. */
export const mirroredRegistries = ['docker.io', 'quay.io', 'registry.k8s.io', 'ghcr.io'] as const;

export interface ImageName {
  /** The registry host: docker.io for a name without one. */
  host: string;
  /** The repository path inside the registry (docker.io's official images get `library/`). */
  repository: string;
  tag: string;
}

/** Splits a reference the way containerd (and Docker) read it; digests are not used here. */
export function parseImageName(ref: string): ImageName {
  if (ref.includes('@')) throw new Error(`image ${ref}: references by digest are not supported; name a tag`);
  const slash = ref.indexOf('/');
  const first = slash < 0 ? '' : ref.slice(0, slash);
  const hasHost = first !== '' && (first.includes('.') || first.includes(':') || first === 'localhost');
  const host = hasHost ? first : 'docker.io';
  let rest = hasHost ? ref.slice(slash + 1) : ref;
  let tag = 'latest';
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  if (!/^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/.test(rest)) {
    throw new Error(`image ${ref}: "${rest}" is not a valid repository name`);
  }
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(tag)) throw new Error(`image ${ref}: "${tag}" is not a valid tag`);
  const repository = host === 'docker.io' && !rest.includes('/') ? `library/${rest}` : rest;
  return { host, repository, tag };
}

/** The full name containerd stores an image under ("docker.io/library/redis:alpine"). */
export function fullName(ref: string): string {
  const n = parseImageName(ref);
  return `${n.host}/${n.repository}:${n.tag}`;
}

/** Where the loopback registry serves an image: its repository path and tag, without the host. */
export function registryPath(ref: string): string {
  const n = parseImageName(ref);
  if (!(mirroredRegistries as readonly string[]).includes(n.host)) {
    throw new Error(`image ${ref}: host ${n.host} is not one the loopback registry mirrors (${mirroredRegistries.join(', ')})`);
  }
  return `${n.repository}:${n.tag}`;
}

/** Images pulled with policy Always by the kubelet's default: tag latest, or none. */
export function pulledAlways(ref: string): boolean {
  return parseImageName(ref).tag === 'latest';
}

/**
 * A short stable hash of everything that makes an image: change any part and the key changes, so the
 * cached archive of the old inputs is never mistaken for the new one. Object keys are sorted first, so
 * the order a recipe lists its parts in does not matter.
 */
export function contentKey(parts: unknown): string {
  return createHash('sha256').update(canonicalJson(parts)).digest('hex').slice(0, 16);
}

function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonicalJson(x)}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/** The archive file an image is cached as: its name made file-safe, and its content key. */
export function archiveFileName(ref: string, key: string): string {
  const n = parseImageName(ref);
  const safe = `${n.host}_${n.repository}_${n.tag}`.replace(/[^A-Za-z0-9._-]/g, '_');
  return `${safe}-${key}.oci.tar`;
}
