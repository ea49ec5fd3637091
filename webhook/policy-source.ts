// The policy in force: --policy followed as it changes (a ConfigMap volume in the chart), or the
// built-in default. A version that fails the schema is refused and the last good policy stays in
// force; the refusal shows in the log, in argo_daemon_guard_policy_* and in /readyz.
import type { Logger } from 'pino';
import { defaultPolicy, parsePolicy, PolicyError, type Policy } from '../core/policy/schema.ts';
import { WatchedFiles } from '../runtime/watched-file.ts';
import type { Metrics } from './metrics.ts';

export interface PolicyStatus {
  source: string;
  loaded: boolean;
  lastReload: 'success' | 'failure';
  /** The refused version's problems, each naming the field; absent after a successful load. */
  error?: string;
  problems?: string[];
  lastSuccessAt?: string;
  lastFailureAt?: string;
}

export interface PolicySource {
  current(): Policy | undefined;
  status(): PolicyStatus;
  close(): void;
}

export async function openPolicySource(path: string | undefined, deps: { logger: Logger; metrics: Metrics; pollMs?: number }): Promise<PolicySource> {
  const { logger, metrics } = deps;
  if (!path) {
    metrics.policyLastReloadSuccess.set(1);
    logger.info({ source: 'built-in default' }, 'policy loaded');
    return { current: () => defaultPolicy, status: () => ({ source: 'built-in default', loaded: true, lastReload: 'success' }), close: () => {} };
  }
  let problems: string[] | undefined;
  const watched = await WatchedFiles.open<Policy>({
    paths: [path],
    parse: ([text]) => parsePolicy(path, text!.toString('utf8')),
    onLoad: (e) => {
      metrics.policyReloads.inc({ outcome: e.ok ? 'success' : 'failure' });
      metrics.policyLastReloadSuccess.set(e.ok ? 1 : 0);
      if (e.ok) {
        problems = undefined;
        logger.info({ source: path, initial: e.initial }, 'policy loaded');
      } else {
        problems = e.error instanceof PolicyError ? e.error.problems : [e.error.message];
        logger.error(
          { source: path, err: e.error.message, problems },
          e.keptLastGood ? 'policy reload failed; keeping the last good policy' : 'policy load failed; no policy in force',
        );
      }
    },
    ...(deps.pollMs ? { pollMs: deps.pollMs } : {}),
  });
  return {
    current: () => watched.current(),
    status: () => {
      const s = watched.status();
      return {
        source: path,
        loaded: s.loaded,
        lastReload: s.lastLoadOk ? 'success' : 'failure',
        ...(s.lastLoadOk ? {} : { error: s.lastError ?? 'unknown error', problems: problems ?? [] }),
        ...(s.lastSuccessAt ? { lastSuccessAt: s.lastSuccessAt.toISOString() } : {}),
        ...(s.lastFailureAt ? { lastFailureAt: s.lastFailureAt.toISOString() } : {}),
      };
    },
    close: () => watched.close(),
  };
}
