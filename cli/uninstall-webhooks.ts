// `argo-daemon-guard uninstall-webhooks`: deletes the guard's MutatingWebhookConfiguration and
// ValidatingWebhookConfiguration by name. The chart's pre-delete hook runs it (the image has no shell),
// so helm uninstall never leaves a webhook registered whose pods are gone. Idempotent: a configuration
// already gone counts as done. Needs only `delete` on those two objects, by resourceNames.
import { AdmissionregistrationV1Api, type KubeConfig } from '@kubernetes/client-node';
import { apiErrorMessage, apiStatus, loadKubeConfig } from '../runtime/kube.ts';
import { commandArgs, usageError } from './args.ts';
import type { Command } from './main.ts';

const defaults = { name: 'argo-daemon-guard', timeoutSeconds: 60 };

export const uninstallWebhooksUsage = `usage: argo-daemon-guard uninstall-webhooks [--name NAME] [--kubeconfig FILE] [--timeout SECONDS]

Deletes the MutatingWebhookConfiguration and the ValidatingWebhookConfiguration named NAME (the
webhook's --webhook-config-name). One already gone counts as deleted, so running it twice is fine.
Transient API errors are retried until the timeout.

  --name NAME         the two configurations' name (default ${defaults.name})
  --kubeconfig FILE   cluster credentials (default: $KUBECONFIG, else the pod's service account)
  --timeout SECONDS   give up retrying after this long (default ${defaults.timeoutSeconds})
  -h, --help          this text

Needs RBAC: delete on mutatingwebhookconfigurations and validatingwebhookconfigurations, resourceNames [NAME].

Exit codes: 0 both are gone; 1 a deletion was refused or still failing at the timeout; 2 bad usage or
no cluster credentials.
`;

export const webhookConfigKinds = ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration'] as const;
export type WebhookConfigKind = (typeof webhookConfigKinds)[number];

/** Deletes one configuration; resolves 'absent' on 404, rejects on any other failure. */
export type DeleteWebhookConfig = (kind: WebhookConfigKind, name: string) => Promise<'deleted' | 'absent'>;

export function kubeDeleter(kc: KubeConfig): DeleteWebhookConfig {
  const api = kc.makeApiClient(AdmissionregistrationV1Api);
  return async (kind, name) => {
    try {
      if (kind === 'MutatingWebhookConfiguration') await api.deleteMutatingWebhookConfiguration({ name });
      else await api.deleteValidatingWebhookConfiguration({ name });
      return 'deleted';
    } catch (err) {
      if (apiStatus(err) === 404) return 'absent';
      throw err;
    }
  };
}

/** Retrying will not change these answers: bad request, unauthorized, forbidden, invalid. */
function permanent(status: number | undefined): boolean {
  return status === 400 || status === 401 || status === 403 || status === 422;
}

export interface UninstallResult {
  kind: WebhookConfigKind;
  outcome: 'deleted' | 'absent' | 'failed';
  error?: string;
}

export interface UninstallOptions {
  name: string;
  remove: DeleteWebhookConfig;
  timeoutMs: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export async function uninstallWebhooks(o: UninstallOptions): Promise<UninstallResult[]> {
  const now = o.now ?? Date.now;
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const deadline = now() + o.timeoutMs;
  const results: UninstallResult[] = [];
  for (const kind of webhookConfigKinds) {
    for (let wait = 500; ; wait = Math.min(wait * 2, 5_000)) {
      try {
        results.push({ kind, outcome: await o.remove(kind, o.name) });
        break;
      } catch (err) {
        const status = apiStatus(err);
        const message = apiErrorMessage(err);
        if (permanent(status) || now() + wait > deadline) {
          const hint =
            status === 403 ? ` (the ServiceAccount needs delete on ${kind.toLowerCase()}s, resourceNames [${o.name}])`
            : permanent(status) ? ''
            : ` (still failing after ${Math.round(o.timeoutMs / 1000)}s)`;
          results.push({ kind, outcome: 'failed', error: `${message}${hint}` });
          break;
        }
        await sleep(wait);
      }
    }
  }
  return results;
}

export const uninstallWebhooksCommand: Command = {
  summary: 'delete the webhook configurations (the chart\'s pre-delete hook)',
  async run(argv) {
    const args = commandArgs('uninstall-webhooks', argv, { name: { type: 'string' }, kubeconfig: { type: 'string' }, timeout: { type: 'string' } }, uninstallWebhooksUsage.trimEnd());
    if (!args.ok) return args.exitCode;
    const { values } = args;
    if (args.positionals.length) return usageError('uninstall-webhooks', `unexpected argument ${args.positionals[0]}`, uninstallWebhooksUsage.trimEnd());
    const name = values.name ?? defaults.name;
    if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(name) || name.length > 253) {
      process.stderr.write(`uninstall-webhooks: --name ${JSON.stringify(name)} is not a valid object name (lower-case letters, digits, '-' and '.')\n`);
      return 2;
    }
    const timeoutSeconds = values.timeout === undefined ? defaults.timeoutSeconds : Number(values.timeout);
    if (!/^\d+$/.test(values.timeout ?? '0') || !Number.isInteger(timeoutSeconds)) {
      process.stderr.write(`uninstall-webhooks: --timeout ${JSON.stringify(values.timeout)}: expected a whole number of seconds\n`);
      return 2;
    }
    let access;
    try {
      access = loadKubeConfig({ kubeconfig: values.kubeconfig });
    } catch (err) {
      process.stderr.write(`uninstall-webhooks: ${(err as Error).message}\n`);
      return 2;
    }
    if (!access.ok) {
      process.stderr.write(`uninstall-webhooks: ${access.reason}; it needs the cluster to delete the webhook configurations\n`);
      return 2;
    }
    const results = await uninstallWebhooks({ name, remove: kubeDeleter(access.kc), timeoutMs: timeoutSeconds * 1000 });
    for (const r of results) {
      if (r.outcome === 'failed') process.stderr.write(`uninstall-webhooks: ${r.kind} ${name}: not deleted: ${r.error}\n`);
      else process.stdout.write(`${r.kind} ${name}: ${r.outcome === 'deleted' ? 'deleted' : 'already gone'}\n`);
    }
    return results.some((r) => r.outcome === 'failed') ? 1 : 0;
  },
};
