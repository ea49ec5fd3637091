// Every call the reaper makes to the API server beyond its list/watch caches, behind one interface so
// the reap procedure can be unit-tested with a stand-in and proven against the real API server.
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { argo, guard } from '../core/keys.ts';
import { apiStatus, kubeCall } from '../runtime/kube.ts';

export interface EventTarget {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  uid: string;
}

/** conflict: the pod is not the one the preconditions name (another uid, or another resourceVersion). */
export type DeleteResult = 'accepted' | 'gone' | 'conflict';

export interface ReaperCluster {
  /** The raw pod, or undefined when it does not exist. */
  getPod(namespace: string, name: string): Promise<unknown | undefined>;
  getWorkflow(namespace: string, name: string): Promise<unknown | undefined>;
  /** Deletes only the pod with this uid — and this resourceVersion, when given (preconditions) — with this grace period. */
  deletePod(namespace: string, name: string, uid: string, gracePeriodSeconds: number, resourceVersion?: string): Promise<DeleteResult>;
  event(target: EventTarget, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void>;
}

export function apiReaperCluster(kc: KubeConfig, reportingInstance: string): ReaperCluster {
  const core = kc.makeApiClient(CoreV1Api);
  const seg = encodeURIComponent;
  // Reads and deletes on the hot path of a reap go out as plain requests and come back as the API
  // server's JSON, as the watch gives it: no typed model to build and throw away (timestamps stay
  // RFC 3339 text, which is what readPod reads).
  return {
    getPod: (namespace, name) => kubeCall(kc, 'GET', `/api/v1/namespaces/${seg(namespace)}/pods/${seg(name)}`),
    getWorkflow: (namespace, name) => kubeCall(kc, 'GET', `/apis/${argo.group}/${argo.version}/namespaces/${seg(namespace)}/${argo.resources.workflows}/${seg(name)}`),
    async deletePod(namespace, name, uid, gracePeriodSeconds, resourceVersion) {
      try {
        const preconditions = resourceVersion === undefined ? { uid } : { uid, resourceVersion };
        const found = await kubeCall(kc, 'DELETE', `/api/v1/namespaces/${seg(namespace)}/pods/${seg(name)}`, { kind: 'DeleteOptions', apiVersion: 'v1', gracePeriodSeconds, preconditions });
        return found === undefined ? 'gone' : 'accepted';
      } catch (err) {
        const status = apiStatus(err);
        if (status === 404) return 'gone';
        if (status === 409) return 'conflict';
        throw err;
      }
    },
    async event(target, type, reason, message) {
      const now = new Date();
      await core.createNamespacedEvent({
        namespace: target.namespace,
        body: {
          metadata: { name: `${target.name}.${randomBytes(8).toString('hex')}`, namespace: target.namespace },
          involvedObject: { apiVersion: target.apiVersion, kind: target.kind, name: target.name, namespace: target.namespace, uid: target.uid },
          type,
          reason,
          message: message.slice(0, 1024),
          source: { component: `${guard.name}-reaper` },
          reportingComponent: `${guard.name}.io/reaper`,
          reportingInstance,
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      });
    },
  };
}
