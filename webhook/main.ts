// `argo-daemon-guard webhook`: wires the policy, the serving certificate, the cluster client and the
// HTTPS server together, then waits for SIGTERM/SIGINT and shuts down gracefully.
import { parseArgs } from 'node:util';
import type { Command } from '../runtime/command.ts';
import { PolicyError } from '../core/policy/schema.ts';
import { createLogger, logLevels, type LogLevel, type Logger } from '../runtime/log.ts';
import { apiErrorMessage, apiStatus, inClusterNamespace, loadKubeConfig, type KubeAccess } from '../runtime/kube.ts';
import type { WatchedFiles } from '../runtime/watched-file.ts';
import { createApp } from './app.ts';
import { createMetrics } from './metrics.ts';
import { kubeConfigMapReader, type ConfigMapReader } from './offloaded.ts';
import { openPolicySource } from './policy-source.ts';
import { listen } from './server.ts';
import { ServingTls, watchCertFiles } from './tls/reloading.ts';
import type { KeyPairPem } from './tls/pki.ts';
import {
  SelfManagedCerts,
  defaultCertSettings,
  kubeSecretClient,
  kubeWebhookConfigClient,
  serviceDnsNames,
  splitSans,
  type SecretClient,
  type WebhookConfigClient,
} from './tls/self-managed.ts';

const defaults = {
  port: 8443,
  webhookConfigName: 'argo-daemon-guard',
  serviceName: 'argo-daemon-guard-webhook',
  shutdownDeadlineMs: 10_000,
  certCheckIntervalMs: 10 * 60_000,
};

export const webhookUsage = `usage: argo-daemon-guard webhook (--tls-cert FILE --tls-key FILE | --manage-certs --cert-secret NAME) [options]

Serves the mutating (POST /mutate) and validating (POST /validate) admission webhooks over HTTPS,
with GET /healthz, /readyz and /metrics.

Serving certificate, one of:
  --tls-cert FILE              certificate (PEM, chain allowed); reloaded when it changes
  --tls-key FILE               its private key (PEM); reloaded with it
  --manage-certs               keep a CA and serving certificate in a Secret, renew them, and set
                               the caBundle of this webhook's own configurations
    --cert-secret NAME         the (pre-created, possibly empty) Secret holding them
    --namespace NS             its namespace (default: $POD_NAMESPACE, else the pod's own)
    --webhook-config-name NAME the Mutating/ValidatingWebhookConfiguration to patch
                               (default ${defaults.webhookConfigName})
    --service-name NAME        the Service in front of the webhook; the certificate covers
                               NAME.NS.svc and NAME.NS.svc.cluster.local (default ${defaults.serviceName})
    --extra-san NAME|IP        another DNS name or IP for the certificate (repeatable)

Options:
  --policy FILE                the policy YAML; reloaded when it changes (default: the built-in policy,
                               which enforces nothing)
  --kubeconfig FILE            cluster credentials (default: $KUBECONFIG, else the pod's service
                               account; with none it still serves, but offloaded templates cannot be read)
  --port N                     HTTPS port (default ${defaults.port}; 0 picks a free one)
  --host ADDR                  address to listen on (default: all)
  --log-level LEVEL            ${logLevels.join(', ')} (default info)
  -h, --help                   this text

Exit codes: 0 after a graceful shutdown, 1 when shutdown had to cut connections or a runtime failure,
2 bad usage or unusable input (policy, certificate, Secret).
`;

export type CertMode =
  | { mode: 'files'; certFile: string; keyFile: string }
  | { mode: 'managed'; secret: string; namespace: string | undefined; webhookConfigName: string; serviceName: string; extraSans: string[] };

export interface WebhookOptions {
  certs: CertMode;
  kubeconfig: string | undefined;
  port: number;
  host: string | undefined;
  policy: string | undefined;
  logLevel: LogLevel;
}

export type ParsedArgs = { kind: 'run'; options: WebhookOptions } | { kind: 'help' } | { kind: 'error'; error: string };

export function parseWebhookArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): ParsedArgs {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        'manage-certs': { type: 'boolean' },
        'cert-secret': { type: 'string' },
        namespace: { type: 'string' },
        'webhook-config-name': { type: 'string' },
        'service-name': { type: 'string' },
        'extra-san': { type: 'string', multiple: true },
        kubeconfig: { type: 'string' },
        port: { type: 'string' },
        host: { type: 'string' },
        policy: { type: 'string' },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    return { kind: 'error', error: (err as Error).message };
  }
  if (values.help) return { kind: 'help' };

  const port = values.port === undefined ? defaults.port : Number(values.port);
  if (!/^\d+$/.test(values.port ?? '0') || !Number.isInteger(port) || port < 0 || port > 65535) {
    return { kind: 'error', error: `--port ${JSON.stringify(values.port)}: expected a whole number from 0 to 65535` };
  }
  const logLevel = (values['log-level'] ?? 'info') as LogLevel;
  if (!logLevels.includes(logLevel)) return { kind: 'error', error: `--log-level ${JSON.stringify(values['log-level'])}: expected one of ${logLevels.join(', ')}` };

  const files = values['tls-cert'] !== undefined || values['tls-key'] !== undefined;
  const managed = values['manage-certs'] === true;
  const managedOnly = (['cert-secret', 'namespace', 'webhook-config-name', 'service-name', 'extra-san'] as const).filter((k) => values[k] !== undefined);
  let certs: CertMode;
  if (files && managed) return { kind: 'error', error: 'use either --tls-cert/--tls-key or --manage-certs, not both' };
  if (files) {
    if (!values['tls-cert']) return { kind: 'error', error: '--tls-key needs --tls-cert (the certificate file that goes with it)' };
    if (!values['tls-key']) return { kind: 'error', error: '--tls-cert needs --tls-key (the private key file that goes with it)' };
    if (managedOnly.length) return { kind: 'error', error: `--${managedOnly[0]} only applies with --manage-certs` };
    certs = { mode: 'files', certFile: values['tls-cert'], keyFile: values['tls-key'] };
  } else if (managed) {
    if (!values['cert-secret']) return { kind: 'error', error: '--manage-certs needs --cert-secret NAME (the Secret that holds the CA and serving certificate)' };
    certs = {
      mode: 'managed',
      secret: values['cert-secret'],
      namespace: values.namespace ?? (env.POD_NAMESPACE || undefined),
      webhookConfigName: values['webhook-config-name'] ?? defaults.webhookConfigName,
      serviceName: values['service-name'] ?? defaults.serviceName,
      extraSans: values['extra-san'] ?? [],
    };
  } else {
    return { kind: 'error', error: 'a serving certificate is required: --tls-cert FILE --tls-key FILE, or --manage-certs --cert-secret NAME' };
  }
  return { kind: 'run', options: { certs, kubeconfig: values.kubeconfig, port, host: values.host, policy: values.policy, logLevel } };
}

/** Bad input found at start: exit 2 with this message. */
export class StartupError extends Error {}

/** Stand-ins for tests; the CLI passes none. */
export interface WebhookDeps {
  logger?: Logger;
  env?: NodeJS.ProcessEnv;
  kube?: KubeAccess;
  configMaps?: ConfigMapReader;
  secrets?: SecretClient;
  webhookConfigs?: WebhookConfigClient;
  pollMs?: number;
  offloadedTimeoutMs?: number;
  /** Retry budget for the first certificate check with --manage-certs. */
  startupRetryMs?: number;
}

export interface RunningWebhook {
  port: number;
  tls: ServingTls;
  /** With --manage-certs: one certificate check now, instead of waiting for the periodic one. */
  recheckCertificates: (() => Promise<unknown>) | undefined;
  close(deadlineMs?: number): Promise<{ forced: boolean }>;
}

export async function startWebhook(o: WebhookOptions, deps: WebhookDeps = {}): Promise<RunningWebhook> {
  const logger = deps.logger ?? createLogger(o.logLevel);
  const metrics = createMetrics();
  const cleanup: (() => void)[] = [];
  try {
    let policy;
    try {
      policy = await openPolicySource(o.policy, { logger, metrics, ...(deps.pollMs ? { pollMs: deps.pollMs } : {}) });
    } catch (err) {
      throw new StartupError(`--policy ${o.policy}: ${(err as Error).message}`);
    }
    cleanup.push(() => policy.close());
    if (!policy.current()) {
      const s = policy.status();
      throw new StartupError(s.problems?.length ? `policy ${o.policy} is invalid: ${s.problems.join('; ')}` : `--policy ${o.policy}: ${s.error}`);
    }

    let kube: KubeAccess;
    try {
      kube = deps.kube ?? loadKubeConfig({ kubeconfig: o.kubeconfig, env: deps.env ?? process.env });
    } catch (err) {
      throw new StartupError((err as Error).message);
    }
    const configMaps = deps.configMaps ?? (kube.ok ? kubeConfigMapReader(kube.kc) : undefined);
    if (!configMaps) logger.warn({ reason: kube.ok ? 'no ConfigMap reader' : kube.reason }, 'no cluster credentials: pods whose template is offloaded to a ConfigMap will be admitted unlabeled');

    let recheckCertificates: (() => Promise<unknown>) | undefined;
    const tls = new ServingTls(o.certs.mode === 'files' ? `files ${o.certs.certFile}, ${o.certs.keyFile}` : `Secret ${o.certs.secret}`, logger, metrics);
    if (o.certs.mode === 'files') {
      const watched: WatchedFiles<KeyPairPem> = await watchCertFiles(o.certs.certFile, o.certs.keyFile, tls, deps.pollMs ? { pollMs: deps.pollMs } : {});
      cleanup.push(() => watched.close());
      if (!tls.current()) throw new StartupError(`--tls-cert ${o.certs.certFile} / --tls-key ${o.certs.keyFile}: ${tls.status().lastError}`);
    } else {
      const manager = await startSelfManaged(o.certs, kube, tls, logger, deps);
      cleanup.push(() => manager.close());
      recheckCertificates = () => manager.reconcile();
    }

    const app = createApp({
      logger,
      metrics,
      policy: () => policy.current(),
      configMaps,
      ...(deps.offloadedTimeoutMs ? { offloadedTimeoutMs: deps.offloadedTimeoutMs } : {}),
      readiness: () => {
        const p = policy.status();
        const t = tls.status();
        return {
          ready: p.loaded && t.loaded,
          detail: { policy: p, tls: t, offloadedTemplates: configMaps ? 'readable' : `not readable: ${kube.ok ? 'no reader' : kube.reason}` },
        };
      },
    });
    const server = await listen(app, tls, { port: o.port, host: o.host, logger }).catch((err: Error) => {
      throw new StartupError(`cannot listen on ${o.host ?? '*'}:${o.port}: ${err.message}`);
    });
    logger.info(
      { port: server.port, host: o.host ?? '*', certificates: o.certs.mode, policy: policy.status().source, cluster: kube.ok ? kube.source : kube.reason },
      'listening',
    );
    return {
      port: server.port,
      tls,
      recheckCertificates,
      close: async (deadlineMs) => {
        for (const c of cleanup) c();
        return server.close(deadlineMs);
      },
    };
  } catch (err) {
    for (const c of cleanup) c();
    throw err;
  }
}

async function startSelfManaged(
  c: Extract<CertMode, { mode: 'managed' }>,
  kube: KubeAccess,
  tls: ServingTls,
  logger: Logger,
  deps: WebhookDeps,
): Promise<SelfManagedCerts> {
  const namespace = c.namespace ?? inClusterNamespace();
  if (!namespace) throw new StartupError('--manage-certs needs the Secret\'s namespace: --namespace NS or $POD_NAMESPACE');
  if (!(deps.secrets && deps.webhookConfigs) && !kube.ok) throw new StartupError(`--manage-certs needs cluster credentials to read Secret ${namespace}/${c.secret}: ${kube.reason}`);
  const secrets = deps.secrets ?? kubeSecretClient((kube as Extract<KubeAccess, { ok: true }>).kc, namespace, c.secret);
  const webhookConfigs = deps.webhookConfigs ?? kubeWebhookConfigClient((kube as Extract<KubeAccess, { ok: true }>).kc, c.webhookConfigName);
  const sans = splitSans(c.extraSans);
  const manager = new SelfManagedCerts({
    secrets,
    configs: webhookConfigs,
    tls,
    logger,
    settings: { ...defaultCertSettings, dnsNames: [...serviceDnsNames(c.serviceName, namespace), ...sans.dnsNames], ips: sans.ips },
  });
  // The API server may be briefly unreachable at start; a missing Secret or missing RBAC will not fix itself.
  const deadline = Date.now() + (deps.startupRetryMs ?? 60_000);
  for (let wait = 500; ; wait = Math.min(wait * 2, 10_000)) {
    try {
      await manager.reconcile();
      break;
    } catch (err) {
      const status = apiStatus(err);
      const what = `Secret ${namespace}/${c.secret}: ${apiErrorMessage(err)}`;
      if (status === 404) throw new StartupError(`${what} (it is created by the chart; check --cert-secret and --namespace)`);
      if (status === 401 || status === 403) throw new StartupError(`${what} (the webhook needs get and update on this Secret)`);
      if (Date.now() + wait > deadline) throw new StartupError(`${what} (gave up after retrying)`);
      logger.warn({ err: apiErrorMessage(err), retryInMs: wait }, 'cannot set up self-managed certificates yet; retrying');
      await new Promise((r) => setTimeout(r, wait));
    }
  }
  if (!tls.current()) throw new StartupError(`Secret ${namespace}/${c.secret}: no usable serving certificate (${tls.status().lastError ?? 'see the log'})`);
  manager.start(defaults.certCheckIntervalMs);
  return manager;
}

export const webhookCommand: Command = {
  summary: 'serve the mutating and validating admission webhooks over HTTPS',
  async run(argv) {
    const parsed = parseWebhookArgs(argv);
    if (parsed.kind === 'help') {
      process.stdout.write(webhookUsage);
      return 0;
    }
    if (parsed.kind === 'error') {
      process.stderr.write(`argo-daemon-guard webhook: ${parsed.error}\nRun \`argo-daemon-guard webhook --help\` for the options.\n`);
      return 2;
    }
    const logger = createLogger(parsed.options.logLevel);
    process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled promise rejection'));

    let running: RunningWebhook;
    try {
      running = await startWebhook(parsed.options, { logger });
    } catch (err) {
      const msg = err instanceof StartupError || err instanceof PolicyError ? err.message : `failed to start: ${(err as Error).stack ?? String(err)}`;
      logger.error({ err: (err as Error).message }, 'failed to start');
      process.stderr.write(`argo-daemon-guard webhook: ${msg}\n`);
      return err instanceof StartupError || err instanceof PolicyError ? 2 : 1;
    }

    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      const on = (s: NodeJS.Signals) => {
        process.off('SIGTERM', on);
        process.off('SIGINT', on);
        resolve(s);
      };
      process.on('SIGTERM', on);
      process.on('SIGINT', on);
    });
    logger.info({ signal }, 'shutting down: not accepting new connections, finishing requests in flight');
    // A second signal while draining cuts the drain short instead of killing the process mid-answer.
    const cut = () => void running.close(0);
    process.once('SIGTERM', cut);
    process.once('SIGINT', cut);
    const { forced } = await running.close(defaults.shutdownDeadlineMs);
    logger.info({ forced }, forced ? 'shutdown deadline reached; remaining connections closed' : 'shut down');
    process.off('SIGTERM', cut);
    process.off('SIGINT', cut);
    // Should a client library keep a handle open, the process still ends.
    const code = forced ? 1 : 0;
    setTimeout(() => process.exit(code), 2_000).unref();
    return code;
  },
};
