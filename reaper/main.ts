// `argo-daemon-guard reaper`: config (followed as it changes), caches, the Lease, the health and
// metrics endpoint; acts only while it holds the Lease, and hands it over on SIGTERM.
import { hostname } from 'node:os';
import { commandArgs, usageError, type Command } from '../runtime/command.ts';
import { guard } from '../core/keys.ts';
import { createLogger, logLevels, type LogLevel } from '../runtime/log.ts';
import { apiErrorMessage, inClusterNamespace, loadKubeConfig } from '../runtime/kube.ts';
import { globalDryRun } from '../core/leftover/act.ts';
import { openReaperCaches } from './cache.ts';
import { apiReaperCluster } from './cluster.ts';
import { reuseConnections } from './keepalive.ts';
import { Reconciler } from './reconcile.ts';
import { LeaderElector, apiLeaseStore, defaultElection } from './leader.ts';
import { createReaperMetrics } from './metrics.ts';
import { healthServer, openConfig, type ConfigSource } from './serve.ts';
import { CircuitBreaker, RateLimit } from './valves.ts';

export const reaperUsage = `usage: argo-daemon-guard reaper [--dry-run] [--config FILE] [--kubeconfig FILE] [options]

Watches daemon pods and their Workflows and deletes daemons whose scope is over, after the pod's
grace period plus the configured margin; verifies they are gone; logs, records Events and counts.
Only the replica holding the Lease acts.

  --dry-run               never delete: record what would be reaped (also: dryRun in the config)
  --config FILE           the reaper config (YAML); followed as it changes, a bad version is refused
  --kubeconfig FILE       cluster credentials (default: $KUBECONFIG, else the pod's service account)
  --port N                plain HTTP for /healthz, /readyz, /metrics (default 8081)
  --lease-namespace NS    where the Lease lives (default: the pod's namespace, else "default")
  --lease-name NAME       (default ${guard.name}-reaper)
  --identity ID           this replica's name in the Lease (default: $POD_NAME, else the host name)
  --log-level LEVEL       ${logLevels.join(', ')} (default info)

Exit codes: 0 stopped cleanly; 2 bad usage, unreadable config or no cluster credentials.`;

export const reaperCommand: Command = {
  summary: 'delete leftover daemon pods whose scope is over',
  async run(argv) {
    const args = commandArgs(
      'reaper',
      argv,
      {
        'dry-run': { type: 'boolean' },
        config: { type: 'string' },
        kubeconfig: { type: 'string' },
        port: { type: 'string' },
        'lease-namespace': { type: 'string' },
        'lease-name': { type: 'string' },
        identity: { type: 'string' },
        'log-level': { type: 'string' },
      },
      reaperUsage,
    );
    if (!args.ok) return args.exitCode;
    const { values } = args;
    if (args.positionals.length) return usageError('reaper', `unexpected argument ${args.positionals[0]}`, reaperUsage);
    const level = (values['log-level'] ?? 'info') as LogLevel;
    if (!logLevels.includes(level)) {
      process.stderr.write(`reaper: --log-level must be one of ${logLevels.join(', ')}\n`);
      return 2;
    }
    const port = Number(values.port ?? 8081);
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      process.stderr.write(`reaper: --port ${values.port} is not a port number\n`);
      return 2;
    }
    const log = createLogger(level);
    const metrics = createReaperMetrics();
    let access;
    try {
      access = loadKubeConfig({ kubeconfig: values.kubeconfig });
    } catch (err) {
      process.stderr.write(`reaper: ${(err as Error).message}\n`);
      return 2;
    }
    if (!access.ok) {
      process.stderr.write(`reaper: ${access.reason}; the reaper needs the cluster\n`);
      return 2;
    }
    const kc = access.kc;
    // One keep-alive connection pool for every call instead of a TLS handshake per call (keepalive.ts).
    reuseConnections(kc);
    let reconciler: Reconciler | undefined;
    const breaker = { current: new CircuitBreaker(1, 1) };
    const dryRunFlag = values['dry-run'] ?? false;
    let config: ConfigSource;
    try {
      config = await openConfig(values.config, log, metrics, () => {
        // A new config closes the circuit breaker: the dry-run it forced ends unless the config asks for one.
        const c = config.current();
        breaker.current = new CircuitBreaker(c.circuitBreaker.maxReaps, c.circuitBreaker.windowSeconds * 1000);
        rate.current = new RateLimit(c.rateLimit.perMinute);
        metrics.circuitOpen.set(0);
        metrics.dryRun.set(globalDryRun(c, { dryRunFlag, circuitOpen: false }) ? 1 : 0);
        reconciler?.configChanged();
      });
    } catch (err) {
      process.stderr.write(`reaper: ${(err as Error).message}\n`);
      return 2;
    }
    const initial = config.current();
    breaker.current = new CircuitBreaker(initial.circuitBreaker.maxReaps, initial.circuitBreaker.windowSeconds * 1000);
    const rate = { current: new RateLimit(initial.rateLimit.perMinute) };
    const identity = values.identity ?? process.env.POD_NAME ?? hostname();
    const leaseNamespace = values['lease-namespace'] ?? process.env.POD_NAMESPACE ?? inClusterNamespace() ?? 'default';
    const leaseName = values['lease-name'] ?? `${guard.name}-reaper`;
    const cluster = apiReaperCluster(kc, identity);
    let elector: LeaderElector | undefined;

    metrics.dryRun.set(globalDryRun(initial, { dryRunFlag, circuitOpen: false }) ? 1 : 0);
    reconciler = new Reconciler({
      caches: (events) => openReaperCaches({ kc, log, config: initial, onRestart: (informer, cause) => metrics.watchRestarts.inc({ informer, cause }) }, events),
      log,
      metrics,
      config: () => config.current(),
      reap: {
        cluster,
        dryRunFlag,
        // Valves are read through getters so a config change swaps them without restarting the loop.
        get rate() {
          return rate.current;
        },
        get breaker() {
          return breaker.current;
        },
        now: Date.now,
        sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
        onBreakerTripped: (detail) => {
          metrics.circuitOpen.set(1);
          metrics.dryRun.set(1);
          log.error({ event: 'circuit-open', detail }, 'circuit breaker open: reaper switched to dry-run');
          const uid = elector?.leaseUid();
          if (uid) {
            void cluster
              .event({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace: leaseNamespace, name: leaseName, uid }, 'Warning', guard.eventReason.circuitOpen, detail)
              .catch((err: unknown) => log.warn({ err: apiErrorMessage(err) }, 'circuit-open event not recorded'));
          }
        },
      },
    });

    const server = healthServer(port, () => reconciler, metrics, () => elector);
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, resolve));
    log.info({ port: (server.address() as { port: number }).port, dryRun: dryRunFlag || initial.dryRun, identity }, 'reaper health endpoint listening');

    await reconciler.start();
    if (!reconciler.ready()) log.error('first list failed; retrying in the background, deciding nothing until the caches are in');

    elector = new LeaderElector(
      {
        namespace: leaseNamespace,
        name: leaseName,
        identity,
        ...defaultElection,
        onStartedLeading: () => reconciler!.setLeading(true),
        onStoppedLeading: () => reconciler!.setLeading(false),
      },
      apiLeaseStore(kc),
      log,
    );
    elector.start();

    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGTERM', () => resolve('SIGTERM'));
      process.once('SIGINT', () => resolve('SIGINT'));
    });
    log.info({ signal }, 'shutting down: handing over the lease');
    reconciler.setLeading(false);
    await elector.release();
    reconciler.stop();
    config.close();
    await new Promise<void>((r) => server.close(() => r()));
    log.info('reaper stopped');
    return 0;
  },
};
