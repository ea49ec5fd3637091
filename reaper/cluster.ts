// Every call the reaper makes to the API server beyond its list/watch caches, behind one interface so
// the reap procedure can be unit-tested with a stand-in and proven against the real API server.
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { argo, guard } from '../core/keys.ts';
import { apiStatus } from '../runtime/kube.ts';

export interface EventTarget {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  uid: string;
}

export type DeleteResult = 'accepted' | 'gone' | 'uid-changed';

export interface ReaperCluster {
  /** The raw pod, or undefined when it does not exist. */
  getPod(namespace: string, name: string): Promise<unknown | undefined>;
  getWorkflow(namespace: string, name: string): Promise<unknown | undefined>;
  /** Deletes only the pod with this uid (a precondition), with this grace period. */
  deletePod(namespace: string, name: string, uid: string, gracePeriodSeconds: number): Promise<DeleteResult>;
  event(target: EventTarget, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void>;
}

export function apiReaperCluster(kc: KubeConfig, reportingInstance: string): ReaperCluster {
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const orUndefined = async <T>(call: Promise<T>): Promise<T | undefined> => {
    try {
      return await call;
    } catch (err) {
      if (apiStatus(err) === 404) return undefined;
      throw err;
    }
  };
  return {
    getPod: (namespace, name) => orUndefined(core.readNamespacedPod({ namespace, name })),
    getWorkflow: (namespace, name) =>
      orUndefined(custom.getNamespacedCustomObject({ group: argo.group, version: argo.version, namespace, plural: argo.resources.workflows, name })),
    async deletePod(namespace, name, uid, gracePeriodSeconds) {
      try {
        await core.deleteNamespacedPod({ namespace, name, gracePeriodSeconds, body: { preconditions: { uid }, gracePeriodSeconds } });
        return 'accepted';
      } catch (err) {
        const status = apiStatus(err);
        if (status === 404) return 'gone';
        if (status === 409) return 'uid-changed';
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
