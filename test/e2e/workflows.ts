// The Workflows the end-to-end tests and the demo submit to Argo's real controller: the two seeds
// (test/fixtures/seeds), Argo's daemon examples read from the v3.7.18 module in the Go module cache at
// run time (never copied here), and a few of this project's own that stage a leak: a scope that
// stays live, an orphaned daemon, an error-path scope, a scope that ends while the workflow goes on.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { argoModuleDir, kubectl } from '../cluster/crds.ts';
import { seeds, type Json } from '../fixtures/load.ts';

export type { Json };

export interface Submission {
  /** A short stable key for the test's bookkeeping, e.g. "seed-redis". */
  key: string;
  /** Where it comes from, for messages. */
  source: string;
  manifest: Json;
}

/** Argo's daemon examples, as the issue lists them. */
export const argoExampleFiles = ['dag-daemon-task.yaml', 'steps-daemon-retry-strategy.yaml', 'dag-daemon-retry-strategy.yaml', 'daemon-nginx.yaml'] as const;

export async function argoExamples(): Promise<Submission[]> {
  const dir = join(await argoModuleDir(), 'examples');
  return argoExampleFiles.map((f) => ({
    key: `example-${f.replace(/\.yaml$/, '')}`,
    source: `argo-workflows v3.7.18 examples/${f} (Go module cache)`,
    manifest: parse(readFileSync(join(dir, f), 'utf8')) as Json,
  }));
}

export function seedSubmissions(): Submission[] {
  return [
    { key: 'seed-redis', source: 'seed: the redis daemon + test step (test/fixtures/seeds/redis.yaml)', manifest: seeds.redis() },
    { key: 'seed-influxdb', source: 'seed: the influxdb daemon-step with retryStrategy (test/fixtures/seeds/influxdb.yaml)', manifest: seeds.influxdb() },
  ];
}

const redisDaemon = (name: string): Json => ({
  name,
  daemon: true,
  container: {
    image: 'redis:alpine',
    command: ['redis-server'],
    readinessProbe: { tcpSocket: { port: 6379 } },
    resources: { requests: { cpu: '100m', memory: '64Mi' } },
  },
});

const client = (name: string): Json => ({
  name,
  container: { image: 'alpine', command: ['sh', '-c'], args: ['echo using the daemon'], resources: { requests: { cpu: '10m', memory: '16Mi' } } },
});

const pause = (name: string, duration: string): Json => ({ name, suspend: { duration } });

/**
 * The daemon's scope (the Workflow's steps) stays live `seconds` — longer than the pod's grace plus
 * the reaper's margin — before it ends: the reaper must keep its hands off until then.
 */
export function longScope(seconds: number): Submission {
  return {
    key: 'long-scope',
    source: 'this project: a daemon whose scope stays live for a while',
    manifest: {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Workflow',
      metadata: { generateName: 'long-scope-' },
      spec: {
        entrypoint: 'main',
        templates: [{ name: 'main', steps: [[{ name: 'db', template: 'db' }], [{ name: 'hold', template: 'hold' }], [{ name: 'use', template: 'use' }]] }, redisDaemon('db'), pause('hold', `${seconds}s`), client('use')],
      },
    },
  };
}

/** Leak 5: a daemon that runs while its scope waits; the test deletes the Workflow with --cascade=orphan. */
export function orphanCandidate(): Submission {
  return {
    key: 'orphaned',
    source: 'this project: a daemon whose Workflow is deleted with --cascade=orphan while it runs',
    manifest: {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Workflow',
      metadata: { generateName: 'orphaned-' },
      spec: { entrypoint: 'main', templates: [{ name: 'main', steps: [[{ name: 'db', template: 'db' }], [{ name: 'hold', template: 'hold' }]] }, redisDaemon('db'), pause('hold', '10m')] },
    },
  };
}

/**
 * Leak 4, the error path (argo-daemons.md §3–§4): a Steps (or DAG) template whose output parameter's
 * `valueFrom.expression` fails at run time. Validation at submission does not evaluate it; when the
 * scope's steps are done, executeSteps/executeDAG returns the error from getTemplateOutputsFromScope
 * before marking its node, so its deferred killDaemonedChildren sees a Running node and does nothing;
 * executeTemplate then marks the node Error. The daemon stays `daemoned: true`, and since
 * markWorkflowPhase refuses to complete a Workflow with a daemoned node (and killDaemonedChildren("")
 * only looks at boundary ""), the Workflow stays Running for good.
 */
export function errorPathScope(kind: 'steps' | 'dag'): Submission {
  const outputs = { parameters: [{ name: 'count', valueFrom: { expression: "asInt('not-a-number')" } }] };
  const main =
    kind === 'steps'
      ? { name: 'main', steps: [[{ name: 'db', template: 'db' }], [{ name: 'use', template: 'use' }]], outputs }
      : { name: 'main', dag: { tasks: [{ name: 'db', template: 'db' }, { name: 'use', template: 'use', depends: 'db' }] }, outputs };
  return {
    key: `error-path-${kind}`,
    source: `this project: leak 4, a ${kind === 'steps' ? 'Steps' : 'DAG'} scope ending through an error return (output expression fails at run time)`,
    manifest: {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Workflow',
      metadata: { generateName: `error-path-${kind}-` },
      spec: { entrypoint: 'main', templates: [main, redisDaemon('db'), client('use')] },
    },
  };
}

/**
 * Leak 1: the daemon's scope (an inner Steps template) ends, then the Workflow goes on waiting, so a
 * test can kill Argo's controller right after the scope ends and watch the reaper act alone.
 */
export function innerScope(waitAfter: string): Submission {
  return {
    key: 'inner-scope',
    source: 'this project: an inner scope ends, then the Workflow waits (leak 1: the controller is killed)',
    manifest: {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Workflow',
      metadata: { generateName: 'inner-scope-' },
      spec: {
        entrypoint: 'main',
        templates: [
          { name: 'main', steps: [[{ name: 'with-db', template: 'scope' }], [{ name: 'after', template: 'after' }]] },
          { name: 'scope', steps: [[{ name: 'db', template: 'db' }], [{ name: 'use', template: 'use' }]] },
          redisDaemon('db'),
          client('use'),
          pause('after', waitAfter),
        ],
      },
    },
  };
}

/** A List granting a namespace's default service account what Argo's executor does there: write task results. */
export function executorRbac(namespace: string): Json {
  return {
    apiVersion: 'v1',
    kind: 'List',
    items: [
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: 'argo-executor', namespace },
        rules: [{ apiGroups: ['argoproj.io'], resources: ['workflowtaskresults'], verbs: ['create', 'patch'] }],
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: 'argo-executor', namespace },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'argo-executor' },
        subjects: [{ kind: 'ServiceAccount', name: 'default', namespace }],
      },
    ],
  };
}

/** What puts a Workflow's pods on the test cluster's real node (kwok is its default node). */
export const onRealNode = {
  nodeSelector: { 'argo-daemon-guard.io/node-kind': 'real' },
  tolerations: [{ key: 'argo-daemon-guard.io/node-kind', operator: 'Equal', value: 'real', effect: 'NoSchedule' }],
} as const;

/**
 * A daemon on the real node that either exits on SIGTERM or ignores it, in a Steps scope that ends
 * once a short step after it is done. Argo's stop is an exec of `argoexec kill 15 1`: the first kind
 * goes, the second stays (Argo's SIGKILL never comes once the pod is labeled completed). The pods'
 * grace is shorter than the default, so a leftover is due sooner.
 */
export function signalDaemon(onTerm: 'exits' | 'ignores'): Submission {
  const trap = onTerm === 'exits' ? 'trap "echo stopping; exit 0" TERM' : 'trap "echo ignoring SIGTERM" TERM';
  return {
    key: `daemon-${onTerm}-sigterm`,
    source: `this project: a daemon that ${onTerm === 'exits' ? 'exits on' : 'ignores'} SIGTERM, on the real node`,
    manifest: {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Workflow',
      metadata: { generateName: `daemon-${onTerm}-sigterm-` },
      spec: {
        entrypoint: 'main',
        ...onRealNode,
        // Short, but long enough for Argo's stop to arrive (its exec goes out a few seconds after the scope
        // ends) and for the kubelet to report the container gone before grace plus margin passes.
        podSpecPatch: JSON.stringify({ terminationGracePeriodSeconds: 15 }),
        templates: [
          { name: 'main', steps: [[{ name: 'svc', template: 'svc' }], [{ name: 'use', template: 'use' }]] },
          {
            name: 'svc',
            daemon: true,
            container: {
              image: 'busybox',
              command: ['sh', '-c', `${trap}; echo serving; while true; do sleep 1; done`],
              readinessProbe: { exec: { command: ['true'] }, periodSeconds: 1 },
              resources: { requests: { cpu: '10m', memory: '16Mi' } },
            },
          },
          { name: 'use', container: { image: 'busybox', command: ['sh', '-c', 'echo using the daemon; sleep 2'], resources: { requests: { cpu: '10m', memory: '16Mi' } } } },
        ],
      },
    },
  };
}

/** `kubectl create -f -` in `namespace` (the manifest's own namespace is replaced); returns the name. */
export async function submit(kubeconfig: string, namespace: string, manifest: Json): Promise<{ name: string; warnings: string[] }> {
  const m = structuredClone(manifest);
  const meta = (m.metadata ?? (m.metadata = {})) as Json;
  meta.namespace = namespace;
  const { stdout, stderr } = await kubectlStdin(kubeconfig, ['create', '-n', namespace, '-f', '-', '-o', 'jsonpath={.metadata.name}'], stringify(m));
  return { name: stdout.trim(), warnings: stderr.split('\n').filter((l) => l.startsWith('Warning:')) };
}

/**
 * One `kubectl create -f -` for several Workflows (a multi-document YAML) in `namespace`: one kubectl
 * process instead of one each, which on two cores is most of the time a batch takes. Returns the
 * names in the order given.
 */
export async function submitAll(kubeconfig: string, namespace: string, manifests: Json[]): Promise<string[]> {
  const docs = manifests.map((manifest) => {
    const m = structuredClone(manifest);
    ((m.metadata ?? (m.metadata = {})) as Json).namespace = namespace;
    return stringify(m);
  });
  const { stdout } = await kubectlStdin(kubeconfig, ['create', '-n', namespace, '-f', '-', '-o', 'name'], docs.join('---\n'));
  const names = stdout.split('\n').filter(Boolean).map((l) => l.replace(/^.*\//, ''));
  if (names.length !== manifests.length) throw new Error(`kubectl created ${names.length} of ${manifests.length} Workflows in ${namespace}: ${stdout}`);
  return names;
}

/** kubectl with a document on stdin; rejects with kubectl's own message. */
export async function kubectlStdin(kubeconfig: string, args: string[], input: string): Promise<{ stdout: string; stderr: string }> {
  const { spawn } = await import('node:child_process');
  const { binaryPath } = await import('../cluster/binaries.ts');
  return new Promise((resolve, reject) => {
    const child = spawn(binaryPath('kubectl'), ['--kubeconfig', kubeconfig, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve({ stdout, stderr });
      else reject(Object.assign(new Error(`kubectl ${args.join(' ')} failed (exit ${code}): ${stderr.trim() || stdout.trim()}`), { stdout, stderr, code }));
    });
    child.stdin.end(input);
  });
}

export { kubectl };
