// An offloaded ARGO_TEMPLATE lives in a ConfigMap named like the pod; Argo
// creates it before the pod, so one GET during admission finds it. The read is bounded well inside
// the webhook's own timeout: a slow API server makes the pod "unknown" (admitted unlabeled), never a
// timed-out webhook call.
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { argo } from '../core/keys.ts';
import type { OffloadedTemplate } from '../core/admission/daemon.ts';
import { apiErrorMessage, apiStatus, withSignal } from '../runtime/kube.ts';

export type ConfigMapKey = { found: false } | { found: true; value: string | undefined };

/** One GET of one ConfigMap key. Rejects on anything but "found" and "not found". */
export interface ConfigMapReader {
  readConfigMapKey(namespace: string, name: string, key: string, signal: AbortSignal): Promise<ConfigMapKey>;
}

export type OffloadedOutcome = 'ok' | 'not-found' | 'missing-key' | 'timeout' | 'error' | 'no-credentials';

export const defaultOffloadedTimeoutMs = 2_000;

export async function readOffloadedTemplate(
  reader: ConfigMapReader | undefined,
  namespace: string,
  configMap: string,
  timeoutMs = defaultOffloadedTimeoutMs,
): Promise<{ template: OffloadedTemplate; outcome: OffloadedOutcome }> {
  const fail = (outcome: OffloadedOutcome, reason: string) => ({ template: { ok: false as const, reason }, outcome });
  if (!reader) return fail('no-credentials', 'no cluster credentials');
  if (!namespace) return fail('error', 'the request names no namespace to read the ConfigMap from');
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  // Raced as well as passed down, so a reader that ignores the signal cannot hold the request.
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => {
      controller.abort(new DOMException(`no answer within ${timeoutMs} ms`, 'TimeoutError'));
      resolve('timeout');
    }, timeoutMs);
  });
  try {
    const got = await Promise.race([reader.readConfigMapKey(namespace, configMap, argo.templateEnv, controller.signal), timeout]);
    if (got === 'timeout') return fail('timeout', `reading ConfigMap ${namespace}/${configMap} timed out after ${timeoutMs} ms`);
    if (!got.found) return fail('not-found', `ConfigMap ${namespace}/${configMap} not found`);
    if (got.value === undefined) return fail('missing-key', `ConfigMap ${namespace}/${configMap} has no ${argo.templateEnv} key`);
    return { template: { ok: true, json: got.value }, outcome: 'ok' };
  } catch (err) {
    if (controller.signal.aborted) return fail('timeout', `reading ConfigMap ${namespace}/${configMap} timed out after ${timeoutMs} ms`);
    return fail('error', `reading ConfigMap ${namespace}/${configMap} failed: ${apiErrorMessage(err)}`);
  } finally {
    clearTimeout(timer);
  }
}

export function kubeConfigMapReader(kc: KubeConfig): ConfigMapReader {
  const core = kc.makeApiClient(CoreV1Api);
  return {
    async readConfigMapKey(namespace, name, key, signal) {
      try {
        const cm = await core.readNamespacedConfigMap({ namespace, name }, withSignal(signal));
        return { found: true, value: cm.data?.[key] };
      } catch (err) {
        if (apiStatus(err) === 404) return { found: false };
        throw err;
      }
    },
  };
}
