// The HTTP side of the webhooks: AdmissionReview in, core decision, AdmissionReview out, plus the
// health, readiness and metrics endpoints. Every answer is JSON. The contract with the API server:
// a request whose uid can be read always gets a well-formed AdmissionReview (admitted with a warning
// when it cannot be checked); anything else gets 400 with {"error": "..."}; nothing here throws.
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { admit, malformedReview, offloadedTemplateConfigMap, readReview, reviewOf, type AdmissionRecord, type AdmissionReview, type Endpoint } from '../core/admission/review.ts';
import type { OffloadedTemplate } from '../core/admission/daemon.ts';
import type { Policy } from '../core/policy/schema.ts';
import { kindLabel, type Metrics } from './metrics.ts';
import { defaultOffloadedTimeoutMs, readOffloadedTemplate, type ConfigMapReader } from './offloaded.ts';

/** Above the API server's own request limit (3 MiB by default), so it never is the one refusing. */
export const defaultBodyLimitBytes = 8 * 1024 * 1024;

export interface AdmissionDeps {
  logger: Logger;
  metrics: Metrics;
  /** The policy in force; undefined only if none ever loaded. */
  policy: () => Policy | undefined;
  /** undefined without cluster credentials: offloaded templates then cannot be read. */
  configMaps: ConfigMapReader | undefined;
  offloadedTimeoutMs?: number;
}

export interface AppDeps extends AdmissionDeps {
  readiness: () => { ready: boolean; detail: Record<string, unknown> };
  bodyLimitBytes?: number;
}

export type Reply = { status: 200; body: AdmissionReview } | { status: 400; body: { error: string } };

const actedOn = new Set<AdmissionRecord['decision']>(['labeled', 'warn', 'deny', 'unknown']);

/** A uid read without the core, for the one case where the core itself failed. */
function uidOf(body: unknown): string | undefined {
  try {
    const uid = (body as { request?: { uid?: unknown } } | null)?.request?.uid;
    return typeof uid === 'string' && uid !== '' ? uid : undefined;
  } catch {
    return undefined;
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The whole admission path for one body, without HTTP: what the routes and the property test call. */
export function createAdmissionHandler(deps: AdmissionDeps): (endpoint: Endpoint, raw: Buffer) => Promise<Reply> {
  const { logger, metrics } = deps;

  const badRequest = (endpoint: Endpoint, error: string): Reply => {
    metrics.admissionErrors.inc({ endpoint, stage: 'body' });
    logger.warn({ endpoint, reason: error }, 'admission request refused: no uid to answer');
    return { status: 400, body: { error } };
  };

  const report = (rec: AdmissionRecord, uid: string, seconds: number) => {
    const fields = {
      endpoint: rec.endpoint,
      uid,
      kind: rec.kind,
      namespace: rec.namespace,
      // `name` is the logger's own field (argo-daemon-guard), so the object's name goes here.
      objectName: rec.name,
      decision: rec.decision,
      reason: rec.reason,
      findings: rec.findings.map((f) => ({ template: f.template, rule: f.rule, mode: f.mode })),
      dryRun: rec.dryRun,
      latencyMs: Math.round(seconds * 1e6) / 1e3,
    };
    // A dry run changes nothing and is counted nowhere; the debug line is for whoever is debugging it.
    if (rec.dryRun) return logger.debug(fields, 'admission (dry run)');
    metrics.admissions.inc({ endpoint: rec.endpoint, kind: kindLabel(rec.kind), decision: rec.decision });
    metrics.admissionDuration.observe({ endpoint: rec.endpoint }, seconds);
    for (const f of rec.findings) metrics.policyFindings.inc({ rule: f.rule, mode: f.mode });
    if (actedOn.has(rec.decision) || rec.findings.length > 0) logger.info(fields, 'admission');
    else logger.debug(fields, 'admission');
  };

  return async (endpoint, raw) => {
    const started = performance.now();
    let body: unknown;
    let uid: string | undefined;
    try {
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch (err) {
        return badRequest(endpoint, raw.length === 0 ? 'empty body: expected an AdmissionReview' : `body is not JSON: ${message(err)}`);
      }
      const read = readReview(body);
      if (!read.ok) {
        if (!read.uid) return badRequest(endpoint, read.reason);
        metrics.admissionErrors.inc({ endpoint, stage: 'review' });
        logger.warn({ endpoint, uid: read.uid, decision: 'unknown', reason: read.reason }, 'malformed admission request admitted unchecked');
        return { status: 200, body: malformedReview(read.uid, read.reason) };
      }
      const req = read.request;
      uid = req.uid;
      const policy = deps.policy();
      if (!policy) {
        metrics.admissionErrors.inc({ endpoint, stage: 'handler' });
        logger.error({ endpoint, uid, decision: 'unknown', reason: 'no policy loaded' }, 'admission request admitted unchecked');
        return { status: 200, body: malformedReview(uid, 'no policy loaded') };
      }
      let offloaded: OffloadedTemplate | undefined;
      const configMap = offloadedTemplateConfigMap(req);
      if (configMap) {
        const read = await readOffloadedTemplate(deps.configMaps, req.namespace, configMap, deps.offloadedTimeoutMs ?? defaultOffloadedTimeoutMs);
        metrics.offloadedReads.inc({ outcome: read.outcome });
        offloaded = read.template;
      }
      const { response, record } = admit(endpoint, req, policy, offloaded);
      report(record, uid, (performance.now() - started) / 1000);
      return { status: 200, body: reviewOf(response) };
    } catch (err) {
      uid ??= uidOf(body);
      metrics.admissionErrors.inc({ endpoint, stage: 'handler' });
      logger.error({ endpoint, uid, err }, uid ? 'admission failed; admitting unchecked' : 'admission failed before a uid was read');
      if (!uid) return { status: 400, body: { error: `request could not be handled: ${message(err)}` } };
      return { status: 200, body: malformedReview(uid, `internal error: ${message(err)}`) };
    }
  };
}

type Body = { ok: true; body: Buffer } | { ok: false; error: string };

/** Reads at most `limit` bytes; past that, the rest is discarded (up to a cap) so the client still reads our 400. */
function readBody(req: IncomingMessage, limit: number): Promise<Body> {
  const encoding = req.headers['content-encoding'];
  if (encoding && encoding !== 'identity') return Promise.resolve(discard(req, limit, { ok: false, error: `content-encoding ${encoding} is not supported` }));
  const declared = Number(req.headers['content-length']);
  if (declared > limit) return Promise.resolve(discard(req, limit, { ok: false, error: `body of ${declared} bytes is over the ${limit}-byte limit` }));
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) return void chunks.push(chunk);
      req.off('data', onData);
      chunks.length = 0;
      resolve(discard(req, limit, { ok: false, error: `body is over the ${limit}-byte limit` }));
    };
    req.on('data', onData);
    req.on('end', () => resolve({ ok: true, body: Buffer.concat(chunks) }));
    req.on('error', (err) => resolve({ ok: false, error: `body could not be read: ${err.message}` }));
    req.on('close', () => resolve({ ok: false, error: 'client closed the connection before the body ended' }));
  });
}

function discard(req: IncomingMessage, limit: number, result: Body): Body {
  let drained = 0;
  req.on('data', (chunk: Buffer) => {
    drained += chunk.length;
    if (drained > 2 * limit) req.socket.destroy();
  });
  req.on('error', () => {});
  req.resume();
  return result;
}

/** Exactly what Express's res.status(code).json(body) sends (no ETag, no X-Powered-By: both are off). */
function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}

/**
 * The request listener: POST /mutate and /validate (the API server's calls, with or without its
 * ?timeout= query) go straight to the admission handler and sendJson; everything else goes through
 * Express. The two admission routes are also registered in Express (answering with res.json), so any
 * other spelling Express accepts (a trailing slash, another case) is answered the same way, and a
 * test holds the two paths to the same bytes. Skipping Express on the hot path saves about a third of
 * the webhook's CPU per admission (see the README's Performance section).
 */
export function createApp(deps: AppDeps): RequestListener {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  const handle = createAdmissionHandler(deps);
  const limit = deps.bodyLimitBytes ?? defaultBodyLimitBytes;

  const admission = async (endpoint: Endpoint, req: IncomingMessage, send: (status: number, body: unknown) => void): Promise<void> => {
    const body = await readBody(req, limit);
    if (!body.ok) {
      deps.metrics.admissionErrors.inc({ endpoint, stage: 'body' });
      deps.logger.warn({ endpoint, reason: body.error }, 'admission request refused: body unreadable');
      send(400, { error: body.error });
      return;
    }
    const reply = await handle(endpoint, body.body);
    send(reply.status, reply.body);
  };
  /** As Express's final error handler below answers a failure (nothing above throws). */
  const failed = (res: ServerResponse, err: unknown) => {
    deps.logger.error({ err }, 'request failed');
    if (res.headersSent) return void res.destroy();
    sendJson(res, 500, { error: message(err) });
  };

  for (const endpoint of ['mutate', 'validate'] as const) {
    app.post(`/${endpoint}`, async (req: Request, res: Response) => {
      await admission(endpoint, req, (status, body) => res.status(status).json(body));
    });
  }

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.get('/readyz', (_req, res) => {
    const r = deps.readiness();
    res.status(r.ready ? 200 : 503).json({ ready: r.ready, ...r.detail });
  });

  app.get('/metrics', async (_req, res) => {
    res.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });

  app.use((req: Request, res: Response) => {
    res.status(404).json({ error: `no route for ${req.method} ${req.path}; the webhook serves POST /mutate, POST /validate, GET /healthz, /readyz, /metrics` });
  });

  // Express's own error page is HTML; nothing should reach here, but if it does the answer is JSON.
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    deps.logger.error({ err }, 'request failed');
    if (res.headersSent) return void res.destroy();
    res.status(500).json({ error: message(err) });
  });

  return (req, res) => {
    if (req.method === 'POST') {
      const url = req.url ?? '';
      const q = url.indexOf('?');
      const path = q < 0 ? url : url.slice(0, q);
      if (path === '/mutate' || path === '/validate') {
        admission(path === '/mutate' ? 'mutate' : 'validate', req, (status, body) => sendJson(res, status, body)).catch((err: unknown) => failed(res, err));
        return;
      }
    }
    app(req, res);
  };
}
