// The images the real node runs, built here offline (or taken from the cache), proven by running their
// programs: each image is unpacked into a buildah container of its own (chroot isolation, the host's
// network) and its real binaries answer. Then the loopback registry serves them under the names
// containerd asks a mirror for.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { argoVersions } from '../cluster/binaries.ts';
import { imagesWithoutCommand } from '../cluster/argo.ts';
import { ensureImages, guardImageRef, imagesDir, pushImages, startRegistry, type ImageRef } from '../cluster/images/index.ts';
import { removeScratch } from '../cluster/images/build.ts';
import { run } from '../cluster/images/tools.ts';
import { freePorts } from '../cluster/ports.ts';
import { stop } from '../cluster/processes.ts';
import { sleep } from '../cluster/lock.ts';

const log = (line: string) => process.stderr.write(`[images] ${line}\n`);
const scratch = join(imagesDir(), `.test-${process.pid}`);
const storage = ['--root', join(scratch, 'storage'), '--runroot', join(scratch, 'run'), '--storage-driver', 'vfs'];

let images: ImageRef[] = [];
const containers = new Map<string, string>();
const servers: ChildProcess[] = [];

beforeAll(async () => {
  mkdirSync(scratch, { recursive: true });
  // Cold: the Argo binaries, a Debian rootfs and the guard's Dockerfile build take many minutes.
  images = await ensureImages({ argo: argoVersions, guard: true, log });
}, 90 * 60_000);

afterAll(async () => {
  for (const s of servers) stopServer(s);
  for (const ctr of containers.values()) await run('buildah', [...storage, 'rm', ctr]).catch(() => {});
  removeScratch(scratch);
}, 120_000);

function image(ref: string): ImageRef {
  const img = images.find((i) => i.ref === ref);
  if (!img) throw new Error(`no image ${ref} among ${images.map((i) => i.ref).join(', ')}`);
  return img;
}

/** A working container of the image, made once per image from its cached archive. */
async function container(ref: string): Promise<string> {
  const had = containers.get(ref);
  if (had) return had;
  const ctr = (await run('buildah', [...storage, 'from', '--quiet', `oci-archive:${image(ref).archive}`])).trim();
  containers.set(ref, ctr);
  return ctr;
}

interface OciConfig {
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  User?: string;
  WorkingDir?: string;
}

async function config(ref: string): Promise<OciConfig> {
  const out = await run('skopeo', ['inspect', '--config', `oci-archive:${image(ref).archive}`]);
  return (JSON.parse(out) as { config: OciConfig }).config;
}

function runArgs(ctr: string, argv: string[], env: Record<string, string> = {}): string[] {
  return [...storage, 'run', '--isolation', 'chroot', ...Object.entries(env).flatMap(([k, v]) => ['--env', `${k}=${v}`]), ctr, '--', ...argv];
}

/** Runs a command in the image; resolves with its exit code and output. */
async function exec(ref: string, argv: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string }> {
  const ctr = await container(ref);
  return new Promise((resolve, reject) => {
    const child = spawn('buildah', runArgs(ctr, argv, env), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, out }));
  });
}

/** Starts a long-running program of the image in the background (stopped in afterAll). */
async function serve(ref: string, argv: string[], env: Record<string, string> = {}): Promise<ChildProcess> {
  const child = spawn('buildah', runArgs(await container(ref), argv, env), { stdio: 'ignore', detached: true });
  servers.push(child);
  return child;
}

function stopServer(s: ChildProcess): void {
  try {
    if (s.pid) process.kill(-s.pid, 'SIGKILL');
  } catch {
    /* gone */
  }
}

/** The image's own start command (entrypoint + cmd) with `args` in place of its cmd when given. */
async function defaultCommand(ref: string, args?: string[]): Promise<string[]> {
  const c = await config(ref);
  return [...(c.Entrypoint ?? []), ...(args ?? c.Cmd ?? [])];
}

async function until<T>(what: string, f: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last = '';
  for (;;) {
    try {
      const v = await f();
      if (v !== undefined) return v;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? ` (${last})` : ''}`);
    await sleep(250);
  }
}

/** One RESP command over TCP; the raw reply. */
function redisCommand(port: number, ...words: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let reply = '';
    s.on('error', reject);
    s.on('data', (c) => {
      reply += c.toString();
      if (reply.endsWith('\r\n')) {
        s.end();
        resolve(reply);
      }
    });
    s.write(`*${words.length}\r\n${words.map((w) => `$${Buffer.byteLength(w)}\r\n${w}\r\n`).join('')}`);
  });
}

describe('busybox userland', () => {
  for (const ref of ['busybox', 'alpine']) {
    test(`${ref}: sh with the applets the seeds use, fractional sleep, default command a shell`, async () => {
      const r = await exec(ref, ['sh', '-c', 'for a in sh sleep seq wget httpd nc kill ps cat grep sed awk; do command -v $a >/dev/null || { echo missing $a; exit 1; }; done; sleep .5; seq 1 3']);
      expect(r).toEqual({ code: 0, out: '1\n2\n3\n' });
      expect((await config(ref)).Cmd).toEqual(ref === 'busybox' ? ['sh'] : ['/bin/sh']);
    });
  }

  test('pause: its entrypoint holds on until killed', async () => {
    const c = await config('registry.k8s.io/pause:3.10');
    expect(c.Entrypoint).toEqual(['/pause']);
    // Still running when timeout kills it after a second (137 = SIGKILL): it does not exit on its own.
    const r = await exec('registry.k8s.io/pause:3.10', ['sh', '-c', 'timeout -s KILL 1 /pause; echo $?']);
    expect(r.code).toBe(0);
    expect(r.out.trim().split('\n').pop()).toBe('137');
  });
});

describe('programs from Debian packages', () => {
  test('redis:alpine: its default command runs a redis-server that answers PING, stores a key, and accepts clients from other hosts', async () => {
    const [port] = await freePorts(1);
    await serve('redis:alpine', await defaultCommand('redis:alpine', ['redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '']));
    expect(await until('redis PING', async () => redisCommand(port!, 'PING'))).toBe('+PONG\r\n');
    expect(await redisCommand(port!, 'SET', 'seed', 'ok')).toBe('+OK\r\n');
    expect(await redisCommand(port!, 'GET', 'seed')).toBe('$2\r\nok\r\n');
    expect(await redisCommand(port!, 'CONFIG', 'GET', 'protected-mode')).toContain('no');
  });

  test('influxdb:1.2: influxd answers /ping, accepts a write and answers a query', async () => {
    const [http, rpc] = await freePorts(2);
    await serve('influxdb:1.2', await defaultCommand('influxdb:1.2'), {
      INFLUXDB_HTTP_BIND_ADDRESS: `127.0.0.1:${http}`,
      INFLUXDB_BIND_ADDRESS: `127.0.0.1:${rpc}`,
    });
    const base = `http://127.0.0.1:${http}`;
    await until('influxd /ping', async () => ((await fetch(`${base}/ping`)).status === 204 ? true : undefined));
    expect((await fetch(`${base}/query`, { method: 'POST', body: new URLSearchParams({ q: 'CREATE DATABASE seeds' }) })).status).toBe(200);
    expect((await fetch(`${base}/write?db=seeds`, { method: 'POST', body: 'cpu,host=a value=0.64' })).status).toBe(204);
    const q = await (await fetch(`${base}/query?db=seeds&q=${encodeURIComponent('SELECT value FROM cpu')}`)).json();
    expect(JSON.stringify(q)).toContain('0.64');
  });

  test('appropriate/curl:latest: curl is the entrypoint; the seed loop runs in its shell', async () => {
    const version = await exec('appropriate/curl:latest', await defaultCommand('appropriate/curl:latest', ['--version']));
    expect(version.code).toBe(0);
    expect(version.out).toMatch(/^curl \d+\.\d+/);
    const loop = await exec('appropriate/curl:latest', ['/bin/sh', '-c', 'for i in $(seq 1 2); do curl -s -o /dev/null --max-time 1 http://127.0.0.1:1/ || echo try $i; sleep .5; done']);
    expect(loop).toEqual({ code: 0, out: 'try 1\ntry 2\n' });
  });

  for (const ref of ['nginx:1.13', 'nginx:latest']) {
    test(`${ref}: nginx accepts its configuration`, async () => {
      const r = await exec(ref, ['nginx', '-t']);
      expect(r.code).toBe(0);
      expect(r.out).toContain('syntax is ok');
    });
  }

  test("the entrypoints and commands are the ones Argo's controller is told (its images: config)", async () => {
    for (const [ref, declared] of Object.entries(imagesWithoutCommand)) {
      const c = await config(ref);
      expect({ ref, entrypoint: c.Entrypoint ?? undefined, cmd: c.Cmd ?? undefined }).toEqual({ ref, entrypoint: declared.entrypoint, cmd: declared.cmd });
    }
  });
});

describe("Argo's images", () => {
  for (const v of argoVersions) {
    test(`argoexec ${v} reports its version; workflow-controller ${v} runs, as Argo's user`, async () => {
      const exe = `quay.io/argoproj/argoexec:${v}`;
      const r = await exec(exe, await defaultCommand(exe, ['version', '--short']));
      expect(r.code).toBe(0);
      expect(r.out).toContain(v);
      const ctl = `quay.io/argoproj/workflow-controller:${v}`;
      const c = await config(ctl);
      expect({ entrypoint: c.Entrypoint, user: c.User }).toEqual({ entrypoint: ['workflow-controller'], user: '8737' });
      const cv = await exec(ctl, ['workflow-controller', 'version', '--short']);
      expect(cv.code).toBe(0);
      expect(cv.out).toContain('workflow-controller: v');
    });
  }
});

describe("the guard's image, built from the repository's Dockerfile", () => {
  test('runs its CLI as the unprivileged node user', async () => {
    const ref = guardImageRef();
    const c = await config(ref);
    expect(c.User).toBe('1000:1000');
    const r = await exec(ref, await defaultCommand(ref));
    expect(r.code).toBe(0);
    expect(r.out).toContain('argo-daemon-guard');
  });
});

describe('the loopback registry', () => {
  const stateDir = join(scratch, 'state');
  afterAll(async () => {
    await stop(stateDir, 'registry');
  });

  test('serves every image under the path a mirror request for its name asks for; a second push sends nothing', async () => {
    const { endpoint } = await startRegistry(stateDir, log);
    await pushImages(endpoint, images, log);
    const out = await run('skopeo', ['inspect', '--tls-verify=false', `docker://${endpoint.host}/library/redis:alpine`]);
    const inspected = JSON.parse(out) as { Digest: string; Name: string };
    expect(inspected.Name).toBe(`${endpoint.host}/library/redis`);
    expect(inspected.Digest).toMatch(/^sha256:/);
    for (const img of images) {
      const tagged = await run('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${endpoint.host}/${img.registryPath}`]);
      expect(JSON.parse(tagged)).toHaveProperty('layers');
    }
    const lines: string[] = [];
    await pushImages(endpoint, images, (l) => lines.push(l));
    expect(lines).toEqual([]);
  }, 600_000);
});
