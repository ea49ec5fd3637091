// `argo-daemon-guard self-test`: what the chart's `helm test` pod runs (the image has no shell). From
// inside the cluster it sends the webhook an AdmissionReview through its Service, trusting only the
// CA it is given (so a wrong or expired serving certificate fails), and asks the reaper's /readyz.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { probeAnswer, probeReview } from '../core/admission/review.ts';
import { commandArgs, usageError } from '../runtime/command.ts';
import type { Command } from './main.ts';

const defaults = { timeoutSeconds: 30 };

export const selfTestUsage = `usage: argo-daemon-guard self-test [--webhook-url URL --ca-file FILE] [--reaper-url URL] [--timeout SECONDS]

Checks a running installation and prints one line per check. Each check is retried until it passes
or the timeout is reached.

  --webhook-url URL   the webhook Service, e.g. https://adg-argo-daemon-guard-webhook.NS.svc:443:
                      POST URL/validate with an AdmissionReview (a dry run of a Workflow without
                      daemons) must get a well-formed AdmissionReview with the same uid back
  --ca-file FILE      PEM CA(s) the webhook's serving certificate must chain to (the only CAs trusted)
  --reaper-url URL    the reaper's metrics Service, e.g. http://adg-argo-daemon-guard-reaper-metrics.NS.svc:8081:
                      GET URL/readyz must answer 200
  --timeout SECONDS   give up after this long (default ${defaults.timeoutSeconds})
  -h, --help          this text

Exit codes: 0 every check passed; 1 a check failed; 2 bad usage or an unreadable CA file.
`;

interface Answer {
  status: number;
  body: unknown;
}

/** One HTTP(S) request with a JSON answer; https trusts only `ca`. */
function call(url: URL, o: { method: 'GET' | 'POST'; body?: unknown; ca?: string; timeoutMs: number }): Promise<Answer> {
  const payload = o.body === undefined ? undefined : JSON.stringify(o.body);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      url,
      {
        method: o.method,
        timeout: o.timeoutMs,
        headers: payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
        ...(url.protocol === 'https:' ? { ca: o.ca } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {
            // not JSON: the text itself goes into the failure message
          }
          resolve({ status: res.statusCode ?? 0, body });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${o.timeoutMs} ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}

type Check = { name: string; run: () => Promise<{ ok: true; detail: string } | { ok: false; reason: string }> };

async function untilPasses(check: Check, deadline: number): Promise<{ ok: boolean; line: string }> {
  for (;;) {
    let reason: string;
    try {
      const r = await check.run();
      if (r.ok) return { ok: true, line: `ok    ${check.name}: ${r.detail}` };
      reason = r.reason;
    } catch (err) {
      reason = (err as Error).message;
    }
    if (Date.now() + 2000 > deadline) return { ok: false, line: `FAIL  ${check.name}: ${reason}` };
    await new Promise((r) => setTimeout(r, 2000));
  }
}

function parseUrl(flag: string, value: string, protocols: string[]): URL | string {
  try {
    const url = new URL(value);
    if (!protocols.includes(url.protocol)) return `--${flag} ${value}: expected ${protocols.map((p) => p.replace(':', '')).join(' or ')}`;
    return url;
  } catch {
    return `--${flag} ${JSON.stringify(value)} is not a URL`;
  }
}

export const selfTestCommand: Command = {
  summary: 'check a running installation from inside the cluster (the chart\'s helm test)',
  async run(argv) {
    const usage = selfTestUsage.trimEnd();
    const args = commandArgs('self-test', argv, { 'webhook-url': { type: 'string' }, 'ca-file': { type: 'string' }, 'reaper-url': { type: 'string' }, timeout: { type: 'string' } }, usage);
    if (!args.ok) return args.exitCode;
    const { values } = args;
    if (args.positionals.length) return usageError('self-test', `unexpected argument ${args.positionals[0]}`, usage);
    if (!values['webhook-url'] && !values['reaper-url']) return usageError('self-test', 'nothing to check: give --webhook-url, --reaper-url or both', usage);
    if (values['webhook-url'] && !values['ca-file']) return usageError('self-test', '--webhook-url needs --ca-file: the CA the serving certificate must chain to', usage);
    if (values.timeout !== undefined && !/^\d+$/.test(values.timeout)) return usageError('self-test', `--timeout ${JSON.stringify(values.timeout)}: expected a whole number of seconds`, usage);
    const timeoutMs = Number(values.timeout ?? defaults.timeoutSeconds) * 1000;
    const attemptMs = Math.min(timeoutMs, 5000);

    const checks: Check[] = [];
    if (values['webhook-url']) {
      const url = parseUrl('webhook-url', values['webhook-url'], ['https:']);
      if (typeof url === 'string') return usageError('self-test', url, usage);
      let ca: string;
      try {
        ca = readFileSync(values['ca-file']!, 'utf8');
      } catch (err) {
        process.stderr.write(`self-test: --ca-file ${values['ca-file']}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})\n`);
        return 2;
      }
      if (!ca.includes('-----BEGIN CERTIFICATE-----')) {
        process.stderr.write(`self-test: --ca-file ${values['ca-file']}: no PEM certificate in it\n`);
        return 2;
      }
      const endpoint = new URL(url.pathname.replace(/\/$/, '') + '/validate', url);
      checks.push({
        name: `webhook ${endpoint.href}`,
        run: async () => {
          const uid = randomUUID();
          const answer = await call(endpoint, { method: 'POST', body: probeReview(uid), ca, timeoutMs: attemptMs });
          const r = probeAnswer(uid, answer.status, answer.body);
          return r.ok ? { ok: true, detail: `answered the AdmissionReview ${uid} (allowed: ${r.allowed}) over TLS verified against ${values['ca-file']}` } : r;
        },
      });
    }
    if (values['reaper-url']) {
      const url = parseUrl('reaper-url', values['reaper-url'], ['http:', 'https:']);
      if (typeof url === 'string') return usageError('self-test', url, usage);
      const endpoint = new URL(url.pathname.replace(/\/$/, '') + '/readyz', url);
      checks.push({
        name: `reaper ${endpoint.href}`,
        run: async () => {
          const answer = await call(endpoint, { method: 'GET', timeoutMs: attemptMs });
          return answer.status === 200 ? { ok: true, detail: `ready ${JSON.stringify(answer.body)}` } : { ok: false, reason: `HTTP ${answer.status}: ${JSON.stringify(answer.body)}` };
        },
      });
    }
    const deadline = Date.now() + timeoutMs;
    const results = await Promise.all(checks.map((c) => untilPasses(c, deadline)));
    for (const r of results) (r.ok ? process.stdout : process.stderr).write(`self-test: ${r.line}\n`);
    return results.every((r) => r.ok) ? 0 : 1;
  },
};
