// Free loopback ports, picked by letting the kernel choose (bind 127.0.0.1:0) and closing again.
// Ports picked in one call are distinct; a port is in use only between close and the child's bind,
// a window the harness accepts (a clash shows up as a failed start with the port in the log).
import { createServer, Socket } from 'node:net';

function onePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error('could not read the port the kernel chose'))));
    });
  });
}

/** `count` distinct free ports on 127.0.0.1. */
export async function freePorts(count: number): Promise<number[]> {
  const out = new Set<number>();
  while (out.size < count) out.add(await onePort());
  return [...out];
}

export async function freePort(): Promise<number> {
  return (await freePorts(1))[0]!;
}

/** True when something accepts TCP connections on 127.0.0.1:port. */
export function portOpen(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const s = new Socket();
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('error', () => done(false));
    s.connect(port, '127.0.0.1', () => done(true));
  });
}
