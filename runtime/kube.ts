// Cluster credentials, the one plain HTTP client to the API server, and the helpers every caller of
// @kubernetes/client-node 2.0.1 needs. Only the shells import this module; the core never talks to the
// API server.
import { existsSync, readFileSync } from 'node:fs';
import { ApiException, KubeConfig, Observable, type ConfigurationOptions, type ObservableMiddleware } from '@kubernetes/client-node';
import { RequestContext, HttpMethod } from '@kubernetes/client-node/dist/gen/http/http.js';
import { fetch } from 'undici';

const serviceAccountDir = '/var/run/secrets/kubernetes.io/serviceaccount';

export type KubeAccess = { ok: true; kc: KubeConfig; source: string } | { ok: false; reason: string };

/**
 * --kubeconfig, else $KUBECONFIG, else the pod's service account. Unlike the client's
 * loadFromDefault, it never falls back to ~/.kube/config or localhost:8080: with none of the three,
 * there are no credentials and the caller runs without the cluster. A kubeconfig that was named but
 * cannot be read is an error (it throws), not a silent fallback.
 */
export function loadKubeConfig(opts: { kubeconfig?: string | undefined; env?: NodeJS.ProcessEnv }): KubeAccess {
  const env = opts.env ?? process.env;
  const file = opts.kubeconfig ?? (env.KUBECONFIG ? env.KUBECONFIG.split(':')[0] : undefined);
  const kc = new KubeConfig();
  if (file) {
    const origin = opts.kubeconfig ? '--kubeconfig' : '$KUBECONFIG';
    try {
      kc.loadFromFile(file);
    } catch (err) {
      throw new Error(`cannot read kubeconfig ${file} (${origin}): ${(err as Error).message}`);
    }
    if (!kc.getCurrentCluster()) throw new Error(`kubeconfig ${file} (${origin}) has no current context with a cluster`);
    return { ok: true, kc, source: `kubeconfig ${file}` };
  }
  if (env.KUBERNETES_SERVICE_HOST && env.KUBERNETES_SERVICE_PORT && existsSync(`${serviceAccountDir}/token`)) {
    kc.loadFromCluster();
    return { ok: true, kc, source: 'in-cluster service account' };
  }
  return { ok: false, reason: 'no cluster credentials (no --kubeconfig, no $KUBECONFIG, not running in a pod with a service account)' };
}

/** The pod's namespace from the service account mount, when running in a pod. */
export function inClusterNamespace(): string | undefined {
  try {
    return readFileSync(`${serviceAccountDir}/namespace`, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Per-call options that abort the request when `signal` fires (the generated client has no other way in). */
export function withSignal(signal: AbortSignal): ConfigurationOptions {
  const middleware: ObservableMiddleware = {
    pre: (ctx) => {
      ctx.setSignal(signal);
      return new Observable(Promise.resolve(ctx));
    },
    post: (ctx) => new Observable(Promise.resolve(ctx)),
  };
  return { middleware: [middleware], middlewareMergeStrategy: 'append' };
}

/** A failed kubeFetch: the request, the status, and the start of the API server's answer. */
export class KubeHttpError extends Error {
  readonly statusCode: number;
  constructor(method: string, path: string, statusCode: number, body: string) {
    super(`${method} ${path}: HTTP ${statusCode} ${body}`);
    this.statusCode = statusCode;
  }
}

/**
 * One request to the API server with the kubeconfig's credentials, answered as the raw response: the
 * callers that read big lists and watches stream its body, where the generated client would build a
 * typed model of every object. A status other than 2xx throws an error that apiStatus reads.
 */
export async function kubeFetch(kc: KubeConfig, path: string, query: Record<string, string>, signal?: AbortSignal, o: { method?: 'GET' | 'DELETE'; body?: unknown } = {}) {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const url = new URL(cluster.server + path);
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
  const method = o.method ?? 'GET';
  const ctx = new RequestContext(url.toString(), method === 'GET' ? HttpMethod.GET : HttpMethod.DELETE);
  await kc.applySecurityAuthentication(ctx);
  const headers: Record<string, string> = { ...ctx.getHeaders(), accept: 'application/json' };
  if (o.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(url, {
    method,
    headers,
    dispatcher: ctx.getDispatcher() as never,
    signal: signal ?? null,
    ...(o.body !== undefined ? { body: JSON.stringify(o.body) } : {}),
  });
  if (!res.ok) {
    throw new KubeHttpError(method, path, res.status, (await res.text()).slice(0, 200));
  }
  return res;
}

/** A call that is not a list or a watch: its JSON answer, or undefined for a 404. */
export async function kubeCall(kc: KubeConfig, method: 'GET' | 'DELETE', path: string, body?: unknown): Promise<unknown | undefined> {
  try {
    return JSON.parse(await (await kubeFetch(kc, path, {}, undefined, { method, body })).text());
  } catch (err) {
    if (apiStatus(err) === 404) return undefined;
    throw err;
  }
}

/** The HTTP status of a failed API call (generated client or kubeFetch), if it got that far. */
export function apiStatus(err: unknown): number | undefined {
  if (err instanceof ApiException) return err.code;
  return err instanceof KubeHttpError ? err.statusCode : undefined;
}

/** A short description of a failed API call for logs: status and the API server's message. */
export function apiErrorMessage(err: unknown): string {
  if (err instanceof ApiException) {
    // The body is the API server's Status, as text or already parsed.
    let body: unknown = err.body;
    if (typeof body === 'string') {
      try {
        body = JSON.parse(body);
      } catch {
        // plain text: shown as is
      }
    }
    const message = typeof body === 'object' && body !== null && typeof (body as { message?: unknown }).message === 'string' ? (body as { message: string }).message : typeof body === 'string' ? body.slice(0, 300) : '';
    return `HTTP ${err.code}${message ? `: ${message}` : ''}`;
  }
  if (err instanceof Error) return err.name === 'AbortError' || err.name === 'TimeoutError' ? 'timed out' : err.message;
  return String(err);
}
