// Connection reuse for the reaper's API calls. @kubernetes/client-node 2.0.1 builds a new undici Agent
// for every request (KubeConfig.applySecurityAuthentication → createDispatcher), so every call — each
// lease renewal, fresh read, delete, Event and list page — opened a new TLS connection and parsed the
// client certificate and key into a new SecureContext: a third of the reaper's CPU in the profile of a
// 500-pod burst (see the README's Performance section). Here one keep-alive Agent is kept per set of
// TLS credentials and handed to every request; new credentials (a rotated client certificate) get a
// new Agent. Requests, headers and auth are untouched: only the connection is reused.
//
// A reused connection can die silently (a NAT entry dropped); a request sent on it would wait for
// headers as long as undici's default allows (300 s). The shared Agent waits at most
// `headersTimeoutMs` for a response's headers, so a call on a dead connection fails and is retried like
// any failed call. Bodies keep undici's timeout between chunks (300 s): watches are bounded by the
// informer's own silence limit.
import { createHash } from 'node:crypto';
import type { AgentOptions } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { Agent, type Dispatcher } from 'undici';

export const defaultHeadersTimeoutMs = 30_000;

type Cluster = Parameters<KubeConfig['createDispatcherOptions']>[0];
interface PrivateKubeConfig {
  createDispatcher(cluster: Cluster, agentOptions: AgentOptions): Dispatcher | undefined;
}

function fingerprint(cluster: Cluster, o: AgentOptions): string {
  const h = createHash('sha256');
  h.update(JSON.stringify([cluster?.name ?? '', cluster?.server ?? '', o.rejectUnauthorized ?? null, o.servername ?? null, o.passphrase ?? null]));
  for (const part of [o.ca, o.cert, o.key, o.pfx]) {
    for (const x of Array.isArray(part) ? part : [part]) h.update(x === undefined ? '\0' : typeof x === 'string' ? x : Buffer.isBuffer(x) ? x : JSON.stringify(x)).update('\n');
  }
  return h.digest('hex');
}

/**
 * Makes every request of `kc` share one keep-alive Agent per TLS identity. Proxy and SOCKS set-ups,
 * and plain HTTP, keep client-node's own per-request dispatcher.
 */
export function reuseConnections(kc: KubeConfig, o: { headersTimeoutMs?: number } = {}): { agents: () => number; close: () => Promise<void> } {
  const target = kc as unknown as PrivateKubeConfig;
  const original = target.createDispatcher.bind(kc);
  const agents = new Map<string, Agent>();
  target.createDispatcher = (cluster, agentOptions) => {
    const options = kc.createDispatcherOptions(cluster, agentOptions);
    if (options.type !== 'agent') return original(cluster, agentOptions);
    const key = fingerprint(cluster, agentOptions);
    let agent = agents.get(key);
    if (!agent) {
      // A new identity (first use, or rotated credentials): the old Agents close once idle.
      for (const old of agents.values()) void old.close().catch(() => {});
      agents.clear();
      // HTTP/1.1 only: with HTTP/2 (undici's default) every call and both watches would share one
      // connection, and one connection going silent would silence them all (the hardening test of a
      // silent watch shows it). Each watch keeps a connection of its own; short calls share the rest.
      agent = new Agent({ connect: options.connect, allowH2: false, headersTimeout: o.headersTimeoutMs ?? defaultHeadersTimeoutMs });
      agents.set(key, agent);
    }
    return agent;
  };
  return {
    agents: () => agents.size,
    close: async () => {
      await Promise.all([...agents.values()].map((a) => a.close()));
      agents.clear();
    },
  };
}
