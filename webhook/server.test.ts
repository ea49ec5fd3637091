// The serving side of the webhook's connections to the API server.
import { Agent, request } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { listen, type RunningServer } from './server.ts';
import { ServingTls } from './tls/reloading.ts';
import { captureLogger, testPki } from '../test/support/webhook.ts';

const running: RunningServer[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) await r.close(1_000);
});

/** A request over `agent`; resolves to the local port of the connection it went over. */
function localPortOf(port: number, agent: Agent, ca: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', servername: 'localhost', port, path: '/', ca, agent }, (res) => {
      const localPort = res.socket.localPort;
      res.resume();
      res.on('end', () => resolve(localPort ?? 0));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('keep-alive connections', () => {
  it('keeps an idle connection open past Node’s default (5 s plus a 1 s buffer): the API server, not the webhook, decides when an idle one ends', async () => {
    const pki = await testPki();
    const { logger } = captureLogger('info');
    const tls = new ServingTls('test', logger);
    tls.apply(pki.serving, 'test');
    const server = await listen((_req, res) => res.end('ok'), tls, { port: 0, host: '127.0.0.1', logger });
    running.push(server);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await localPortOf(server.port, agent, pki.ca.certPem);
      await sleep(7_000);
      const second = await localPortOf(server.port, agent, pki.ca.certPem);
      expect(second).toBe(first);
    } finally {
      agent.destroy();
    }
  });
});
