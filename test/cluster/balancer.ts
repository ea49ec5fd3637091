// A loopback TCP balancer for webhook replicas (there is no kube-proxy, so no Service can front them):
// each new connection goes to the next backend, round robin; a backend that refuses the connection is
// skipped, so a stopped replica only loses the connections it held. TLS passes through untouched (the
// replicas share one serving certificate). The same forwarder, listening on the host's end of the real
// node's link, is how pods and the kubelet reach the API server and the image registry, which listen on
// loopback only.
//   node test/cluster/balancer.ts [--listen HOST] <listenPort> <backendPort>...
import { createServer, connect, type Socket } from 'node:net';

const argv = process.argv.slice(2);
const listenHost = argv[0] === '--listen' ? argv[1]! : '127.0.0.1';
const [listenText, ...backendTexts] = argv[0] === '--listen' ? argv.slice(2) : argv;
const listenPort = Number(listenText);
const backends = backendTexts.map(Number);
if (!Number.isInteger(listenPort) || backends.length === 0 || backends.some((p) => !Number.isInteger(p))) {
  process.stderr.write('usage: balancer.ts [--listen HOST] <listenPort> <backendPort>...\n');
  process.exit(2);
}

let next = 0;
const log = (msg: string) => process.stdout.write(`${new Date().toISOString()} ${msg}\n`);

/**
 * Each connection tries every backend once, from its own round-robin slot: with a shared counter, two
 * connections arriving together could each be sent back to the stopped replica and given up on.
 */
function route(client: Socket, first: number, tried = 0): void {
  if (tried >= backends.length) {
    log('no backend accepted the connection');
    client.destroy();
    return;
  }
  const port = backends[(first + tried) % backends.length]!;
  const upstream = connect({ host: '127.0.0.1', port });
  const refused = (err: Error) => {
    log(`backend ${port} refused (${err.message}); trying the next`);
    upstream.destroy();
    route(client, first, tried + 1);
  };
  upstream.once('error', refused);
  upstream.once('connect', () => {
    upstream.off('error', refused);
    log(`connection -> ${port}`);
    upstream.on('error', () => client.destroy());
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
    client.pipe(upstream).pipe(client);
    client.resume();
  });
}

const server = createServer({ pauseOnConnect: true }, (client) => {
  client.on('error', () => client.destroy());
  route(client, next++);
});
server.listen(listenPort, listenHost, () => log(`listening on ${listenHost}:${listenPort}, backends ${backends.join(', ')}`));
// Established connections end with the process: a stopped balancer leaves nothing half-open.
const shutdown = () => {
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1_000).unref();
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
