/**
 * The load balancer in its own thread (local/proxy-worker.ts): the same proxy, reached over real
 * HTTP on loopback, with route tables sent by message.
 */
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startProxyWorker, type ProxyWorkerOptions } from '../../local/proxy-worker.ts';
import type { ProxyServer } from '../../local/proxy.ts';
import type { IngressRoute } from '../../ports/index.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

async function replica(body: string): Promise<number> {
  const server = http.createServer((_req, res) => res.end(body));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  cleanups.push(() => new Promise((r) => server.close(() => r())));
  return (server.address() as AddressInfo).port;
}

async function worker(port = 0, options: ProxyWorkerOptions = {}): Promise<ProxyServer> {
  const proxy = await startProxyWorker({ port, ...options });
  cleanups.push(() => proxy.close());
  return proxy;
}

function get(proxy: ProxyServer, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: proxy.port, path: '/', headers: { host }, agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const route = (host: string, port: number, service = 'web'): IngressRoute => ({
  host,
  namespace: 'default',
  service,
  sessionAffinity: false,
  targets: [{ taskId: `${service}-1-aaaaa`, ip: '127.0.0.1', port }],
});

describe('the proxy in a worker thread', () => {
  it('serves the routes it is sent, and answers 404 for a host it does not know', async () => {
    const proxy = await worker();
    expect(proxy.url).toBe(`http://127.0.0.1:${proxy.port}`);
    await proxy.sync([route('web.example.test', await replica('from web'))]);
    expect(await get(proxy, 'web.example.test')).toEqual({ status: 200, body: 'from web' });
    expect((await get(proxy, 'other.example.test')).status).toBe(404);
    expect(proxy.routes().map((r) => r.host)).toEqual(['web.example.test']);
  });

  it("refuses a bad table with the proxy's message and keeps serving the one in force", async () => {
    const proxy = await worker();
    const port = await replica('still here');
    await proxy.sync([route('web.example.test', port)]);
    await expect(proxy.sync([route('a.test', port, 'x'), route('a.test', port, 'y')])).rejects.toThrow(
      'two routes for host a.test: services default/x and default/y',
    );
    expect(proxy.routes().map((r) => r.host)).toEqual(['web.example.test']);
    expect(await get(proxy, 'web.example.test')).toEqual({ status: 200, body: 'still here' });
  });

  it('fails to start on a taken port with the error code the cluster looks for, and frees its port on close', async () => {
    const first = await startProxyWorker();
    await expect(startProxyWorker({ port: first.port })).rejects.toMatchObject({ code: 'EADDRINUSE' });
    await first.close();
    const again = await worker(first.port);
    expect(again.port).toBe(first.port);
  });

  it("takes the proxy's options and sends its log lines back to this thread", async () => {
    // A replica that accepts and never answers.
    const hung = net.createServer((socket) => socket.resume());
    await new Promise<void>((r) => hung.listen(0, '127.0.0.1', () => r()));
    cleanups.push(() => new Promise<void>((r) => void hung.close(() => r())));
    const lines: string[] = [];
    const proxy = await worker(0, { replicaTimeoutMs: 200, log: (line) => lines.push(line) });
    await proxy.sync([route('slow.example.test', (hung.address() as AddressInfo).port)]);
    const answer = await get(proxy, 'slow.example.test');
    expect(answer.status).toBe(504);
    expect(answer.body).not.toContain('127.0.0.1');
    await expect.poll(() => lines.join('\n'), { timeout: 10_000 }).toContain('web-1-aaaaa at 127.0.0.1');
  });
});
