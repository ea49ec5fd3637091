// The reaper process's edges besides the API server: its config file, followed as it changes (a bad
// version is refused and the last good one kept), and its plain HTTP endpoint for probes and metrics.
import { createServer, type Server } from 'node:http';
import { defaultReaperConfig, parseReaperConfig, ReaperConfigError, type ReaperConfig } from '../core/leftover/config.ts';
import type { Logger } from '../runtime/log.ts';
import { WatchedFiles } from '../runtime/watched-file.ts';
import type { LeaderElector } from './leader.ts';
import type { ReaperMetrics } from './metrics.ts';
import type { Reconciler } from './reconcile.ts';

export interface ConfigSource {
  current(): ReaperConfig;
  close(): void;
}

export async function openConfig(path: string | undefined, log: Logger, metrics: ReaperMetrics, onChange: () => void): Promise<ConfigSource> {
  if (!path) return { current: () => defaultReaperConfig, close: () => {} };
  const watched = await WatchedFiles.open<ReaperConfig>({
    paths: [path],
    parse: ([text]) => parseReaperConfig(path, text!.toString('utf8')),
    onLoad: (e) => {
      metrics.configReloads.inc({ outcome: e.ok ? 'success' : 'failure' });
      if (e.ok) {
        log.info({ source: path, initial: e.initial, dryRun: e.value.dryRun }, 'reaper config loaded');
        if (!e.initial) onChange();
      } else {
        const problems = e.error instanceof ReaperConfigError ? e.error.problems : [e.error.message];
        log.error({ source: path, err: e.error.message, problems }, e.keptLastGood ? 'config reload failed; keeping the last good config' : 'config load failed');
      }
    },
  });
  const first = watched.current();
  if (!first) {
    watched.close();
    throw new Error(watched.status().lastError ?? `cannot load ${path}`);
  }
  return { current: () => watched.current() ?? first, close: () => watched.close() };
}

export function healthServer(port: number, reconciler: () => Reconciler | undefined, metrics: ReaperMetrics, elector: () => LeaderElector | undefined): Server {
  return createServer((req, res) => {
    const send = (code: number, body: unknown, type = 'application/json') => {
      res.writeHead(code, { 'content-type': type });
      res.end(typeof body === 'string' ? body : JSON.stringify(body));
    };
    if (req.url === '/healthz') return send(200, { ok: true });
    if (req.url === '/readyz') {
      const c = reconciler();
      const ready = c?.ready() ?? false;
      return send(ready ? 200 : 503, { ready, leader: elector()?.isLeader() ?? false, pods: c?.pods.size ?? 0, workflows: c?.workflows.size ?? 0 });
    }
    if (req.url === '/metrics') {
      metrics.registry.metrics().then(
        (text) => send(200, text, metrics.registry.contentType),
        (err: Error) => send(500, { error: err.message }),
      );
      return;
    }
    send(404, { error: `no route ${req.url}` });
  });
}
