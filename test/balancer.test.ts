// The harness's loopback balancer (test/cluster/balancer.ts) in front of two webhook replicas, one of
// them stopped: every connection must still reach the one that is up, however many arrive together.
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { freePort } from './cluster/ports.ts';
import { repoRoot } from './cluster/state.ts';

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanup.splice(0)) c();
});

function startBalancer(listen: number, backends: number[]): Promise<ChildProcess> {
  const child = spawn(process.execPath, [join(repoRoot, 'test', 'cluster', 'balancer.ts'), String(listen), ...backends.map(String)], { stdio: ['ignore', 'pipe', 'inherit'] });
  cleanup.push(() => child.kill('SIGKILL'));
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`balancer exited (${code})`)));
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('listening')) resolve(child);
    });
  });
}

/** Connects through the balancer; resolves to what the backend wrote, '' if the connection was dropped. */
function reply(port: number): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    const socket = connect({ host: '127.0.0.1', port });
    socket.on('data', (d: Buffer) => (text += d.toString()));
    socket.on('close', () => resolve(text));
    socket.on('error', () => resolve(''));
  });
}

test('connections arriving together all reach the backend that is up when the other refuses', async () => {
  const [listen, stopped, up] = [await freePort(), await freePort(), await freePort()];
  const backend: Server = createServer((s) => s.end('up'));
  await new Promise<void>((r) => backend.listen(up, '127.0.0.1', r));
  cleanup.push(() => backend.close());
  await startBalancer(listen, [stopped, up]);

  const replies = await Promise.all(Array.from({ length: 40 }, () => reply(listen)));
  expect(replies.filter((r) => r !== 'up')).toEqual([]);
});
