// The floor: a bare Node TLS server that does nothing a webhook could skip. No framework, no policy,
// no logging, no metrics.
//   node bench/floor-server.ts <port> <cert.pem> <key.pem> fixed
//       reads the body, answers one fixed AdmissionReview (the handler benchmark's floor);
//   node bench/floor-server.ts <port> <cert.pem> <key.pem> echo
//       reads the body, answers "allowed" with the request's uid (the API server checks it), so it can
//       be registered as a do-nothing webhook pair (/mutate and /validate);
//   node bench/floor-server.ts <port> <cert.pem> <key.pem> replay <answers.json>
//       answers what the guard answered for the same pod and path, recorded beforehand (its patch, its
//       warnings and audit annotations), keyed by the pod's generateName and the path: the API server
//       then does all the work the guard's answers cause, with no guard behind them.
// GET /count answers how many admission requests it served. Prints "listening <port>" when ready.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';

const [portText, certFile, keyFile, mode, answersFile] = process.argv.slice(2);
if (!certFile || !keyFile || (mode !== 'fixed' && mode !== 'echo' && !(mode === 'replay' && answersFile))) {
  process.stderr.write('usage: floor-server.ts <port> <cert> <key> fixed|echo|replay <answers.json>\n');
  process.exit(2);
}
type Answer = Record<string, unknown>;
const answers = answersFile ? (JSON.parse(readFileSync(answersFile, 'utf8')) as Record<string, Record<string, Answer>>) : {};

const fixed = Buffer.from(
  JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: '705ab4f5-6393-11e8-b7cc-42010a800002', allowed: true } }),
);
let served = 0;

const server = createServer({ cert: readFileSync(certFile), key: readFileSync(keyFile), minVersion: 'TLSv1.2' }, (req, res) => {
  if (req.method === 'GET') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ count: served }));
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    served++;
    let body = fixed;
    if (mode !== 'fixed') {
      const request = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { request?: { uid?: string; object?: { metadata?: { generateName?: string } } } }).request;
      const recorded = mode === 'replay' ? answers[request?.object?.metadata?.generateName ?? '']?.[(req.url ?? '').split('?')[0]!] : undefined;
      body = Buffer.from(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { ...(recorded ?? { allowed: true }), uid: request?.uid ?? '' } }));
    }
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
    res.end(body);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(portText ?? 0), '127.0.0.1', () => process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`));
const stop = () => server.close(() => process.exit(0)) && setTimeout(() => process.exit(0), 1000).unref();
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
