/**
 * The local load balancer with real HTTP: small servers on 127.0.0.1 stand in for replicas, each
 * answering with its own name and what it received.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { AFFINITY_COOKIE, hostName, startProxy, type Proxy, type ProxyOptions } from '../../local/proxy.ts';
import type { IngressRoute } from '../../ports/index.ts';

interface Replica {
  readonly name: string;
  readonly port: number;
  readonly target: IngressRoute['targets'][number];
  /** Requests it has answered. */
  hits: number;
  close(): Promise<void>;
}

interface Echo {
  name: string;
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  const pending = cleanups.splice(0).reverse();
  for (const cleanup of pending) await cleanup().catch(() => {});
});

function listen(server: http.Server, port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

function closeServer(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** A replica answering every request with an Echo; `handler` replaces that. */
async function replica(name: string, options: { port?: number; handler?: http.RequestListener } = {}): Promise<Replica> {
  const server = http.createServer(
    options.handler ??
      ((req, res) => {
        let body = '';
        req.setEncoding('utf8');
        req.on('data', (chunk: string) => (body += chunk));
        req.on('end', () => {
          r.hits++;
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify({ name, method: req.method ?? '', url: req.url ?? '', headers: req.headers, body } satisfies Echo));
        });
      }),
  );
  const port = await listen(server, options.port);
  let closed = false;
  const r: Replica = {
    name,
    port,
    target: { taskId: name, ip: '127.0.0.1', port },
    hits: 0,
    close: async () => {
      if (closed) return;
      closed = true;
      await closeServer(server);
    },
  };
  cleanups.push(r.close);
  return r;
}

async function proxy(options: ProxyOptions = {}): Promise<Proxy> {
  const p = await startProxy(options);
  cleanups.push(() => p.close());
  return p;
}

function route(host: string, targets: readonly Replica[], sessionAffinity = false, service = 'web'): IngressRoute {
  return { host, namespace: 'default', service, sessionAffinity, targets: targets.map((r) => r.target) };
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request through the proxy, on a fresh connection. */
function send(p: Proxy, o: { host: string; path?: string; method?: string; headers?: Record<string, string>; body?: string }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: p.port, path: o.path ?? '/', method: o.method ?? 'GET', headers: { host: o.host, ...o.headers }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

const echo = (a: Answer): Echo => JSON.parse(a.body) as Echo;

/** `name=value` of the affinity cookie the proxy set, if any. */
function affinityCookie(a: Answer): string | undefined {
  return (a.headers['set-cookie'] ?? []).find((c) => c.startsWith(`${AFFINITY_COOKIE}=`))?.split(';')[0];
}

/** A port with nothing listening: a server is started on it and closed. */
async function deadPort(): Promise<number> {
  const server = http.createServer();
  const port = await listen(server);
  await closeServer(server);
  return port;
}

describe('the local proxy', () => {
  it('spreads requests round robin over every replica: 30 requests, 10 each', async () => {
    const replicas = await Promise.all(['web-0', 'web-1', 'web-2'].map((n) => replica(n)));
    const p = await proxy();
    await p.sync([route('shop.example.com', replicas)]);
    const names: string[] = [];
    for (let i = 0; i < 30; i++) {
      const a = await send(p, { host: 'shop.example.com' });
      expect(a.status).toBe(200);
      names.push(echo(a).name);
    }
    expect(replicas.map((r) => r.hits)).toEqual([10, 10, 10]);
    expect(names.slice(0, 6)).toEqual(['web-0', 'web-1', 'web-2', 'web-0', 'web-1', 'web-2']);
  });

  it('routes by the Host header, without its port and regardless of case', async () => {
    const [a, b] = await Promise.all([replica('a-0'), replica('b-0')]);
    const p = await proxy();
    await p.sync([route('a.example.com', [a], false, 'a'), route('b.example.com', [b], false, 'b')]);
    expect(echo(await send(p, { host: 'A.Example.COM:8080' })).name).toBe('a-0');
    expect(echo(await send(p, { host: 'b.example.com.' })).name).toBe('b-0');
    expect(echo(await send(p, { host: 'b.example.com', path: '/cart?id=3' })).url).toBe('/cart?id=3');
  });

  it('keeps a client with the affinity cookie on one replica while that replica is a target', async () => {
    const replicas = await Promise.all(['web-0', 'web-1', 'web-2'].map((n) => replica(n)));
    const p = await proxy();
    await p.sync([route('shop.example.com', replicas, true)]);

    const first = await send(p, { host: 'shop.example.com' });
    const pinnedTo = echo(first).name;
    expect(affinityCookie(first)).toBe(`${AFFINITY_COOKIE}=${pinnedTo}`);
    for (let i = 0; i < 10; i++) {
      const a = await send(p, { host: 'shop.example.com', headers: { cookie: `theme=dark; ${AFFINITY_COOKIE}=${pinnedTo}` } });
      expect(echo(a).name).toBe(pinnedTo);
      expect(affinityCookie(a)).toBeUndefined();
    }

    // Its replica leaves the target set: the client moves, and is pinned to where it went.
    await p.sync([route('shop.example.com', replicas.filter((r) => r.name !== pinnedTo), true)]);
    const moved = await send(p, { host: 'shop.example.com', headers: { cookie: `${AFFINITY_COOKIE}=${pinnedTo}` } });
    expect(echo(moved).name).not.toBe(pinnedTo);
    expect(affinityCookie(moved)).toBe(`${AFFINITY_COOKIE}=${echo(moved).name}`);
  });

  it('sets no cookie and ignores one when the route has no session affinity', async () => {
    const replicas = await Promise.all(['web-0', 'web-1'].map((n) => replica(n)));
    const p = await proxy();
    await p.sync([route('shop.example.com', replicas)]);
    const names = [];
    for (let i = 0; i < 4; i++) {
      const a = await send(p, { host: 'shop.example.com', headers: { cookie: `${AFFINITY_COOKIE}=web-0` } });
      expect(affinityCookie(a)).toBeUndefined();
      names.push(echo(a).name);
    }
    expect(names).toEqual(['web-0', 'web-1', 'web-0', 'web-1']);
  });

  it('sends nothing more to a replica once sync removes it', async () => {
    const replicas = await Promise.all(['web-0', 'web-1', 'web-2'].map((n) => replica(n)));
    const p = await proxy();
    await p.sync([route('shop.example.com', replicas)]);
    for (let i = 0; i < 3; i++) await send(p, { host: 'shop.example.com' });
    expect(replicas[1].hits).toBe(1);

    await p.sync([route('shop.example.com', [replicas[0], replicas[2]])]);
    for (let i = 0; i < 20; i++) expect((await send(p, { host: 'shop.example.com' })).status).toBe(200);
    expect(replicas.map((r) => r.hits)).toEqual([11, 1, 11]);
  });

  it('loses no GET when a replica is shut down while requests stream through', async () => {
    const replicas = await Promise.all(['web-0', 'web-1', 'web-2'].map((n) => replica(n)));
    const p = await proxy();
    await p.sync([route('shop.example.com', replicas)]);
    const statuses: number[] = [];
    let closing: Promise<void> | undefined;
    // Three clients in parallel; the proxy keeps connections to replicas alive between requests,
    // so closing web-1 cuts connections that are idle, in use and about to be reused.
    const client = async (): Promise<void> => {
      for (let i = 0; i < 20; i++) {
        statuses.push((await send(p, { host: 'shop.example.com' })).status);
        if (statuses.length === 15) closing = replicas[1].close();
      }
    };
    await Promise.all([client(), client(), client()]);
    await closing;
    expect(statuses).toHaveLength(60);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    expect(replicas[0].hits + replicas[1].hits + replicas[2].hits).toBe(60);
  });

  it('retries a GET on another replica when one resets the connection before answering', async () => {
    const crashing = await replica('web-0', { handler: (req) => req.socket.destroy() });
    const healthy = await replica('web-1');
    const p = await proxy();
    await p.sync([route('shop.example.com', [crashing, healthy])]);
    for (let i = 0; i < 4; i++) {
      const a = await send(p, { host: 'shop.example.com' });
      expect(a.status).toBe(200);
      expect(echo(a).name).toBe('web-1');
    }
    expect(healthy.hits).toBe(4);
  });

  it('does not retry a POST that reached a replica, and says why', async () => {
    const crashing = await replica('web-0', { handler: (req) => req.socket.destroy() });
    const healthy = await replica('web-1');
    const p = await proxy();
    await p.sync([route('shop.example.com', [crashing, healthy])]);
    const a = await send(p, { host: 'shop.example.com', method: 'POST', body: 'order=1' });
    expect(a.status).toBe(502);
    expect(JSON.parse(a.body)).toMatchObject({ error: 'BadGateway' });
    expect(JSON.parse(a.body).message).toContain('replica web-0 of service default/web failed before answering');
    expect(healthy.hits).toBe(0);
  });

  it('sends a request whose connection was refused to another replica with its body whole, whatever the method', async () => {
    const dead = { taskId: 'web-0', ip: '127.0.0.1', port: await deadPort() };
    const healthy = await replica('web-1');
    const p = await proxy();
    await p.sync([{ host: 'shop.example.com', namespace: 'default', service: 'web', sessionAffinity: false, targets: [dead, healthy.target] }]);
    const a = await send(p, { host: 'shop.example.com', method: 'POST', body: 'order=1&qty=2', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(a.status).toBe(200);
    expect(echo(a)).toMatchObject({ name: 'web-1', method: 'POST', body: 'order=1&qty=2' });
  });

  it('skips a replica that refused a connection for a while, then tries it again', async () => {
    let clock = 0;
    const p = await proxy({ now: () => clock, passiveHealthMs: 2000 });
    const port = await deadPort();
    const healthy = await replica('web-1');
    const target = { taskId: 'web-0', ip: '127.0.0.1', port };
    await p.sync([{ host: 'shop.example.com', namespace: 'default', service: 'web', sessionAffinity: false, targets: [target, healthy.target] }]);
    expect((await send(p, { host: 'shop.example.com' })).status).toBe(200);

    // The replica comes back on its port, but the proxy does not try it until the time is up.
    const revived = await replica('web-0', { port });
    clock = 1999;
    for (let i = 0; i < 4; i++) expect(echo(await send(p, { host: 'shop.example.com' })).name).toBe('web-1');
    expect(revived.hits).toBe(0);
    clock = 2001;
    const names = [];
    for (let i = 0; i < 4; i++) names.push(echo(await send(p, { host: 'shop.example.com' })).name);
    expect(names.sort()).toEqual(['web-0', 'web-0', 'web-1', 'web-1']);
  });

  it('answers 503 naming the service when it has no healthy replica, or when every replica refuses', async () => {
    const p = await proxy();
    await p.sync([
      { host: 'empty.example.com', namespace: 'shop', service: 'cart', sessionAffinity: false, targets: [] },
      {
        host: 'down.example.com',
        namespace: 'shop',
        service: 'pay',
        sessionAffinity: false,
        targets: [
          { taskId: 'pay-0', ip: '127.0.0.1', port: await deadPort() },
          { taskId: 'pay-1', ip: '127.0.0.1', port: await deadPort() },
        ],
      },
    ]);
    const empty = await send(p, { host: 'empty.example.com' });
    expect(empty.status).toBe(503);
    expect(empty.headers['content-type']).toContain('application/json');
    expect(JSON.parse(empty.body)).toEqual({ error: 'ServiceUnavailable', message: 'service shop/cart has no healthy replica for host empty.example.com' });
    const down = await send(p, { host: 'down.example.com' });
    expect(down.status).toBe(503);
    expect(JSON.parse(down.body)).toEqual({
      error: 'ServiceUnavailable',
      message: 'service shop/pay has no replica accepting connections for host down.example.com: all 2 refused',
    });
  });

  it('answers 500 and stays up when trying the next replica fails in the proxy itself', async () => {
    const dead = { taskId: 'web-0', ip: '127.0.0.1', port: await deadPort() };
    const broken = { taskId: 'web-1', ip: '127.0.0.1', port: 70_000 };
    const p = await proxy();
    await p.sync([{ host: 'shop.example.com', namespace: 'default', service: 'web', sessionAffinity: false, targets: [dead, broken] }]);
    // The second try starts from the first one's error event, outside the request handler's own guard.
    expect((await send(p, { host: 'shop.example.com' })).status).toBe(500);
    expect((await send(p, { host: 'nobody.example.com' })).status).toBe(404);
  });

  it('answers 404 naming the host when no service has it', async () => {
    const p = await proxy();
    const a = await send(p, { host: 'nobody.example.com:8080' });
    expect(a.status).toBe(404);
    expect(JSON.parse(a.body)).toEqual({ error: 'NotFound', message: 'no service has ingress host nobody.example.com' });
  });

  it('passes the original Host and sets X-Forwarded-For, -Proto and -Host', async () => {
    const web = await replica('web-0');
    const p = await proxy();
    await p.sync([route('shop.example.com', [web])]);
    const plain = echo(await send(p, { host: 'shop.example.com:8443' }));
    expect(plain.headers).toMatchObject({
      host: 'shop.example.com:8443',
      'x-forwarded-for': '127.0.0.1',
      'x-forwarded-proto': 'http',
      'x-forwarded-host': 'shop.example.com:8443',
    });
    const chained = echo(await send(p, { host: 'shop.example.com', headers: { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https' } }));
    expect(chained.headers['x-forwarded-for']).toBe('203.0.113.7, 127.0.0.1');
    expect(chained.headers['x-forwarded-proto']).toBe('http');
  });

  it('drops hop-by-hop headers, including those the Connection header names', async () => {
    const web = await replica('web-0');
    const p = await proxy();
    await p.sync([route('shop.example.com', [web])]);
    const seen = echo(await send(p, { host: 'shop.example.com', headers: { connection: 'keep-alive, x-hop', 'x-hop': '1', 'x-end': '2', te: 'trailers' } })).headers;
    expect(seen['x-end']).toBe('2');
    expect(seen['x-hop']).toBeUndefined();
    expect(seen.te).toBeUndefined();
  });

  it('streams a response: the client reads the first part before the replica writes the rest', async () => {
    let clientGotFirst!: () => void;
    const firstSeen = new Promise<void>((resolve) => (clientGotFirst = resolve));
    const streaming = await replica('web-0', {
      handler: (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('first;');
        // Only once the client has the first part: a proxy that buffered would wait forever.
        void firstSeen.then(() => res.end('rest'));
      },
    });
    const p = await proxy();
    await p.sync([route('shop.example.com', [streaming])]);
    const body = await new Promise<string>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: p.port, headers: { host: 'shop.example.com' }, agent: false }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            text += chunk;
            if (text === 'first;') clientGotFirst();
          });
          res.on('end', () => resolve(text));
        })
        .on('error', reject);
    });
    expect(body).toBe('first;rest');
  });

  it('streams a request body: the replica reads the first part before the client sends the rest', async () => {
    let replicaGotFirst!: () => void;
    const firstSeen = new Promise<void>((resolve) => (replicaGotFirst = resolve));
    const upload = await replica('web-0', {
      handler: (req, res) => {
        let text = '';
        req.setEncoding('utf8');
        req.on('data', (chunk: string) => {
          text += chunk;
          if (text === 'part1;') replicaGotFirst();
        });
        req.on('end', () => res.end(`got ${text}`));
      },
    });
    const p = await proxy();
    await p.sync([route('shop.example.com', [upload])]);
    const body = await new Promise<string>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: p.port, method: 'PUT', headers: { host: 'shop.example.com' }, agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve(text));
      });
      req.on('error', reject);
      req.write('part1;');
      void firstSeen.then(() => req.end('part2'));
    });
    expect(body).toBe('got part1;part2');
  });

  it('refuses a route table with two routes for one host, and keeps the one it had', async () => {
    const [a, b] = await Promise.all([replica('a-0'), replica('b-0')]);
    const p = await proxy();
    await p.sync([route('shop.example.com', [a], false, 'a')]);
    await expect(p.sync([route('shop.example.com', [a], false, 'a'), route('Shop.example.com', [b], false, 'b')])).rejects.toThrow(
      'two routes for host shop.example.com: services default/a and default/b',
    );
    expect(echo(await send(p, { host: 'shop.example.com' })).name).toBe('a-0');
  });
});

describe('hostName', () => {
  it.each([
    ['shop.example.com', 'shop.example.com'],
    ['Shop.Example.com:8080', 'shop.example.com'],
    ['shop.example.com.', 'shop.example.com'],
    ['[::1]:8080', '[::1]'],
  ])('%s is %s', (header, expected) => {
    expect(hostName(header)).toBe(expected);
  });
});
