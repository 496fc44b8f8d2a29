/**
 * The local load balancer drains a replica that leaves its routes: requests in flight to it finish,
 * new ones go elsewhere, and its keep-alive connections are closed instead of reused.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startProxy } from '../../local/proxy.ts';
import type { IngressRoute } from '../../ports/index.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

interface Upstream {
  readonly port: number;
  /** Connections from the proxy open right now. */
  readonly open: Set<Socket>;
  /** Every connection it ever accepted. */
  accepted: number;
}

/** A replica answering its name; `/slow` answers after `slowMs`. */
async function upstream(name: string, slowMs = 0): Promise<Upstream> {
  const open = new Set<Socket>();
  const state = { accepted: 0 };
  const server = http.createServer((req, res) => {
    const answer = () => res.end(name);
    if (req.url === '/slow') setTimeout(answer, slowMs);
    else answer();
  });
  // Node closes an idle connection after 5 s by default: far longer here, so only the proxy closes it.
  server.keepAliveTimeout = 120_000;
  server.on('connection', (socket) => {
    state.accepted++;
    open.add(socket);
    socket.on('close', () => open.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    open,
    get accepted() {
      return state.accepted;
    },
    set accepted(v: number) {
      state.accepted = v;
    },
  };
}

function route(...ups: { name: string; port: number }[]): IngressRoute {
  return {
    host: 'shop.example.com',
    namespace: 'default',
    service: 'shop',
    sessionAffinity: false,
    targets: ups.map((u) => ({ taskId: u.name, ip: '127.0.0.1', port: u.port })),
  };
}

/** GET through the proxy on a fresh client connection; resolves with status and body. */
function get(proxyPort: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: proxyPort, path, headers: { host: 'shop.example.com' }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function until(what: string, check: () => boolean, deadlineMs = 10_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('the local load balancer draining a replica that left its routes', () => {
  it('closes its idle keep-alive connections at once and sends new requests to the others', async () => {
    const a = await upstream('a');
    const b = await upstream('b');
    // An idle timeout far above the deadlines below: only the drain can close the connection in time.
    const proxy = await startProxy({ idleSocketMs: 120_000, log: () => {} });
    cleanups.push(() => proxy.close());
    await proxy.sync([route({ name: 'a', port: a.port })]);
    expect(await get(proxy.port, '/')).toEqual({ status: 200, body: 'a' });
    // The proxy keeps its connection to a for the next request.
    await until('a holds one pooled connection', () => a.open.size === 1);

    await proxy.sync([route({ name: 'b', port: b.port })]);
    await until('the pooled connection to a is closed', () => a.open.size === 0);
    for (let i = 0; i < 5; i++) expect(await get(proxy.port, '/')).toEqual({ status: 200, body: 'b' });
    expect(a.accepted).toBe(1);
  });

  it('lets a request in flight to a leaving replica finish, then closes that connection instead of pooling it', async () => {
    const a = await upstream('a', 400);
    const b = await upstream('b');
    const proxy = await startProxy({ idleSocketMs: 120_000, log: () => {} });
    cleanups.push(() => proxy.close());
    await proxy.sync([route({ name: 'a', port: a.port })]);

    const inFlight = get(proxy.port, '/slow');
    await until('the slow request reached a', () => a.open.size === 1);
    await proxy.sync([route({ name: 'b', port: b.port })]);
    // Still open: the request in flight is not cut.
    expect(a.open.size).toBe(1);
    expect(await get(proxy.port, '/')).toEqual({ status: 200, body: 'b' });

    expect(await inFlight).toEqual({ status: 200, body: 'a' });
    await until('the connection to a is closed after its response', () => a.open.size === 0);
    expect(a.accepted).toBe(1);
  });

  it('keeps pooling connections to replicas that stay', async () => {
    const b = await upstream('b');
    const proxy = await startProxy({ idleSocketMs: 120_000, log: () => {} });
    cleanups.push(() => proxy.close());
    await proxy.sync([route({ name: 'b', port: b.port })]);
    for (let i = 0; i < 5; i++) expect(await get(proxy.port, '/')).toEqual({ status: 200, body: 'b' });
    await proxy.sync([route({ name: 'b', port: b.port })]);
    expect(await get(proxy.port, '/')).toEqual({ status: 200, body: 'b' });
    expect(b.accepted).toBe(1);
  });
});
