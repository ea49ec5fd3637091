// `argo-daemon-guard uninstall-webhooks`: deletes a release's MutatingWebhookConfiguration and
// ValidatingWebhookConfiguration, found by the chart's labels, or by name. The chart's pre-delete hook
// runs it by name (the image has no shell; the hook may only delete those two objects, by
// resourceNames), so helm uninstall never leaves a webhook registered whose pods are gone.
import { AdmissionregistrationV1Api, type KubeConfig } from '@kubernetes/client-node';
import { chart } from '../core/keys.ts';
import { apiErrorMessage, apiStatus, loadKubeConfig } from '../runtime/kube.ts';
import { commandArgs, usageError } from '../runtime/command.ts';
import type { Command } from './main.ts';

const defaults = { timeoutSeconds: 60 };


export const uninstallWebhooksUsage = `usage: argo-daemon-guard uninstall-webhooks [--release NAME | --name NAME [--ignore-not-found]]
                                        [--kubeconfig FILE] [--timeout SECONDS]

Deletes a release's MutatingWebhookConfiguration and ValidatingWebhookConfiguration, and lists what
it deleted. Transient API errors are retried until the timeout.

  --release NAME      the Helm release whose configurations to delete: found by the chart's labels
                      (app.kubernetes.io/part-of=argo-daemon-guard, app.kubernetes.io/instance=NAME)
  (neither)           the configurations of the only release present; several releases: pass --release
  --name NAME         the configurations named NAME (the webhook's --webhook-config-name), no listing:
                      what the chart's pre-delete hook runs
  --ignore-not-found  with --name: configurations already gone count as deleted (the hook may run twice)
  --kubeconfig FILE   cluster credentials (default: $KUBECONFIG, else the pod's service account)
  --timeout SECONDS   give up retrying after this long (default ${defaults.timeoutSeconds})
  -h, --help          this text

Needs RBAC: delete on mutatingwebhookconfigurations and validatingwebhookconfigurations (with --name,
resourceNames [NAME] is enough); without --name also list on both.

Exit codes: 0 deleted (or, with --ignore-not-found, already gone); 1 found none, a deletion refused, or
still failing at the timeout; 2 bad usage, several releases without --release, or no cluster credentials.
`;

export const webhookConfigKinds = ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration'] as const;
export type WebhookConfigKind = (typeof webhookConfigKinds)[number];

/** Deletes one configuration; resolves 'absent' on 404, rejects on any other failure. */
export type DeleteWebhookConfig = (kind: WebhookConfigKind, name: string) => Promise<'deleted' | 'absent'>;

/** A webhook configuration as listed: its kind, name and the chart's labels. */
export interface ListedWebhookConfig {
  kind: WebhookConfigKind;
  name: string;
  labels: Record<string, string>;
}

export type ListWebhookConfigs = (labelSelector: string) => Promise<ListedWebhookConfig[]>;

export type Targets = { ok: true; targets: { kind: WebhookConfigKind; name: string }[] } | { ok: false; exitCode: 1 | 2; message: string };

/**
 * Which configurations to delete, from those carrying the chart's labels: the release's, or those of
 * the only release present. Several releases and no --release: refuse, naming them.
 */
export function releaseTargets(listed: ListedWebhookConfig[], release: string | undefined): Targets {
  const ours = listed.filter((c) => c.labels[chart.partOfLabel] === chart.partOf && (release === undefined || c.labels[chart.instanceLabel] === release));
  const releases = [...new Set(ours.map((c) => c.labels[chart.instanceLabel] ?? '(no release label)'))].sort();
  if (ours.length === 0) {
    const where = release === undefined ? 'of any release' : `of release ${release}`;
    return { ok: false, exitCode: 1, message: `found none: no webhook configuration ${where} (labels ${chart.partOfLabel}=${chart.partOf}${release === undefined ? '' : `, ${chart.instanceLabel}=${release}`})` };
  }
  if (releases.length > 1) return { ok: false, exitCode: 2, message: `webhook configurations of several releases (${releases.join(', ')}): pass --release NAME` };
  return { ok: true, targets: ours.map(({ kind, name }) => ({ kind, name })) };
}

export function kubeLister(kc: KubeConfig): ListWebhookConfigs {
  const api = kc.makeApiClient(AdmissionregistrationV1Api);
  return async (labelSelector) => {
    const [m, v] = await Promise.all([api.listMutatingWebhookConfiguration({ labelSelector }), api.listValidatingWebhookConfiguration({ labelSelector })]);
    const view = (kind: WebhookConfigKind) => (o: { metadata?: { name?: string; labels?: Record<string, string> } }) => ({ kind, name: o.metadata?.name ?? '', labels: o.metadata?.labels ?? {} });
    return [...m.items.map(view('MutatingWebhookConfiguration')), ...v.items.map(view('ValidatingWebhookConfiguration'))];
  };
}

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
  name: string;
  outcome: 'deleted' | 'absent' | 'failed';
  error?: string;
}

export interface UninstallOptions {
  targets: { kind: WebhookConfigKind; name: string }[];
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
  for (const { kind, name } of o.targets) {
    for (let wait = 500; ; wait = Math.min(wait * 2, 5_000)) {
      try {
        results.push({ kind, name, outcome: await o.remove(kind, name) });
        break;
      } catch (err) {
        const status = apiStatus(err);
        const message = apiErrorMessage(err);
        if (permanent(status) || now() + wait > deadline) {
          const hint =
            status === 403 ? ` (the ServiceAccount needs delete on ${kind.toLowerCase()}s, resourceNames [${name}])`
            : permanent(status) ? ''
            : ` (still failing after ${Math.round(o.timeoutMs / 1000)}s)`;
          results.push({ kind, name, outcome: 'failed', error: `${message}${hint}` });
          break;
        }
        await sleep(wait);
      }
    }
  }
  return results;
}

/** Both configurations of one name: what the chart creates for a release, and what the hook deletes. */
export const byName = (name: string) => webhookConfigKinds.map((kind) => ({ kind, name }));

const objectName = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

export const uninstallWebhooksCommand: Command = {
  summary: 'delete a release\'s webhook configurations (the chart\'s pre-delete hook)',
  async run(argv) {
    const usage = uninstallWebhooksUsage.trimEnd();
    const args = commandArgs('uninstall-webhooks', argv, { name: { type: 'string' }, release: { type: 'string' }, 'ignore-not-found': { type: 'boolean' }, kubeconfig: { type: 'string' }, timeout: { type: 'string' } }, usage);
    if (!args.ok) return args.exitCode;
    const { values } = args;
    if (args.positionals.length) return usageError('uninstall-webhooks', `unexpected argument ${args.positionals[0]}`, usage);
    if (values.name !== undefined && values.release !== undefined) return usageError('uninstall-webhooks', '--name and --release exclude each other', usage);
    if (values['ignore-not-found'] && values.name === undefined) return usageError('uninstall-webhooks', '--ignore-not-found goes with --name', usage);
    for (const flag of ['name', 'release'] as const) {
      const v = values[flag];
      if (v !== undefined && (!objectName.test(v) || v.length > 253)) {
        process.stderr.write(`uninstall-webhooks: --${flag} ${JSON.stringify(v)} is not a valid name (lower-case letters, digits, '-' and '.')\n`);
        return 2;
      }
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
    let targets;
    if (values.name !== undefined) targets = byName(values.name);
    else {
      let listed;
      try {
        listed = await kubeLister(access.kc)(`${chart.partOfLabel}=${chart.partOf}`);
      } catch (err) {
        process.stderr.write(`uninstall-webhooks: cannot list the webhook configurations: ${apiErrorMessage(err)}${apiStatus(err) === 403 ? ' (needs list on mutatingwebhookconfigurations and validatingwebhookconfigurations; or pass --name)' : ''}\n`);
        return 1;
      }
      const found = releaseTargets(listed, values.release);
      if (!found.ok) {
        process.stderr.write(`uninstall-webhooks: ${found.message}\n`);
        return found.exitCode;
      }
      targets = found.targets;
    }
    const results = await uninstallWebhooks({ targets, remove: kubeDeleter(access.kc), timeoutMs: timeoutSeconds * 1000 });
    return report(results, values['ignore-not-found'] === true);
  },
};

/** Prints one line per configuration; the exit code: 1 when any failed, or nothing was deleted unless absence is fine. */
function report(results: UninstallResult[], ignoreNotFound: boolean): number {
  for (const r of results) {
    if (r.outcome === 'failed') process.stderr.write(`uninstall-webhooks: ${r.kind} ${r.name}: not deleted: ${r.error}\n`);
    else process.stdout.write(`${r.kind} ${r.name}: ${r.outcome === 'deleted' ? 'deleted' : 'already gone'}\n`);
  }
  if (results.some((r) => r.outcome === 'failed')) return 1;
  if (!ignoreNotFound && results.every((r) => r.outcome === 'absent')) {
    process.stderr.write(`uninstall-webhooks: found none: ${results.map((r) => `${r.kind} ${r.name}`).join(', ')} did not exist\n`);
    return 1;
  }
  return 0;
}
