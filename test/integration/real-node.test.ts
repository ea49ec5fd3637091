// The real node: pods there are processes. Logs and exec go through the API server to the kubelet;
// exit codes and restart policies are the kubelet's; SIGTERM reaches the container on delete and the
// grace period ends in SIGKILL; pods get addresses on a private network with no way out; a ClusterIP
// Service reaches its pods through kube-proxy from pods and from the host; and stopping the node, also
// after its processes were killed, leaves nothing on the machine.
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Watch, type V1Pod } from '@kubernetes/client-node';
import { kubectl } from '../cluster/crds.ts';
import { fetchText } from '../cluster/kubeconfig.ts';
import { nodeLayout } from '../cluster/node/layout.ts';
import { mountsUnder, strayContainerProcesses } from '../cluster/node/cleanup.ts';
import { nodeKindTaint } from '../cluster/node/kubelet.ts';
import { realNet, realNodeName, startRealNode, stopRealNode } from '../cluster/node/real-node.ts';
import { isRunning, readRecord } from '../cluster/processes.ts';
import { cluster, core, createPod, kc, readPod, testNamespace, waitForPod, waitUntil, apiError } from './helpers.ts';

let ns: string;
beforeAll(async () => {
  ns = await testNamespace('real-node');
});

/** A pod pinned to the real node (it wears a taint in the test cluster, so only these go there). */
function realPod(name: string, spec: { containers: object[]; restartPolicy?: string; terminationGracePeriodSeconds?: number }, labels: Record<string, string> = {}) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels },
    spec: {
      nodeSelector: { 'argo-daemon-guard.io/node-kind': 'real' },
      tolerations: [{ ...nodeKindTaint('real'), operator: 'Equal' }],
      restartPolicy: spec.restartPolicy ?? 'Never',
      terminationGracePeriodSeconds: spec.terminationGracePeriodSeconds ?? 30,
      containers: spec.containers,
    },
  };
}

const sh = (name: string, script: string, image = 'busybox') => ({ name, image, command: ['sh', '-c', script] });
const running = (p: V1Pod) => p.status?.phase === 'Running' && (p.status.containerStatuses ?? []).every((c) => c.ready);
const k = (args: string[]) => kubectl(cluster().kubeconfig, args).then((r) => r.stdout);

/** The last container state the API server reported before the pod was gone. */
function deleteAndWatchLastState(name: string, graceSeconds: number): Promise<{ exitCode?: number; reason?: string }> {
  return new Promise((resolve, reject) => {
    let last: { exitCode?: number; reason?: string } = {};
    let req: { abort(): void } | undefined;
    const watch = new Watch(kc());
    watch
      .watch(
        `/api/v1/namespaces/${ns}/pods`,
        { fieldSelector: `metadata.name=${name}` },
        (type, pod: V1Pod) => {
          const t = pod.status?.containerStatuses?.[0]?.state?.terminated;
          if (t) last = { exitCode: t.exitCode, reason: t.reason };
          if (type === 'DELETED') {
            req?.abort();
            resolve(last);
          }
        },
        (err) => (err ? reject(err) : undefined),
      )
      .then(async (r) => {
        req = r;
        await core().deleteNamespacedPod({ namespace: ns, name, gracePeriodSeconds: graceSeconds });
      }, reject);
  });
}

describe('pods on the real node are processes', () => {
  test('the node is registered by its kubelet, with its InternalIP on the link and a container runtime', async () => {
    const node = await core().readNode({ name: realNodeName });
    expect(node.status?.nodeInfo?.containerRuntimeVersion).toMatch(/^containerd:\/\/1\./);
    expect(node.status?.nodeInfo?.kubeletVersion).toBe('v1.35.4');
    expect(node.status?.addresses).toContainEqual({ type: 'InternalIP', address: realNet.nodeIp });
    expect(node.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
  });

  test('kubectl logs shows what the container printed, and kubectl exec runs a command in it', async () => {
    await createPod(ns, realPod('talk', { containers: [sh('main', 'echo "hello from $(hostname)"; exec sleep 3600')] }));
    await waitForPod(ns, 'talk', 'Running', running, 90_000);
    expect(await k(['logs', '-n', ns, 'talk'])).toContain('hello from talk');
    expect((await k(['exec', '-n', ns, 'talk', '--', 'sh', '-c', 'echo $((6 * 7))'])).trim()).toBe('42');
  });

  test('exit codes and restart policies are the kubelet\'s', async () => {
    await createPod(ns, realPod('exits-3', { containers: [sh('main', 'exit 3')] }));
    await createPod(ns, realPod('exits-0', { containers: [sh('main', 'exit 0')] }));
    await createPod(ns, realPod('retries', { restartPolicy: 'OnFailure', containers: [sh('main', 'exit 1')] }));
    const failed = await waitForPod(ns, 'exits-3', 'Failed', (p) => p.status?.phase === 'Failed', 90_000);
    expect(failed.status?.containerStatuses?.[0]?.state?.terminated?.exitCode).toBe(3);
    await waitForPod(ns, 'exits-0', 'Succeeded', (p) => p.status?.phase === 'Succeeded', 90_000);
    const retried = await waitForPod(ns, 'retries', 'restarted', (p) => (p.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1, 90_000);
    expect(retried.status?.phase).not.toBe('Failed');
  });

  test('on delete, a container that exits on SIGTERM ends with its own code; one that ignores it is killed when its grace ends', async () => {
    await createPod(ns, realPod('honours-term', { containers: [sh('main', 'trap "exit 7" TERM; while true; do sleep 1; done')] }));
    await createPod(ns, realPod('ignores-term', { containers: [sh('main', 'trap "" TERM; while true; do sleep 1; done')] }));
    await waitForPod(ns, 'honours-term', 'Running', running, 90_000);
    await waitForPod(ns, 'ignores-term', 'Running', running, 90_000);
    const [honours, ignores] = await Promise.all([deleteAndWatchLastState('honours-term', 30), deleteAndWatchLastState('ignores-term', 3)]);
    expect(honours.exitCode).toBe(7);
    // 128 + 9: SIGKILL, sent by the runtime once the 3 s grace was over.
    expect(ignores.exitCode).toBe(137);
  });

  test('pods get addresses on the private pod network, and no route leads out of it', async () => {
    const pod = await readPod(ns, 'talk');
    expect(pod.status?.podIP).toMatch(/^10\.245\.0\./);
    const routes = await k(['exec', '-n', ns, 'talk', '--', 'ip', 'route']);
    expect(routes).not.toMatch(/^default/m);
    // A routing-table lookup: it sends nothing.
    const out = await kubectl(cluster().kubeconfig, ['exec', '-n', ns, 'talk', '--', 'sh', '-c', 'ip route get 8.8.8.8 2>&1; true']);
    expect(out.stdout).toMatch(/unreachable/i);
  });

  test('a ClusterIP Service reaches its pods through kube-proxy, from a pod and from the host', async () => {
    await createPod(ns, realPod('web', { containers: [sh('main', 'mkdir -p /www && echo "served by $(hostname)" > /www/index.html && exec httpd -f -p 8080 -h /www')] }, { app: 'web' }));
    await waitForPod(ns, 'web', 'Running', running, 90_000);
    const svc = await core().createNamespacedService({
      namespace: ns,
      body: { metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] } },
    });
    const ip = svc.spec?.clusterIP;
    expect(ip).toMatch(/^10\.96\./);
    // kube-proxy programs the Service once it sees its endpoints: wait for it from the host.
    const fromHost = await waitUntil('the Service answering from the host', async () => {
      const r = await fetchText(`http://${ip}/`, { timeoutMs: 2_000 }).catch(() => undefined);
      return r?.status === 200 ? r.body : undefined;
    }, 60_000);
    expect(fromHost).toContain('served by web');
    const fromPod = await k(['exec', '-n', ns, 'talk', '--', 'sh', '-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 ${ip} 80`]);
    expect(fromPod).toContain('served by web');
  });
});

describe('stopping the real node', () => {
  afterAll(async () => {
    // Later test files share this cluster: the node comes back as the global setup made it.
    const s = cluster();
    if (!readRecord(s.stateDir, 'kubelet')) await startRealNode(s, { registryPort: s.registryPort!, taints: [nodeKindTaint('real')], log: () => {} });
  }, 180_000);

  test('after its processes were killed, stopping it removes every process, mount, namespace and link it made', async () => {
    const s = cluster();
    const l = nodeLayout(s.stateDir);
    await createPod(ns, realPod('survivor', { containers: [sh('main', 'trap "" TERM; exec sleep 3600')] }));
    await waitForPod(ns, 'survivor', 'Running', running, 90_000);
    expect(mountsUnder([l.dir, l.containerdState]).length).toBeGreaterThan(0);
    expect(strayContainerProcesses(l).length).toBeGreaterThan(0);

    // An interrupted run: every process of the node killed at once, containers left running.
    const pids = ['kubelet', 'kube-proxy', 'containerd'].map((n) => readRecord(s.stateDir, n)!);
    killAllNowOf(s.stateDir, ['kubelet', 'kube-proxy', 'containerd']);
    await waitUntil('the node processes gone', async () => pids.every((r) => !isRunning(r)), 10_000);
    expect(strayContainerProcesses(l).length).toBeGreaterThan(0);

    await stopRealNode(s.stateDir, () => {});
    expect(strayContainerProcesses(l)).toEqual([]);
    expect(mountsUnder([l.dir, l.containerdState])).toEqual([]);
    expect(existsSync(`/run/netns/${realNet.netns}`)).toBe(false);
    expect(existsSync(`/sys/class/net/${realNet.hostVeth}`)).toBe(false);
    for (const n of ['kubelet', 'kube-proxy', 'containerd', 'forward-apiserver', 'forward-registry']) expect(readRecord(s.stateDir, n)).toBeUndefined();
    await core().deleteNamespacedPod({ namespace: ns, name: 'survivor', gracePeriodSeconds: 0 }).catch((e: unknown) => apiError(e));
  }, 180_000);
});

/** SIGKILL to some components only, the way a crash would leave them. */
function killAllNowOf(stateDir: string, names: string[]): void {
  for (const n of names) {
    const r = readRecord(stateDir, n);
    if (r && isRunning(r)) process.kill(r.pid, 'SIGKILL');
  }
}
